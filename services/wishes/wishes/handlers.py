"""Wishes' service layer: each function is one use case, run inside a unit of work.

Micro-wishes first, then hotline service requests and their dispatch.

Every change of state is one conditional ``UPDATE wishes ... WHERE id = :id AND status IN
(:sources) [AND ...] RETURNING ...``: of any number of racing calls the database lets exactly the
allowed ones through, and the rest see no row and get ``Conflict``. Nothing else is locked and
no RPC or broker call happens inside a transaction; the event goes to the outbox in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import eventlet
from sqlalchemy import bindparam, exists, insert, select, update

from pioneer import auth, clock, geo, ids
from pioneer.errors import Conflict, NotFound, ValidationError
from pioneer.events import ComplaintFiled, RequestChanged, WishChanged
from pioneer.kernel import RequestContext
from pioneer.paging import decode_cursor, page
from pioneer.replica import eligible_at, rebuild_skill_index, require_eligible, volunteer_replica
from pioneer.schemas import Page

from . import domain
from .models import ComplaintDelivery, DispatchSkill, RequestOffer, ServiceRequest, Wish
from .schemas import (
    ComplaintFiledOut,
    ComplaintIn,
    CompletionIn,
    ConfirmationIn,
    FulfillmentIn,
    NearbyWishOut,
    RatingIn,
    RequestIn,
    RequestOut,
    WishIn,
    WishOut,
)

wishes_t = Wish.__table__
requests_t, offers_t, skills_t = (
    ServiceRequest.__table__,
    RequestOffer.__table__,
    DispatchSkill.__table__,
)
replica_t = volunteer_replica
complaints_t = ComplaintDelivery.__table__
# Who raises, rates and cancels hotline requests.
DISPATCHERS = frozenset({auth.ADMIN, auth.DISPATCHER, auth.SYSTEM})
# Who submits, confirms and cancels wishes for residents.
STAFF = frozenset({auth.ADMIN, auth.DISPATCHER, auth.STATION_MANAGER, auth.SYSTEM})


# --- presenting ---------------------------------------------------------------------------------


def wish_out(row: Any, caller: auth.Caller, distance_m: float | None = None) -> WishOut:
    """The wish as ``caller`` may see it: the beneficiary only for its city's admins and the
    volunteer holding it."""
    shown = domain.sees_beneficiary(
        is_city_admin=caller.is_admin and caller.covers(row.city),
        caller_volunteer=caller.sub if auth.VOLUNTEER in caller.roles else None,
        claimed_by=row.claimed_by,
        status=row.status,
    )
    data = {
        "id": row.id,
        "city": row.city,
        "status": row.status,
        "title": row.title,
        "description": row.description,
        "category": row.category,
        "location": {"lat": row.lat, "lon": row.lon},
        "deadline": row.deadline,
        "claimed_by": row.claimed_by,
        "claimed_at": row.claimed_at,
        "beneficiary": row.beneficiary if shown else None,
        "fulfillment_note": row.fulfillment_note,
        "fulfilled_at": row.fulfilled_at,
        "rating": row.rating,
        "feedback": row.feedback,
        "reason": row.reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if distance_m is None:
        return WishOut.model_validate(data)
    return NearbyWishOut.model_validate({**data, "distance_m": distance_m})


def wish_event(
    row: Any, volunteer_id: str | None = None, volunteer_city: str | None = None
) -> WishChanged:
    """Event data: the wish without its beneficiary."""
    return WishChanged(
        wish_id=row.id,
        city=row.city,
        status=row.status,
        title=row.title,
        category=row.category,
        location={"lat": row.lat, "lon": row.lon},
        deadline=row.deadline,
        volunteer_id=volunteer_id if volunteer_id is not None else row.claimed_by,
        volunteer_city=volunteer_city if volunteer_city is not None else row.claimed_by_city,
        reason=row.reason,
        rating=row.rating,
        version=row.version,
    )


# --- submitting and reviewing -------------------------------------------------------------------


def submit_wish(ctx: RequestContext, wish: WishIn) -> WishOut:
    auth.require_city(ctx.caller, wish.city, roles=STAFF)
    ctx.require_served(wish.city, "wish")
    if not ctx.catalog.knows(wish.city, wish.category):
        raise ValidationError("wish.category", f"unknown service code {wish.category!r}")
    now = clock.utcnow()
    problem = domain.check_deadline(wish.deadline, now)
    if problem:
        raise ValidationError("wish.deadline", problem)
    row = Wish(
        id=ids.new_id(wish.city, "wish"),
        city=wish.city,
        status=domain.SUBMITTED,
        title=wish.title,
        description=wish.description,
        category=wish.category,
        beneficiary=wish.beneficiary.model_dump(),
        lat=wish.location.lat,
        lon=wish.location.lon,
        geocell=geo.geocell(wish.location.lat, wish.location.lon),
        deadline=wish.deadline,
        submitted_by=ctx.caller.sub[:128],
        version=1,
        created_at=now,
        updated_at=now,
    )
    with ctx.uow() as uow:
        uow.session.add(row)
        uow.session.flush()
        uow.emit("wish_submitted", row.city, wish_event(row))
    ctx.log.info("wish_submitted", wish_id=row.id, city=row.city)
    return wish_out(row, ctx.caller)


def review_wish(ctx: RequestContext, wish_id: str, approve: bool, reason: str | None) -> WishOut:
    auth.require_city(ctx.caller, ids.city_of(wish_id), roles={auth.ADMIN})
    ctx.require_home(wish_id, "wish")
    action = domain.review_action(approve)
    now = clock.utcnow()
    where = [wishes_t.c.deadline > now] if approve else []
    with ctx.uow() as uow:
        row = _change(uow, wish_id, action, now, {"reason": reason}, where)
    return wish_out(row, ctx.caller)


# --- claiming and doing -------------------------------------------------------------------------


def claim_wish(ctx: RequestContext, wish_id: str, volunteer_id: str) -> WishOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(wish_id, "wish")
    now = clock.utcnow()
    with ctx.uow() as uow:
        volunteer = require_eligible(uow.session, volunteer_id, now)
        row = _change(
            uow,
            wish_id,
            "claim",
            now,
            {"claimed_by": volunteer_id, "claimed_by_city": volunteer.city, "claimed_at": now},
            [wishes_t.c.deadline > now],
        )
    ctx.log.info("wish_claimed", wish_id=wish_id, volunteer_id=volunteer_id)
    return wish_out(row, ctx.caller)


def release_wish(ctx: RequestContext, wish_id: str, volunteer_id: str) -> WishOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(wish_id, "wish")
    now = clock.utcnow()
    with ctx.uow() as uow:
        held_in = uow.session.execute(
            select(wishes_t.c.claimed_by_city).where(
                wishes_t.c.id == wish_id, wishes_t.c.claimed_by == volunteer_id
            )
        ).scalar_one_or_none()
        row = _change(
            uow,
            wish_id,
            "release",
            now,
            {"claimed_by": None, "claimed_by_city": None, "claimed_at": None},
            [wishes_t.c.claimed_by == volunteer_id],
            volunteer=(volunteer_id, held_in),
        )
    return wish_out(row, ctx.caller)


def fulfill_wish(
    ctx: RequestContext, wish_id: str, volunteer_id: str, fulfillment: FulfillmentIn
) -> WishOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(wish_id, "wish")
    now = clock.utcnow()
    with ctx.uow() as uow:
        row = _change(
            uow,
            wish_id,
            "fulfill",
            now,
            {"fulfillment_note": fulfillment.note, "fulfilled_at": now},
            [wishes_t.c.claimed_by == volunteer_id],
        )
    return wish_out(row, ctx.caller)


def confirm_wish(ctx: RequestContext, wish_id: str, confirmation: ConfirmationIn) -> WishOut:
    auth.require_city(ctx.caller, ids.city_of(wish_id), roles=STAFF)
    ctx.require_home(wish_id, "wish")
    now = clock.utcnow()
    with ctx.uow() as uow:
        row = _change(
            uow,
            wish_id,
            "confirm",
            now,
            {"rating": confirmation.rating, "feedback": confirmation.feedback},
        )
    return wish_out(row, ctx.caller)


def cancel_wish(ctx: RequestContext, wish_id: str, reason: str) -> WishOut:
    auth.require_city(ctx.caller, ids.city_of(wish_id), roles=STAFF)
    ctx.require_home(wish_id, "wish")
    now = clock.utcnow()
    with ctx.uow() as uow:
        row = _change(uow, wish_id, "cancel", now, {"reason": reason})
    return wish_out(row, ctx.caller)


def _change(
    uow: Any,
    wish_id: str,
    action: str,
    now: datetime,
    values: dict[str, Any],
    where: list[Any] | None = None,
    volunteer: tuple[str, str | None] | None = None,
) -> Any:
    """Apply ``action`` with one conditional update and emit its event; ``NotFound`` or
    ``Conflict`` (naming why) when no row qualifies."""
    row = uow.session.execute(
        update(wishes_t)
        .where(
            wishes_t.c.id == wish_id,
            wishes_t.c.status.in_(sorted(domain.sources(action))),
            *(where or []),
        )
        .values(
            status=domain.target(action),
            version=wishes_t.c.version + 1,
            updated_at=now,
            **values,
        )
        .returning(*wishes_t.c)
    ).first()
    if row is None:
        raise _refusal(uow, wish_id, action, now)
    volunteer_id, volunteer_city = volunteer or (None, None)
    uow.emit(domain.EVENTS[action], row.city, wish_event(row, volunteer_id, volunteer_city))
    return row


def _refusal(uow: Any, wish_id: str, action: str, now: datetime) -> Exception:
    current = uow.session.execute(
        select(wishes_t.c.status, wishes_t.c.deadline, wishes_t.c.claimed_by).where(
            wishes_t.c.id == wish_id
        )
    ).first()
    if current is None:
        return NotFound(f"no wish {wish_id}")
    if current.status not in domain.sources(action):
        return Conflict(f"wish {wish_id}: {domain.refusal(current.status, action)}")
    if action in {"claim", "approve"} and current.deadline <= now:
        return Conflict(f"wish {wish_id} is past its deadline")
    return Conflict(f"wish {wish_id} is held by another volunteer")


# --- reading ------------------------------------------------------------------------------------

_WISH_BY_ID = select(wishes_t).where(wishes_t.c.id == bindparam("wish_id"))


def get_wish(ctx: RequestContext, wish_id: str) -> WishOut:
    ctx.require_home(wish_id, "wish")
    with ctx.read() as conn:
        row = conn.execute(_WISH_BY_ID, {"wish_id": wish_id}).first()
    if row is None:
        raise NotFound(f"no wish {wish_id}")
    return wish_out(row, ctx.caller)


def list_wishes(
    ctx: RequestContext,
    city: str,
    status: str | None,
    category: str | None,
    near: tuple[float, float] | None,
    radius_m: float | None,
    limit: int,
    cursor: str | None,
) -> Page[WishOut] | Page[NearbyWishOut]:
    ctx.require_served(city, "wish")
    filters = [wishes_t.c.city == city]
    if status is not None:
        filters.append(wishes_t.c.status == status)
    if category is not None:
        filters.append(wishes_t.c.category == category)
    if near is not None:
        return _list_near(ctx, filters, near, radius_m, limit, cursor)
    if radius_m is not None:
        raise ValidationError("radius_m", "needs near")
    after = decode_cursor(cursor, (str,))
    query = select(wishes_t).where(*filters).order_by(wishes_t.c.id).limit(limit + 1)
    if after:
        query = query.where(wishes_t.c.id > after[0])
    with ctx.read() as conn:
        rows = conn.execute(query).all()
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[WishOut](items=[wish_out(r, ctx.caller) for r in items], next_cursor=next_cursor)


def _list_near(
    ctx: RequestContext,
    filters: list[Any],
    near: tuple[float, float],
    radius_m: float | None,
    limit: int,
    cursor: str | None,
) -> Page[NearbyWishOut]:
    """Wishes within the radius, ordered by ``(distance_m, id)``; the cursor is that key."""
    after = decode_cursor(cursor, (float, str))
    lat, lon = near
    radius = float(radius_m if radius_m is not None else ctx.settings.DEFAULT_NEAR_RADIUS_M)
    cell = wishes_t.c.geocell
    ranges = geo.covering_ranges(lat, lon, radius)
    query = select(wishes_t.c.id, wishes_t.c.lat, wishes_t.c.lon).where(
        geo.within_cells(cell, ranges, *filters)
    )
    with ctx.read() as conn:
        ranked = domain.rank_nearby(conn.execute(query).all(), lat, lon, radius, after)
        chosen = ranked[: limit + 1]
        rows = {
            row.id: row
            for row in conn.execute(
                select(wishes_t).where(wishes_t.c.id.in_([item[1] for item in chosen[:limit]]))
            )
        }
    items, next_cursor = page(chosen, limit, lambda item: [item[0], item[1]])
    return Page[NearbyWishOut](
        items=[wish_out(rows[wid], ctx.caller, distance) for distance, wid in items if wid in rows],
        next_cursor=next_cursor,
    )


# --- the expiry timer ---------------------------------------------------------------------------


def _due(ctx: RequestContext, key: Any, state: Any, due_at: Any, now: datetime) -> list[Any]:
    """The ``key`` of up to ``EXPIRE_BATCH`` rows in ``state`` whose ``due_at`` has passed,
    oldest first (read outside the write transaction; the update checks again)."""
    with ctx.read() as conn:
        return (
            conn.execute(
                select(key)
                .where(state, due_at <= now)
                .order_by(due_at)
                .limit(ctx.settings.EXPIRE_BATCH)
            )
            .scalars()
            .all()
        )


def expire_due(ctx: RequestContext) -> int:
    """Expire published wishes past their deadline (``wish_expired``); how many were expired."""
    now = clock.utcnow()
    due = _due(ctx, wishes_t.c.id, wishes_t.c.status == domain.PUBLISHED, wishes_t.c.deadline, now)
    if not due:
        return 0
    with ctx.uow() as uow:
        # The same conditions again: a wish claimed meanwhile is not expired.
        rows = uow.session.execute(
            update(wishes_t)
            .where(
                wishes_t.c.id.in_(due),
                wishes_t.c.status == domain.PUBLISHED,
                wishes_t.c.deadline <= now,
            )
            .values(status=domain.EXPIRED, version=wishes_t.c.version + 1, updated_at=now)
            .returning(*wishes_t.c)
        ).all()
        for row in rows:
            uow.emit("wish_expired", row.city, wish_event(row))
    if rows:
        ctx.log.info("wishes_expired", count=len(rows))
    return len(rows)


# --- service requests: presenting ---------------------------------------------------------------


def request_out(row: Any, offers: list[Any], caller: auth.Caller) -> RequestOut:
    """The request as ``caller`` may see it: the requester and address only for the city's
    admins and dispatchers and the assigned volunteer."""
    shown = domain.sees_requester(
        is_city_staff=caller.has(auth.ADMIN, auth.DISPATCHER) and caller.covers(row.city),
        caller_volunteer=caller.sub if auth.VOLUNTEER in caller.roles else None,
        assigned_to=row.assigned_to,
    )
    open_offers = [o.volunteer_id for o in offers if o.status == domain.OFFER_OPEN]
    return RequestOut.model_validate(
        {
            "id": row.id,
            "city": row.city,
            "status": row.status,
            "service": row.service,
            "urgency": row.urgency,
            "description": row.description,
            "location": {"lat": row.lat, "lon": row.lon},
            "address": row.address if shown else None,
            "requester": row.requester if shown else None,
            "offered_to": open_offers[0] if open_offers else None,
            "offers": open_offers,
            "assigned_to": row.assigned_to,
            "attempts": [
                {
                    "volunteer_id": o.volunteer_id,
                    "outcome": "offered" if o.status == domain.OFFER_OPEN else o.status,
                    "at": o.decided_at or o.offered_at,
                    "distance_m": o.distance_m,
                }
                for o in offers
            ],
            "completion_note": row.completion_note,
            "completed_at": row.completed_at,
            "rating": row.rating,
            "feedback": row.feedback,
            "reason": row.reason,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def request_event(
    row: Any,
    offers: list[Any],
    volunteer_id: str | None = None,
    volunteer_city: str | None = None,
) -> RequestChanged:
    """Event data: the request without its requester or address."""
    return RequestChanged(
        request_id=row.id,
        city=row.city,
        status=row.status,
        service=row.service,
        urgency=row.urgency,
        location={"lat": row.lat, "lon": row.lon},
        offered_to=[o.volunteer_id for o in offers if o.status == domain.OFFER_OPEN],
        volunteer_id=volunteer_id,
        volunteer_city=volunteer_city,
        attempts=len(offers),
        reason=row.reason,
        rating=row.rating,
        version=row.version,
    )


def _offers(conn: Any, request_id: str) -> list[Any]:
    return conn.execute(
        select(offers_t)
        .where(offers_t.c.request_id == request_id)
        .order_by(offers_t.c.offered_at, offers_t.c.distance_m, offers_t.c.volunteer_id)
    ).all()


def _emit_request(uow: Any, event_type: str, row: Any, **volunteer: Any) -> None:
    uow.emit(event_type, row.city, request_event(row, _offers(uow.session, row.id), **volunteer))


def _unassigned_counter(ctx: RequestContext) -> Any:
    metrics = ctx.kernel.metrics
    counter = metrics.__dict__.get("_requests_unassigned")
    if counter is None:
        counter = metrics.counter(
            "pioneer_requests_unassigned_total",
            "Service requests left unassigned: no eligible volunteer left in the service circle",
            ["city"],
        )
        metrics.__dict__["_requests_unassigned"] = counter
    return counter


# --- the dispatch index (kept from the volunteer replica) ---------------------------------------


def rebuild_dispatch_skills(uow: Any, volunteer_ids: list[str]) -> None:
    """Make ``dispatch_skills`` say what the replica now holds about ``volunteer_ids``."""
    rebuild_skill_index(uow.session, skills_t, volunteer_ids)


# --- dispatch -----------------------------------------------------------------------------------


def _dispatch(ctx: RequestContext, uow: Any, request: Any, now: datetime) -> Any:
    """Offer ``request`` (new, or dispatched with no open offer) to the nearest eligible
    candidates not tried yet, or leave it unassigned; the request row as it now is."""
    minutes, speed = ctx.settings.circle(request.city)
    radius = domain.service_circle_m(minutes, speed)
    cell = skills_t.c.geocell
    busy = exists().where(
        requests_t.c.assigned_to == skills_t.c.volunteer_id,
        requests_t.c.status == domain.R_ACCEPTED,
    )
    tried = exists().where(
        offers_t.c.request_id == request.id, offers_t.c.volunteer_id == skills_t.c.volunteer_id
    )
    eligible = eligible_at(now)
    query = (
        select(skills_t.c.volunteer_id, skills_t.c.lat, skills_t.c.lon, replica_t.c.city)
        .join(replica_t, replica_t.c.volunteer_id == skills_t.c.volunteer_id)
        .where(
            geo.within_cells(
                cell,
                geo.covering_ranges(request.lat, request.lon, radius),
                skills_t.c.skill == request.service,
            ),
            eligible,
            ~busy,
            ~tried,
        )
    )
    chosen = domain.choose_candidates(
        uow.session.execute(query).all(),
        request.lat,
        request.lon,
        radius,
        set(),
        domain.offers_at_once(request.urgency),
    )
    action = "offer" if chosen else "exhaust"
    if chosen:
        expires = now + timedelta(seconds=ctx.settings.OFFER_TIMEOUT_S)
        uow.session.execute(
            insert(offers_t),
            [
                {
                    "request_id": request.id,
                    "volunteer_id": row.volunteer_id,
                    "volunteer_city": row.city,
                    "status": domain.OFFER_OPEN,
                    "distance_m": distance,
                    "offered_at": now,
                    "expires_at": expires,
                }
                for distance, row in chosen
            ],
        )
    row = uow.session.execute(
        update(requests_t)
        .where(
            requests_t.c.id == request.id,
            requests_t.c.status.in_(sorted(domain.request_sources(action))),
        )
        .values(
            status=domain.REQUEST_TRANSITIONS[action][1],
            version=requests_t.c.version + 1,
            updated_at=now,
        )
        .returning(*requests_t.c)
    ).first()
    _emit_request(uow, domain.REQUEST_EVENTS[action], row)
    if not chosen:
        _unassigned_counter(ctx).labels(ctx.kernel.metrics.service, row.city).inc()
        ctx.log.warning("request_unassigned", request_id=row.id, city=row.city)
    return row


def _locked_request(uow: Any, request_id: str) -> Any:
    """The request row, locked for this transaction (PostgreSQL; SQLite writers run one at a
    time): decisions about its offers are taken one after another."""
    row = uow.session.execute(
        select(requests_t).where(requests_t.c.id == request_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no request {request_id}")
    return row


def _has_open_offer(uow: Any, request_id: str) -> bool:
    return (
        uow.session.execute(
            select(offers_t.c.volunteer_id)
            .where(offers_t.c.request_id == request_id, offers_t.c.status == domain.OFFER_OPEN)
            .limit(1)
        ).first()
        is not None
    )


# --- service requests: use cases ----------------------------------------------------------------


def raise_request(ctx: RequestContext, request: RequestIn) -> RequestOut:
    auth.require_city(ctx.caller, request.city, roles=DISPATCHERS)
    ctx.require_served(request.city, "request")
    if not ctx.catalog.knows(request.city, request.service):
        raise ValidationError("request.service", f"unknown service code {request.service!r}")
    now = clock.utcnow()
    row = ServiceRequest(
        id=ids.new_id(request.city, "req"),
        city=request.city,
        status=domain.R_NEW,
        service=request.service,
        urgency=request.urgency,
        description=request.description,
        address=request.address,
        requester=request.requester.model_dump(),
        lat=request.location.lat,
        lon=request.location.lon,
        raised_by=ctx.caller.sub[:128],
        version=1,
        created_at=now,
        updated_at=now,
    )
    with ctx.uow() as uow:
        uow.session.add(row)
        uow.session.flush()
        _emit_request(uow, "request_raised", row)
        current = _dispatch(ctx, uow, row, now)
        offers = _offers(uow.session, row.id)
    ctx.log.info("request_raised", request_id=row.id, city=row.city, status=current.status)
    return request_out(current, offers, ctx.caller)


def accept_request(ctx: RequestContext, request_id: str, volunteer_id: str) -> RequestOut:
    """Only a volunteer holding an open offer may accept; in an emergency the first wins and
    the other offers are withdrawn."""
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        volunteer = require_eligible(uow.session, volunteer_id, now)
        # One acceptance at a time per volunteer (PostgreSQL): two offers accepted at once
        # must not both pass the busy check. Lock order: volunteer, then request.
        uow.session.execute(
            select(replica_t.c.volunteer_id)
            .where(replica_t.c.volunteer_id == volunteer_id)
            .with_for_update()
        )
        request = _locked_request(uow, request_id)
        taken = uow.session.execute(
            update(offers_t)
            .where(
                offers_t.c.request_id == request_id,
                offers_t.c.volunteer_id == volunteer_id,
                offers_t.c.status == domain.OFFER_OPEN,
                offers_t.c.expires_at > now,
            )
            .values(status=domain.OFFER_ACCEPTED, decided_at=now)
        ).rowcount
        if not taken:
            raise Conflict(f"volunteer {volunteer_id} holds no open offer for {request_id}")
        if _busy_elsewhere(uow, volunteer_id, request_id):
            raise Conflict(f"volunteer {volunteer_id} is busy with another request")
        row = _change_request(
            uow,
            request,
            "accept",
            now,
            {"assigned_to": volunteer_id, "assigned_city": volunteer.city},
        )
        uow.session.execute(
            update(offers_t)
            .where(offers_t.c.request_id == request_id, offers_t.c.status == domain.OFFER_OPEN)
            .values(status=domain.OFFER_WITHDRAWN, decided_at=now)
        )
        _emit_request(
            uow, "request_accepted", row, volunteer_id=volunteer_id, volunteer_city=volunteer.city
        )
        offers = _offers(uow.session, request_id)
    return request_out(row, offers, ctx.caller)


def _busy_elsewhere(uow: Any, volunteer_id: str, request_id: str) -> bool:
    return (
        uow.session.execute(
            select(requests_t.c.id)
            .where(
                requests_t.c.assigned_to == volunteer_id,
                requests_t.c.status == domain.R_ACCEPTED,
                requests_t.c.id != request_id,
            )
            .limit(1)
        ).first()
        is not None
    )


def decline_request(ctx: RequestContext, request_id: str, volunteer_id: str) -> RequestOut:
    """Decline an open offer; with no other offer open the request moves to the next candidates
    (or becomes unassigned)."""
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        request = _locked_request(uow, request_id)
        offer_city = uow.session.execute(
            update(offers_t)
            .where(
                offers_t.c.request_id == request_id,
                offers_t.c.volunteer_id == volunteer_id,
                offers_t.c.status == domain.OFFER_OPEN,
            )
            .values(status=domain.OFFER_DECLINED, decided_at=now)
            .returning(offers_t.c.volunteer_city)
        ).scalar_one_or_none()
        if offer_city is None:
            raise Conflict(f"volunteer {volunteer_id} holds no open offer for {request_id}")
        _emit_request(
            uow, "request_declined", request, volunteer_id=volunteer_id, volunteer_city=offer_city
        )
        if request.status == domain.R_DISPATCHED and not _has_open_offer(uow, request_id):
            request = _dispatch(ctx, uow, request, now)
        offers = _offers(uow.session, request_id)
    return request_out(request, offers, ctx.caller)


def expire_offers(ctx: RequestContext) -> int:
    """Time out open offers past ``OFFER_TIMEOUT_S`` and move their requests on; how many."""
    now = clock.utcnow()
    due = _due(
        ctx,
        offers_t.c.request_id,
        offers_t.c.status == domain.OFFER_OPEN,
        offers_t.c.expires_at,
        now,
    )
    timed_out = 0
    for request_id in dict.fromkeys(due):
        with ctx.uow() as uow:
            request = _locked_request(uow, request_id)
            count = uow.session.execute(
                update(offers_t)
                .where(
                    offers_t.c.request_id == request_id,
                    offers_t.c.status == domain.OFFER_OPEN,
                    offers_t.c.expires_at <= now,
                )
                .values(status=domain.OFFER_TIMED_OUT, decided_at=now)
            ).rowcount
            timed_out += count
            moves_on = count and request.status == domain.R_DISPATCHED
            if moves_on and not _has_open_offer(uow, request_id):
                _dispatch(ctx, uow, request, now)
    return timed_out


def complete_request(
    ctx: RequestContext, request_id: str, volunteer_id: str, completion: CompletionIn
) -> RequestOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        request = _locked_request(uow, request_id)
        if request.status == domain.R_ACCEPTED and request.assigned_to != volunteer_id:
            raise Conflict(f"request {request_id} is assigned to another volunteer")
        row, offers = _record_work(
            uow,
            request,
            "complete",
            "request_completed",
            now,
            {"completion_note": completion.note, "completed_at": now},
        )
    return request_out(row, offers, ctx.caller)


def rate_request(ctx: RequestContext, request_id: str, rating: RatingIn) -> RequestOut:
    auth.require_city(ctx.caller, ids.city_of(request_id), roles=DISPATCHERS)
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        request = _locked_request(uow, request_id)
        row, offers = _record_work(
            uow,
            request,
            "rate",
            "request_rated",
            now,
            {"rating": rating.rating, "feedback": rating.feedback},
        )
    return request_out(row, offers, ctx.caller)


def _record_work(
    uow: Any, request: Any, action: str, event_type: str, now: datetime, values: dict[str, Any]
) -> tuple[Any, list[Any]]:
    """A change about the assigned volunteer's work (completed, rated): the conditional update
    and its event naming whoever did the work, so points credits that volunteer's home city."""
    row = _change_request(uow, request, action, now, values)
    _emit_request(
        uow, event_type, row, volunteer_id=row.assigned_to, volunteer_city=row.assigned_city
    )
    return row, _offers(uow.session, request.id)


def cancel_request(ctx: RequestContext, request_id: str, reason: str) -> RequestOut:
    auth.require_city(ctx.caller, ids.city_of(request_id), roles=DISPATCHERS)
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        request = _locked_request(uow, request_id)
        row = _change_request(uow, request, "cancel", now, {"reason": reason})
        uow.session.execute(
            update(offers_t)
            .where(offers_t.c.request_id == request_id, offers_t.c.status == domain.OFFER_OPEN)
            .values(status=domain.OFFER_WITHDRAWN, decided_at=now)
        )
        _emit_request(uow, "request_cancelled", row)
        offers = _offers(uow.session, request_id)
    return request_out(row, offers, ctx.caller)


def _change_request(
    uow: Any, request: Any, action: str, now: datetime, values: dict[str, Any]
) -> Any:
    """The conditional update of ``action``; ``Conflict`` naming the state otherwise."""
    row = uow.session.execute(
        update(requests_t)
        .where(
            requests_t.c.id == request.id,
            requests_t.c.status.in_(sorted(domain.request_sources(action))),
        )
        .values(
            status=domain.REQUEST_TRANSITIONS[action][1],
            version=requests_t.c.version + 1,
            updated_at=now,
            **values,
        )
        .returning(*requests_t.c)
    ).first()
    if row is None:
        try:
            domain.request_transition(request.status, action)
        except domain.TransitionNotAllowed as exc:
            raise Conflict(f"request {request.id}: {exc}") from None
        raise Conflict(f"request {request.id} changed meanwhile")
    return row


_REQUEST_BY_ID = select(requests_t).where(requests_t.c.id == bindparam("request_id"))


def get_request(ctx: RequestContext, request_id: str) -> RequestOut:
    ctx.require_home(request_id, "request")
    with ctx.read() as conn:
        row = conn.execute(_REQUEST_BY_ID, {"request_id": request_id}).first()
        if row is None:
            raise NotFound(f"no request {request_id}")
        offers = _offers(conn, request_id)
    return request_out(row, offers, ctx.caller)


def list_requests(
    ctx: RequestContext, city: str, status: str | None, limit: int, cursor: str | None
) -> Page[RequestOut]:
    ctx.require_served(city, "request")
    after = decode_cursor(cursor, (str,))
    query = select(requests_t).where(requests_t.c.city == city)
    if status is not None:
        query = query.where(requests_t.c.status == status)
    if after:
        query = query.where(requests_t.c.id > after[0])
    query = query.order_by(requests_t.c.id).limit(limit + 1)
    with ctx.read() as conn:
        rows, next_cursor = page(conn.execute(query).all(), limit, lambda r: [r.id])
        offers: dict[str, list[Any]] = {r.id: [] for r in rows}
        if rows:
            for offer in conn.execute(
                select(offers_t)
                .where(offers_t.c.request_id.in_(list(offers)))
                .order_by(offers_t.c.offered_at, offers_t.c.distance_m, offers_t.c.volunteer_id)
            ):
                offers[offer.request_id].append(offer)
    return Page[RequestOut](
        items=[request_out(r, offers[r.id], ctx.caller) for r in rows], next_cursor=next_cursor
    )


# --- complaints ---------------------------------------------------------------------------------

# ``send(volunteer_id, {"reason", "source"}, complaint_id)``: the RPC to volunteers'
# ``record_complaint``, made by the service (with a timeout) outside any transaction.
Send = Callable[[str, dict[str, str], str], Any]


def complain(
    ctx: RequestContext, request_id: str, complaint: ComplaintIn, send: Send
) -> ComplaintFiledOut:
    """File a complaint against the request's assigned volunteer: kept here first (with
    ``complaint_filed``), then recorded in volunteers now or, if that fails, by the timer."""
    auth.require_city(ctx.caller, ids.city_of(request_id), roles=DISPATCHERS)
    ctx.require_home(request_id, "request")
    now = clock.utcnow()
    with ctx.uow() as uow:
        request = _locked_request(uow, request_id)
        if request.status not in domain.COMPLAINABLE or request.assigned_to is None:
            raise Conflict(f"request {request_id} has no assigned volunteer to complain about")
        volunteer_city = request.assigned_city or ids.city_of(request.assigned_to)
        complaint_id = ids.new_id(ids.city_of(request.assigned_to), "cmp")
        uow.session.execute(
            insert(complaints_t).values(
                complaint_id=complaint_id,
                request_id=request_id,
                city=request.city,
                volunteer_id=request.assigned_to,
                reason=complaint.reason,
                status=domain.COMPLAINT_PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        uow.emit(
            "complaint_filed",
            request.city,
            ComplaintFiled(
                complaint_id=complaint_id,
                request_id=request_id,
                city=request.city,
                volunteer_id=request.assigned_to,
                volunteer_city=volunteer_city,
            ),
        )
        pending = uow.session.execute(
            select(complaints_t).where(complaints_t.c.complaint_id == complaint_id)
        ).one()
    deliver_complaint(ctx, pending, send)
    return ComplaintFiledOut(complaint_id=complaint_id)


def deliver_complaint(ctx: RequestContext, pending: Any, send: Send) -> bool:
    """One attempt to record ``pending`` in volunteers; on failure the next is scheduled."""
    error = None
    try:
        with eventlet.Timeout(ctx.settings.RPC_TIMEOUT_S):
            send(
                pending.volunteer_id,
                {"reason": pending.reason[:2000], "source": f"request:{pending.request_id}"},
                pending.complaint_id,
            )
    except eventlet.Timeout:
        error = f"volunteers did not answer within {ctx.settings.RPC_TIMEOUT_S} s"
    except Exception as exc:  # the broker, volunteers down, or its refusal: retried later
        error = f"{type(exc).__name__}: {exc}"[:500]
    now = clock.utcnow()
    with ctx.uow() as uow:
        if error is None:
            uow.session.execute(
                update(complaints_t)
                .where(
                    complaints_t.c.complaint_id == pending.complaint_id,
                    complaints_t.c.status == domain.COMPLAINT_PENDING,
                )
                .values(
                    status=domain.COMPLAINT_DELIVERED,
                    attempts=complaints_t.c.attempts + 1,
                    delivered_at=now,
                    last_error=None,
                )
            )
        else:
            attempts = pending.attempts + 1
            uow.session.execute(
                update(complaints_t)
                .where(
                    complaints_t.c.complaint_id == pending.complaint_id,
                    complaints_t.c.status == domain.COMPLAINT_PENDING,
                )
                .values(
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=domain.redelivery_delay_s(attempts)),
                    last_error=error,
                )
            )
    if error is not None:
        ctx.log.warning("complaint_delivery_failed", complaint_id=pending.complaint_id, error=error)
    return error is None


def deliver_pending_complaints(ctx: RequestContext, send: Send, batch: int = 50) -> int:
    """Retry the complaints volunteers has not recorded yet; how many were delivered now."""
    now = clock.utcnow()
    with ctx.read() as conn:
        due = conn.execute(
            select(complaints_t)
            .where(
                complaints_t.c.status == domain.COMPLAINT_PENDING,
                complaints_t.c.next_attempt_at <= now,
            )
            .order_by(complaints_t.c.next_attempt_at)
            .limit(batch)
        ).all()
    return sum(deliver_complaint(ctx, pending, send) for pending in due)
