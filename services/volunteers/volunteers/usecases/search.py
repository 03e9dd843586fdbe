"""Finding volunteers: of a city, by skill, status and availability, in id order or nearest
first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer import auth, geo
from pioneer.catalog import Catalog
from pioneer.errors import ValidationError
from pioneer.paging import decode_cursor, encode_cursor
from pioneer.schedule import is_open_at
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import FoundVolunteerOut

# ``available_at`` is a rule, not a column: an id-ordered page filters a bounded scan of at most
# this many volunteers, read this many at a time.
AVAILABLE_SCAN_LIMIT = 5000
AVAILABLE_BATCH = 500


def find_volunteers(
    uow: Any,
    catalog: Catalog,
    caller: auth.Caller,
    default_radius_m: float,
    city: str,
    skill: str | None,
    near: tuple[float, float] | None,
    radius_m: float | None,
    available_at: datetime | None,
    status: str,
    limit: int,
    cursor: str | None,
) -> Page[FoundVolunteerOut]:
    """Volunteers of ``city``: nearest first within ``radius_m`` (``default_radius_m`` without
    it) of ``near``, else in id order; phones as the caller may see them."""
    if skill is not None:
        catalog.require_known(city, "skill", [skill])
    if radius_m is not None and near is None:
        raise ValidationError("radius_m", "needs near")
    admin = presenters.sees_phones(caller, city)
    with uow.reading() as store:
        if near is not None:
            after = decode_cursor(cursor, (float, str))
            found, next_key = search_near(
                store,
                city,
                skill,
                status,
                near,
                float(radius_m or default_radius_m),
                available_at,
                limit,
                (float(after[0]), after[1]) if after else None,
            )
            rows = store.volunteers_among([f.id for f in found])
            items = [presenters.volunteer_out(rows[f.id], admin, f.distance_m) for f in found]
        else:
            after = decode_cursor(cursor, (str,))
            found_rows, next_key = search_by_id(
                store, city, skill, status, available_at, limit, after[0] if after else None
            )
            items = [presenters.volunteer_out(r, admin) for r in found_rows]
    next_cursor = encode_cursor(next_key) if next_key else None
    return Page[FoundVolunteerOut](items=items, next_cursor=next_cursor)


def search_near(
    store: Any,
    city: str,
    skill: str | None,
    status: str,
    near: tuple[float, float],
    radius_m: float,
    available_at: datetime | None,
    limit: int,
    after: tuple[float, str] | None,
) -> tuple[list[domain.Found], list[Any] | None]:
    """One page of volunteers within ``radius_m`` of ``near``, nearest first, and the key the
    next page resumes after (``None`` on the last page).

    The circle searched grows from just past the previous page until it holds a full page (or
    reaches ``radius_m``): every volunteer inside a searched circle is measured, so the page is
    exactly the next ``limit`` in (distance, id) order, and the work is proportional to how far
    the caller has paged, not to the size of the city.
    """
    lat, lon = near
    radius = domain.first_radius(after[0] if after else None, limit, radius_m)
    while True:
        ranges = geo.covering_ranges(lat, lon, radius)
        candidates = store.nearby_candidates(city, skill, status, ranges, available_at is not None)
        found = domain.measure(candidates, lat, lon, radius, after, available_at)
        if len(found) > limit or radius >= radius_m:
            break
        radius = domain.next_radius(radius, len(found), limit + 1, radius_m)
    if len(found) > limit:
        found = found[:limit]
        return found, [found[-1].distance_m, found[-1].id]
    return found, None


def search_by_id(
    store: Any,
    city: str,
    skill: str | None,
    status: str,
    available_at: datetime | None,
    limit: int,
    after_id: str | None,
) -> tuple[list[Any], list[Any] | None]:
    """One page in id order. With ``available_at`` a bounded scan is filtered and the cursor
    resumes it, so a page may hold fewer than ``limit`` items while ``next_cursor`` is set."""
    if available_at is None:
        rows = store.volunteers_page(city, skill, status, after_id, limit + 1)
        if len(rows) > limit:
            return rows[:limit], [rows[limit - 1].id]
        return rows, None
    items: list[Any] = []
    last, scanned, exhausted = after_id, 0, False
    while len(items) < limit and scanned < AVAILABLE_SCAN_LIMIT and not exhausted:
        batch = store.volunteers_page(city, skill, status, last, AVAILABLE_BATCH)
        exhausted = len(batch) < AVAILABLE_BATCH
        for row in batch:
            last, scanned = row.id, scanned + 1
            if is_open_at(row.availability or [], available_at):
                items.append(row)
                if len(items) == limit:
                    exhausted = exhausted and row is batch[-1]
                    break
    return items, (None if exhausted or last is None else [last])
