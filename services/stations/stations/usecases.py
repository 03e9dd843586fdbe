"""Stations' use cases: each is a function of its command and a unit of work.

Who may call them is declared with the entrypoints and checked before they run; here are the
rules that need the stored records, the writes and their events. Data is reached only through
``uow.store`` (``store.StationsStore``), so the tests run these on a fake store.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pioneer import clock, geo, ids
from pioneer.catalog import Catalog
from pioneer.db import row_of, with_values
from pioneer.errors import Conflict, NotFound, ValidationError, WrongCity
from pioneer.event_contract import StationChanged
from pioneer.events import Event, read_data, require_reachable
from pioneer.paging import decode_id_cursor, encode_cursor, page
from pioneer.schedule import is_open_at
from pioneer.schemas import Page

from . import domain, presenters
from .schemas import (
    ActivityIn,
    ActivityOut,
    CheckinCodeOut,
    CheckinOut,
    ClaimOut,
    NearbyStationOut,
    PostIn,
    PostOut,
    StationChanges,
    StationIn,
    StationOut,
)

# ``list_stations(open_at=...)``: opening hours are rules, not columns, so a page filters a
# bounded scan of at most this many stations, read this many at a time.
OPEN_AT_SCAN_LIMIT = 5000
OPEN_AT_BATCH = 200


def _home_station(store: Any, station_id: str) -> Any:
    station = store.station(station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    if not station.home:
        raise WrongCity(station.city, "station")
    return station


# --- stations -----------------------------------------------------------------------------------


def create_station(uow: Any, catalog: Catalog, station: StationIn) -> StationOut:
    """A new station of this deployment, with its services indexed and ``station_created``."""
    catalog.require_known(station.city, "station.services", station.services)
    now = clock.utcnow()
    standard = station.standard.model_dump()
    values = {
        "id": ids.new_id(station.city, "st"),
        "city": station.city,
        "district": station.district,
        "name": station.name,
        "address": station.address,
        "kind": station.kind,
        "lat": station.location.lat,
        "lon": station.location.lon,
        "geocell": geo.geocell(station.location.lat, station.location.lon),
        "services": list(station.services),
        "opening_hours": [w.model_dump() for w in station.opening_hours],
        "standard": standard,
        "meets_standard": domain.meets_standard(standard),
        "home": True,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    with uow:
        uow.store.add_station(values)
        uow.emit("station_created", station.city, presenters.station_event(row_of(values)))
    return presenters.station_out(row_of(values))


def get_station(uow: Any, station_id: str) -> StationOut:
    with uow.reading() as store:
        row = store.station(station_id)
    if row is None:
        raise NotFound(f"no station {station_id}")
    return presenters.station_out(row)


def update_station(
    uow: Any, catalog: Catalog, station_id: str, changes: StationChanges
) -> StationOut:
    """Apply the given changes to a home station; its version grows and peers hear of it."""
    fields = changes.model_fields_set
    with uow:
        row = _home_station(uow.store, station_id)
        values: dict[str, Any] = {
            name: getattr(changes, name)
            for name in ("name", "district", "address", "kind")
            if name in fields
        }
        if "location" in fields:
            lat, lon = changes.location.lat, changes.location.lon
            values.update(lat=lat, lon=lon, geocell=geo.geocell(lat, lon))
        if "services" in fields:
            catalog.require_known(row.city, "changes.services", changes.services)
            values["services"] = list(changes.services)
        if "opening_hours" in fields:
            values["opening_hours"] = [w.model_dump() for w in changes.opening_hours]
        if "standard" in fields:
            standard = domain.merge_standard(
                row.standard, changes.standard.model_dump(exclude_unset=True)
            )
            values.update(standard=standard, meets_standard=domain.meets_standard(standard))
        values.update(version=row.version + 1, updated_at=clock.utcnow())
        uow.store.change_station(
            station_id, values, reindex=bool(fields & {"services", "location"})
        )
        changed = with_values(row, values)
        uow.emit("station_updated", row.city, presenters.station_event(changed))
    return presenters.station_out(changed)


def list_stations(
    uow: Any,
    city: str | None,
    district: str | None,
    service: str | None,
    open_at: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[StationOut]:
    """Stations in id order, filtered, paged. With ``open_at`` a page filters a bounded scan and
    the cursor resumes it, so a page may hold fewer than ``limit`` while ``next_cursor`` is set."""
    last_id = decode_id_cursor(cursor)
    with uow.reading() as store:
        if open_at is None:
            rows = store.station_page(city, district, service, last_id, limit + 1)
            items, next_cursor = page(rows, limit, lambda r: [r.id])
            return Page[StationOut](
                items=[presenters.station_out(r) for r in items], next_cursor=next_cursor
            )
        items, scanned, exhausted = [], 0, False
        while len(items) < limit and scanned < OPEN_AT_SCAN_LIMIT and not exhausted:
            batch = store.station_page(city, district, service, last_id, OPEN_AT_BATCH)
            exhausted = len(batch) < OPEN_AT_BATCH
            for row in batch:
                last_id, scanned = row.id, scanned + 1
                if is_open_at(row.opening_hours, open_at):
                    items.append(row)
                    if len(items) == limit:
                        exhausted = exhausted and row is batch[-1]
                        break
    next_cursor = None if exhausted or last_id is None else encode_cursor([last_id])
    return Page[StationOut](
        items=[presenters.station_out(r) for r in items], next_cursor=next_cursor
    )


def search_nearby(
    uow: Any,
    lat: float,
    lon: float,
    radius_m: float,
    service: str | None,
    open_at: datetime | None,
    limit: int,
) -> Page[NearbyStationOut]:
    """Stations (federated cities' too) within the circle, nearest first.

    Phase 1 reads only what ranking needs from the cells covering the circle; phase 2 reads the
    full rows of the few that are returned (the cells hold about 2.5x the circle's stations).
    """
    ranges = geo.covering_ranges(lat, lon, radius_m)
    with uow.reading() as store:
        candidates = store.stations_in_cells(ranges, service, open_at is not None)
        ranked = domain.rank_nearby(candidates, lat, lon, radius_m, open_at, limit)
        rows = store.stations_among([item.key for item in ranked])
    return Page[NearbyStationOut](
        items=[
            presenters.station_out(rows[item.key], item.distance_m)
            for item in ranked
            if item.key in rows
        ],
        next_cursor=None,
    )


def replicate_station(uow: Any, event: Event) -> None:
    """Keep a read-only copy of another deployment's station; an older version changes
    nothing (``uow`` is the event handler's, already open)."""
    data = read_data(StationChanged, event)
    held = uow.store.replica_version(data.station_id)
    if held is not None and held >= data.version:
        return
    require_reachable(data.version, held, "station")
    values = {
        "id": data.station_id,
        "city": data.city,
        "district": data.district,
        "name": data.name,
        "address": data.address,
        "kind": data.kind,
        "lat": data.location.lat,
        "lon": data.location.lon,
        "geocell": geo.geocell(data.location.lat, data.location.lon),
        "services": data.services,
        "opening_hours": data.opening_hours,
        "standard": data.standard,
        "meets_standard": data.meets_standard,
        "home": False,
        "version": data.version,
        "updated_at": clock.utcnow(),
    }
    if held is None:
        values["created_at"] = event.occurred_at
    uow.store.put_replica(values, exists=held is not None)


# --- posts --------------------------------------------------------------------------------------


def add_post(uow: Any, catalog: Catalog, station_id: str, post: PostIn) -> PostOut:
    with uow:
        station = _home_station(uow.store, station_id)
        catalog.require_known(station.city, "post.category", post.category)
        values = {
            "id": ids.new_id(station.city, "post"),
            "station_id": station.id,
            "city": station.city,
            "title": post.title,
            "category": post.category,
            "capacity": post.capacity,
            "claimed": 0,
            "created_at": clock.utcnow(),
        }
        uow.store.add_post(values)
    return presenters.post_out(row_of(values))


def list_posts(uow: Any, station_id: str, limit: int, cursor: str | None) -> Page[PostOut]:
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        _home_station(store, station_id)
        rows = store.posts_page(station_id, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[PostOut](items=[presenters.post_out(r) for r in items], next_cursor=next_cursor)


def _post(store: Any, post_id: str) -> Any:
    post = store.post(post_id)
    if post is None:
        raise NotFound(f"no post {post_id}")
    return post


def claim_post(uow: Any, post_id: str, volunteer_id: str) -> ClaimOut:
    """The volunteer holds the post: known and eligible, once, and only while there is room."""
    now = clock.utcnow()
    with uow:
        post = _post(uow.store, post_id)
        volunteer = uow.store.eligible_volunteer(volunteer_id, now)
        if not uow.store.add_claim(post_id, volunteer_id, volunteer.city, now):
            raise Conflict(f"volunteer {volunteer_id} already holds post {post_id}")
        claimed = uow.store.take_place(post_id)
        if claimed is None:
            raise Conflict(f"post {post_id} is full ({post.capacity} of {post.capacity} claimed)")
        event = presenters.claim_event(post, volunteer_id, volunteer.city, claimed)
        uow.emit("post_claimed", post.city, event)
    return presenters.post_out(post, claimed, volunteer_id)


def release_post(uow: Any, post_id: str, volunteer_id: str) -> ClaimOut:
    with uow:
        post = _post(uow.store, post_id)
        city = uow.store.remove_claim(post_id, volunteer_id)
        if city is None:
            raise Conflict(f"volunteer {volunteer_id} does not hold post {post_id}")
        claimed = uow.store.give_place_back(post_id)
        uow.emit(
            "post_released", post.city, presenters.claim_event(post, volunteer_id, city, claimed)
        )
    return presenters.post_out(post, claimed, volunteer_id)


# --- activities and check-in --------------------------------------------------------------------


def create_activity(
    uow: Any, catalog: Catalog, station_id: str, activity: ActivityIn
) -> ActivityOut:
    with uow:
        station = _home_station(uow.store, station_id)
        catalog.require_known(station.city, "activity.category", activity.category)
        values = {
            "id": ids.new_id(station.city, "act"),
            "station_id": station.id,
            "city": station.city,
            "title": activity.title,
            "category": activity.category,
            "starts_at": activity.starts_at,
            "ends_at": activity.ends_at,
            "points": activity.points,
            "capacity": activity.capacity,
            "checked_in": 0,
            "created_at": clock.utcnow(),
        }
        uow.store.add_activity(values)
        uow.emit("activity_created", station.city, presenters.activity_event(row_of(values)))
    return presenters.activity_out(row_of(values))


def _activity(store: Any, activity_id: str) -> Any:
    activity = store.activity(activity_id)
    if activity is None:
        raise NotFound(f"no activity {activity_id}")
    return activity


def issue_checkin_code(
    uow: Any, keys: dict[str, str], key_id: str, activity_id: str, valid_minutes: int
) -> CheckinCodeOut:
    """The signed text behind the activity's QR code, until the activity ends."""
    now = clock.utcnow()
    with uow.reading() as store:
        activity = _activity(store, activity_id)
    if activity.ends_at <= now:
        raise Conflict(f"activity {activity_id} has ended")
    expires_at = now + timedelta(minutes=valid_minutes)
    code = domain.sign_checkin_code(keys, key_id, activity_id, expires_at)
    return CheckinCodeOut(
        code=code, activity_id=activity_id, expires_at=expires_at.replace(microsecond=0)
    )


def check_in(
    uow: Any, keys: dict[str, str], cities: Collection[str], code: str, volunteer_id: str
) -> CheckinOut:
    """A volunteer (of any city) checks in with a genuine code: once, while there is room."""
    now = clock.utcnow()
    try:
        activity_id = domain.verify_checkin_code(keys, code, now)
    except domain.CheckinCodeError as exc:
        raise ValidationError("code", str(exc)) from None
    if not ids.is_valid(activity_id):
        raise ValidationError("code", "malformed payload")
    if ids.city_of(activity_id) not in cities:
        raise WrongCity(ids.city_of(activity_id), "activity")
    with uow:
        activity = _activity(uow.store, activity_id)
        volunteer = uow.store.eligible_volunteer(volunteer_id, now)
        hours = domain.activity_hours(activity.starts_at, activity.ends_at)
        checkin = {
            "activity_id": activity_id,
            "volunteer_id": volunteer_id,
            "volunteer_city": volunteer.city,
            "points": activity.points,
            "hours": hours,
            "checked_in_at": now,
        }
        if not uow.store.add_checkin(checkin):
            raise Conflict(f"volunteer {volunteer_id} already checked in to {activity_id}")
        if not uow.store.take_seat(activity_id):
            raise Conflict(f"activity {activity_id} is full")
        event = presenters.checkin_event(activity, volunteer_id, volunteer.city, hours, now)
        uow.emit("volunteer_checked_in", activity.city, event)
    return presenters.checkin_out(activity, volunteer_id, hours, now)
