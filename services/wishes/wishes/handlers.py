"""Wishes' service layer: each function is one use case, run inside a unit of work.

Every change of state is one conditional ``UPDATE wishes ... WHERE id = :id AND status IN
(:sources) [AND ...] RETURNING ...``: of any number of racing calls the database lets exactly the
allowed ones through, and the rest see no row and get ``Conflict``. Nothing else is locked and
no RPC or broker call happens inside a transaction; the event goes to the outbox in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from pioneer import auth, clock, geo, ids
from pioneer.errors import Conflict, NotFound, ValidationError
from pioneer.events import WishChanged
from pioneer.kernel import RequestContext
from pioneer.paging import decode_cursor, page
from pioneer.replica import require_eligible
from pioneer.schemas import Page

from . import domain
from .models import Wish
from .schemas import ConfirmationIn, FulfillmentIn, NearbyWishOut, WishIn, WishOut

wishes_t = Wish.__table__
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
    after = decode_cursor(cursor, 1)
    if after and not isinstance(after[0], str):
        raise ValidationError("cursor", "not a cursor this service issued")
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
    after = decode_cursor(cursor, 2)
    if after and not (isinstance(after[0], (int, float)) and isinstance(after[1], str)):
        raise ValidationError("cursor", "not a cursor this service issued")
    lat, lon = near
    radius = float(radius_m if radius_m is not None else ctx.settings.DEFAULT_NEAR_RADIUS_M)
    cell = wishes_t.c.geocell
    ranges = geo.covering_ranges(lat, lon, radius)
    query = select(wishes_t.c.id, wishes_t.c.lat, wishes_t.c.lon).where(
        or_(*(and_(cell >= lo, cell < hi) for lo, hi in ranges)), *filters
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


def expire_due(ctx: RequestContext) -> int:
    """Expire published wishes past their deadline (``wish_expired``); how many were expired."""
    now = clock.utcnow()
    with ctx.read() as conn:
        due = (
            conn.execute(
                select(wishes_t.c.id)
                .where(wishes_t.c.status == domain.PUBLISHED, wishes_t.c.deadline <= now)
                .order_by(wishes_t.c.deadline)
                .limit(ctx.settings.EXPIRE_BATCH)
            )
            .scalars()
            .all()
        )
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
