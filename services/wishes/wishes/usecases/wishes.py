"""Micro-wishes: submitted, reviewed, claimed exactly once, fulfilled, confirmed, cancelled,
expired; read one at a time, by city, or nearby.

A change reads the wish locked for its transaction, asks the domain whether the action is
allowed (``domain.refusal_of``: the state, then the action's conditions), and applies it with
the store's conditional update built from the same declaration. The lock makes racing calls
decide one after another, so of any number of concurrent claims exactly one wins and every
other is refused from what it read, with no second query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer import auth, clock, geo, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, Forbidden, NotFound, ValidationError
from pioneer.paging import decode_cursor, decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import ConfirmationIn, FulfillmentIn, NearbyWishOut, WishIn, WishOut


def submit_wish(uow: Any, catalog: Catalog, caller: auth.Caller, wish: WishIn) -> WishOut:
    """A new wish (``submitted``), announced without its beneficiary (``wish_submitted``)."""
    catalog.require_known(wish.city, "wish.category", wish.category)
    now = clock.utcnow()
    problem = domain.check_deadline(wish.deadline, now)
    if problem:
        raise ValidationError("wish.deadline", problem)
    values = dict(
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
        submitted_by=caller.sub[:128],
        version=1,
        created_at=now,
        updated_at=now,
    )
    with uow:
        row = uow.store.add_wish(values)
        uow.emit("wish_submitted", row.city, presenters.wish_event(row))
    return presenters.wish_out(row, caller)


def review_wish(
    uow: Any, caller: auth.Caller, wish_id: str, approve: bool, reason: str | None
) -> WishOut:
    """Publish (while its deadline is ahead) or reject a submitted wish."""
    now = clock.utcnow()
    with uow:
        row = _change(uow, wish_id, domain.review_action(approve), now, {"reason": reason})
    return presenters.wish_out(row, caller)


def claim_wish(uow: Any, caller: auth.Caller, wish_id: str, volunteer_id: str) -> WishOut:
    """The volunteer (eligible in the replica, of any city) holds a published wish whose
    deadline is ahead; the first of any number of racing claims, and only it."""
    now = clock.utcnow()
    with uow:
        volunteer = uow.store.eligible_volunteer(volunteer_id, now)
        claim = {"claimed_by": volunteer_id, "claimed_by_city": volunteer.city, "claimed_at": now}
        row = _change(uow, wish_id, "claim", now, claim)
    return presenters.wish_out(row, caller)


def release_wish(uow: Any, caller: auth.Caller, wish_id: str, volunteer_id: str) -> WishOut:
    """The volunteer holding the wish gives it back (``published`` again); the event names
    that volunteer and its city."""
    now = clock.utcnow()
    cleared = {"claimed_by": None, "claimed_by_city": None, "claimed_at": None}
    with uow:
        row = _change(uow, wish_id, "release", now, cleared, actor=volunteer_id)
    return presenters.wish_out(row, caller)


def fulfill_wish(
    uow: Any, caller: auth.Caller, wish_id: str, volunteer_id: str, fulfillment: FulfillmentIn
) -> WishOut:
    """The volunteer holding the wish reports it done."""
    now = clock.utcnow()
    done = {"fulfillment_note": fulfillment.note, "fulfilled_at": now}
    with uow:
        row = _change(uow, wish_id, "fulfill", now, done, actor=volunteer_id)
    return presenters.wish_out(row, caller)


def confirm_wish(
    uow: Any, caller: auth.Caller, wish_id: str, confirmation: ConfirmationIn
) -> WishOut:
    """A fulfilled wish is closed with a rating; ``wish_closed`` credits its volunteer."""
    now = clock.utcnow()
    rated = {"rating": confirmation.rating, "feedback": confirmation.feedback}
    with uow:
        row = _change(uow, wish_id, "confirm", now, rated)
    return presenters.wish_out(row, caller)


def cancel_wish(uow: Any, caller: auth.Caller, wish_id: str, reason: str) -> WishOut:
    """A wish not yet fulfilled is cancelled, with the reason."""
    now = clock.utcnow()
    with uow:
        row = _change(uow, wish_id, "cancel", now, {"reason": reason})
    return presenters.wish_out(row, caller)


def _change(
    uow: Any,
    wish_id: str,
    action: str,
    now: datetime,
    values: dict[str, Any],
    actor: str | None = None,
) -> Any:
    """``action`` on the wish by ``actor``, inside ``uow``, and its event; the wish as it now
    is. ``NotFound``, or ``Conflict`` saying why the rule refuses (nothing is written then)."""
    before = uow.store.wish(wish_id, for_update=True)
    if before is None:
        raise NotFound(f"no wish {wish_id}")
    refusal = domain.refusal_of(action, before, now, actor)
    if refusal is not None:
        raise Conflict(refusal)
    row = uow.store.change_wish(wish_id, action, now, values, actor)
    if row is None:  # the lock holds the wish still, so only a store without one gets here
        raise Conflict(f"wish {wish_id} changed meanwhile")
    # The event names the volunteer holding the wish, or the one who held it until now.
    event = presenters.wish_event(row, before.claimed_by, before.claimed_by_city)
    uow.emit(domain.EVENTS[action], row.city, event)
    return row


# --- reading ------------------------------------------------------------------------------------


def get_wish(uow: Any, caller: auth.Caller, wish_id: str) -> WishOut:
    """One wish, as the caller may see it."""
    with uow.reading() as store:
        row = store.wish(wish_id)
    if row is None:
        raise NotFound(f"no wish {wish_id}")
    if caller.volunteer_only and not domain.volunteer_reads_wish(
        caller.sub, row.status, row.claimed_by
    ):
        raise Forbidden(f"a volunteer token reads {domain.VOLUNTEER_WISHES}")
    return presenters.wish_out(row, caller)


def list_wishes(
    uow: Any,
    caller: auth.Caller,
    city: str,
    status: str | None,
    category: str | None,
    near: tuple[float, float] | None,
    radius_m: float | None,
    default_radius_m: float,
    limit: int,
    cursor: str | None,
) -> Page[WishOut] | Page[NearbyWishOut]:
    """Wishes of a city by status and category in id order; with ``near``, those within
    ``radius_m`` (``default_radius_m`` if not given), nearest first. Paged by keyset. A
    volunteer's own token lists published wishes only."""
    if caller.volunteer_only:
        if status not in (None, domain.PUBLISHED):
            raise Forbidden(f"a volunteer token lists published wishes only, not {status}")
        status = domain.PUBLISHED
    if near is not None:
        radius = float(radius_m if radius_m is not None else default_radius_m)
        return _list_near(uow, caller, city, status, category, near, radius, limit, cursor)
    if radius_m is not None:
        raise ValidationError("radius_m", "needs near")
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.wish_page(city, status, category, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[WishOut](
        items=[presenters.wish_out(r, caller) for r in items], next_cursor=next_cursor
    )


def _list_near(
    uow: Any,
    caller: auth.Caller,
    city: str,
    status: str | None,
    category: str | None,
    near: tuple[float, float],
    radius_m: float,
    limit: int,
    cursor: str | None,
) -> Page[NearbyWishOut]:
    """Wishes within the radius, ordered by ``(distance_m, id)``; the cursor is that key.

    Ranking reads only ids and places from the cells covering the circle; the full rows are
    read for the page alone."""
    after = decode_cursor(cursor, (float, str))
    lat, lon = near
    ranges = geo.covering_ranges(lat, lon, radius_m)
    with uow.reading() as store:
        candidates = store.wishes_in_cells(ranges, city, status, category)
        chosen = domain.rank_nearby(candidates, lat, lon, radius_m, after, limit=limit + 1)
        rows = store.wishes_among([wish_id for _, wish_id in chosen[:limit]])
    items, next_cursor = page(chosen, limit, lambda item: [item[0], item[1]])
    return Page[NearbyWishOut](
        items=[
            presenters.wish_out(rows[wish_id], caller, distance)
            for distance, wish_id in items
            if wish_id in rows
        ],
        next_cursor=next_cursor,
    )


# --- the expiry timer ---------------------------------------------------------------------------


def expire_due(uow: Any, batch: int) -> int:
    """Expire up to ``batch`` wishes the ``expire`` rule allows now (``wish_expired``); how
    many were expired. They are found outside the write transaction; the update checks the
    rule again, so a wish claimed meanwhile is not expired."""
    now = clock.utcnow()
    with uow.reading() as store:
        due = store.overdue_wishes(now, batch)
    if not due:
        return 0
    with uow:
        rows = uow.store.expire_wishes(due, now)
        for row in rows:
            uow.emit(domain.EVENTS["expire"], row.city, presenters.wish_event(row))
    return len(rows)
