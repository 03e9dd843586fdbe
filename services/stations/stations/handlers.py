"""Stations' service layer: each function is one use case, run inside a unit of work.

Entrypoints hand over the request context (caller, settings, units of work); these functions
check who may do it, apply the domain rules and write the change with its event atomically.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from pioneer import auth, clock, geo, ids
from pioneer.errors import Conflict, NotFound, ValidationError, WrongCity
from pioneer.events import (
    ActivityCreated,
    Event,
    PostClaimChanged,
    StationChanged,
    VolunteerCheckedIn,
    read_data,
)
from pioneer.kernel import RequestContext
from pioneer.paging import decode_id_cursor, encode_cursor, page
from pioneer.replica import require_eligible
from pioneer.schedule import is_open_at
from pioneer.schemas import Page

from . import domain
from .models import Activity, CheckIn, Post, PostClaim, Station, StationService
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

MANAGERS = {auth.ADMIN, auth.STATION_MANAGER}
stations_t, services_t, posts_t, claims_t = (
    Station.__table__,
    StationService.__table__,
    Post.__table__,
    PostClaim.__table__,
)
activities_t = Activity.__table__
OPEN_AT_SCAN_LIMIT = 5000
OPEN_AT_BATCH = 200


# --- presenting ---------------------------------------------------------------------------------


def station_out(row: Any, distance_m: float | None = None) -> StationOut:
    data = {
        "id": row.id,
        "name": row.name,
        "city": row.city,
        "district": row.district,
        "address": row.address,
        "location": {"lat": row.lat, "lon": row.lon},
        "kind": row.kind,
        "services": row.services,
        "opening_hours": row.opening_hours,
        "standard": row.standard,
        "meets_standard": row.meets_standard,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if distance_m is None:
        return StationOut.model_validate(data)
    return NearbyStationOut.model_validate({**data, "distance_m": distance_m})


def post_out(row: Any, claimed: int | None = None, volunteer_id: str | None = None) -> PostOut:
    """The post; ``claimed`` overrides the row's count when the row was read before a change."""
    claimed = row.claimed if claimed is None else claimed
    data = {
        "id": row.id,
        "station_id": row.station_id,
        "city": row.city,
        "title": row.title,
        "category": row.category,
        "capacity": row.capacity,
        "claimed": claimed,
        "available": row.capacity - claimed,
        "created_at": row.created_at,
    }
    return (
        ClaimOut.model_validate({**data, "volunteer_id": volunteer_id})
        if volunteer_id
        else PostOut.model_validate(data)
    )


def activity_out(row: Any) -> ActivityOut:
    return ActivityOut.model_validate(row, from_attributes=True)


def station_event(row: Station) -> StationChanged:
    return StationChanged(
        station_id=row.id,
        city=row.city,
        name=row.name,
        district=row.district,
        address=row.address,
        location={"lat": row.lat, "lon": row.lon},
        kind=row.kind,
        services=row.services,
        opening_hours=row.opening_hours,
        standard=row.standard,
        meets_standard=row.meets_standard,
        version=row.version,
    )


# --- checks -------------------------------------------------------------------------------------


def require_known_codes(ctx: RequestContext, city: str, codes: list[str], field: str) -> None:
    """Every code must be in the city's service catalog."""
    for index, code in enumerate(codes):
        if not ctx.catalog.knows(city, code):
            name = f"{field}.{index}" if len(codes) > 1 or field.endswith("services") else field
            raise ValidationError(name, f"unknown service code {code!r}")


def require_manager(ctx: RequestContext, city: str) -> None:
    auth.require_city(ctx.caller, city, roles=MANAGERS)


def _home_station(uow: Any, station_id: str) -> Station:
    station = uow.session.get(Station, station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    if not station.home:
        raise WrongCity(station.city, "station")
    return station


# --- stations -----------------------------------------------------------------------------------


def create_station(ctx: RequestContext, station: StationIn) -> StationOut:
    auth.require_city(ctx.caller, station.city, roles={auth.ADMIN})
    ctx.require_served(station.city, "station")
    require_known_codes(ctx, station.city, station.services, "station.services")
    now = clock.utcnow()
    standard = station.standard.model_dump()
    row = Station(
        id=ids.new_id(station.city, "st"),
        city=station.city,
        district=station.district,
        name=station.name,
        address=station.address,
        kind=station.kind,
        lat=station.location.lat,
        lon=station.location.lon,
        geocell=geo.geocell(station.location.lat, station.location.lon),
        services=list(station.services),
        opening_hours=[w.model_dump() for w in station.opening_hours],
        standard=standard,
        meets_standard=domain.meets_standard(standard),
        home=True,
        version=1,
        created_at=now,
        updated_at=now,
    )
    with ctx.uow() as uow:
        uow.session.add(row)
        _write_services(uow, row)
        uow.emit("station_created", row.city, station_event(row))
    ctx.log.info("station_created", station_id=row.id, city=row.city)
    return station_out(row)


def _write_services(uow: Any, row: Station) -> None:
    uow.session.flush()
    uow.session.execute(delete(services_t).where(services_t.c.station_id == row.id))
    if row.services:
        uow.session.execute(
            insert(services_t),
            [
                {"station_id": row.id, "service": code, "city": row.city, "geocell": row.geocell}
                for code in row.services
            ],
        )


# Built once: the hottest read skips statement construction on every call.
_STATION_BY_ID = select(stations_t).where(stations_t.c.id == bindparam("station_id"))


def get_station(ctx: RequestContext, station_id: str) -> StationOut:
    with ctx.read() as conn:
        row = conn.execute(_STATION_BY_ID, {"station_id": station_id}).first()
    if row is None:
        raise NotFound(f"no station {station_id}")
    return station_out(row)


def update_station(ctx: RequestContext, station_id: str, changes: StationChanges) -> StationOut:
    city = ids.city_of(station_id)
    require_manager(ctx, city)
    ctx.require_home(station_id, "station")
    with ctx.uow() as uow:
        row = _home_station(uow, station_id)
        fields = changes.model_fields_set
        for name in ("name", "district", "address", "kind"):
            if name in fields:
                setattr(row, name, getattr(changes, name))
        if "location" in fields:
            row.lat, row.lon = changes.location.lat, changes.location.lon
            row.geocell = geo.geocell(row.lat, row.lon)
        if "services" in fields:
            require_known_codes(ctx, row.city, changes.services, "changes.services")
            row.services = list(changes.services)
        if "opening_hours" in fields:
            row.opening_hours = [w.model_dump() for w in changes.opening_hours]
        if "standard" in fields:
            row.standard = domain.merge_standard(
                row.standard, changes.standard.model_dump(exclude_unset=True)
            )
            row.meets_standard = domain.meets_standard(row.standard)
        row.version += 1
        row.updated_at = clock.utcnow()
        if fields & {"services", "location"}:
            _write_services(uow, row)
        uow.emit("station_updated", row.city, station_event(row))
    return station_out(row)


def list_stations(
    ctx: RequestContext,
    city: str | None,
    district: str | None,
    service: str | None,
    open_at: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[StationOut]:
    last_id = decode_id_cursor(cursor)
    query = select(stations_t)
    if service is not None:
        query = query.join(services_t, services_t.c.station_id == stations_t.c.id).where(
            services_t.c.service == service
        )
        if city is not None:
            query = query.where(services_t.c.city == city)
    if city is not None:
        query = query.where(stations_t.c.city == city)
    if district is not None:
        query = query.where(stations_t.c.district == district)
    query = query.order_by(stations_t.c.id)

    def rows_after(key: str | None, count: int) -> list[Any]:
        q = query.limit(count) if key is None else query.where(stations_t.c.id > key).limit(count)
        return conn.execute(q).all()

    with ctx.read() as conn:
        if open_at is None:
            items, next_cursor = page(rows_after(last_id, limit + 1), limit, lambda r: [r.id])
            return Page[StationOut](items=[station_out(r) for r in items], next_cursor=next_cursor)
        # Opening hours are rules, not columns: filter a bounded scan and let the cursor resume it,
        # so a page may hold fewer than ``limit`` items while ``next_cursor`` is not null.
        items, scanned, exhausted = [], 0, False
        while len(items) < limit and scanned < OPEN_AT_SCAN_LIMIT and not exhausted:
            batch = rows_after(last_id, OPEN_AT_BATCH)
            exhausted = len(batch) < OPEN_AT_BATCH
            for row in batch:
                last_id, scanned = row.id, scanned + 1
                if is_open_at(row.opening_hours, open_at):
                    items.append(row)
                    if len(items) == limit:
                        exhausted = exhausted and row is batch[-1]
                        break
    next_cursor = None if exhausted or last_id is None else encode_cursor([last_id])
    return Page[StationOut](items=[station_out(r) for r in items], next_cursor=next_cursor)


@functools.cache
def _nearby_query(cells: int, by_service: bool, with_hours: bool) -> Any:
    """Phase 1 of ``search_nearby``: what ranking needs, from ``cells`` geocell ranges
    (``geo.bind_cells``), optionally of one ``service``. Built once per shape: building and
    keying a 16-range expression anew for every call cost more than running it."""
    columns = [stations_t.c.id, stations_t.c.lat, stations_t.c.lon]
    if with_hours:
        columns.append(stations_t.c.opening_hours)
    if by_service:
        query = select(*columns).join(services_t, services_t.c.station_id == stations_t.c.id)
        return query.where(
            geo.within_cells(
                services_t.c.geocell,
                geo.cell_parameters(cells),
                services_t.c.service == bindparam("service"),
            )
        )
    return select(*columns).where(
        geo.within_cells(stations_t.c.geocell, geo.cell_parameters(cells))
    )


_STATIONS_AMONG = select(stations_t).where(
    stations_t.c.id.in_(bindparam("station_ids", expanding=True))
)


def search_nearby(
    ctx: RequestContext,
    lat: float,
    lon: float,
    radius_m: float,
    service: str | None,
    open_at: datetime | None,
    limit: int,
) -> Page[NearbyStationOut]:
    ranges = geo.covering_ranges(lat, lon, radius_m)
    # Phase 1 reads only what ranking needs from the cells covering the circle; phase 2 reads the
    # full rows of the few that are returned (the cells hold about 2.5x the circle's stations).
    query = _nearby_query(len(ranges), service is not None, open_at is not None)
    params = {"service": service, **geo.bind_cells(ranges)}
    with ctx.read() as conn:
        ranked = domain.rank_nearby(
            conn.execute(query, params).all(), lat, lon, radius_m, open_at, limit
        )
        wanted = [item.row.id for item in ranked]
        rows = {row.id: row for row in conn.execute(_STATIONS_AMONG, {"station_ids": wanted})}
    return Page[NearbyStationOut](
        items=[
            station_out(rows[item.row.id], item.distance_m)
            for item in ranked
            if item.row.id in rows
        ],
        next_cursor=None,
    )


def replicate_station(ctx: RequestContext, uow: Any, event: Event) -> None:
    """Keep a read-only copy of another deployment's station (federated cities); the service
    skips its own stations' events before a transaction starts."""
    data = read_data(StationChanged, event)
    # Locked: two versions handled at once must not both pass the version check (PostgreSQL;
    # SQLite's IMMEDIATE write transactions already run one at a time).
    row = uow.session.get(Station, data.station_id, with_for_update=True)
    if row is not None and row.version >= data.version:
        return
    now = clock.utcnow()
    if row is None:
        row = Station(id=data.station_id, home=False, created_at=event.occurred_at)
        uow.session.add(row)
    row.city, row.district, row.name, row.address, row.kind = (
        data.city,
        data.district,
        data.name,
        data.address,
        data.kind,
    )
    row.lat, row.lon = data.location.lat, data.location.lon
    row.geocell = geo.geocell(row.lat, row.lon)
    row.services, row.opening_hours, row.standard = data.services, data.opening_hours, data.standard
    row.meets_standard, row.version, row.updated_at = data.meets_standard, data.version, now
    _write_services(uow, row)


# --- posts --------------------------------------------------------------------------------------


def add_post(ctx: RequestContext, station_id: str, post: PostIn) -> PostOut:
    require_manager(ctx, ids.city_of(station_id))
    ctx.require_home(station_id, "station")
    with ctx.uow() as uow:
        station = _home_station(uow, station_id)
        require_known_codes(ctx, station.city, [post.category], "post.category")
        row = Post(
            id=ids.new_id(station.city, "post"),
            station_id=station.id,
            city=station.city,
            title=post.title,
            category=post.category,
            capacity=post.capacity,
            claimed=0,
            created_at=clock.utcnow(),
        )
        uow.session.add(row)
    return post_out(row)


def list_posts(
    ctx: RequestContext, station_id: str, limit: int, cursor: str | None
) -> Page[PostOut]:
    after = decode_id_cursor(cursor)
    with ctx.read() as conn:
        station = conn.execute(
            select(stations_t.c.city, stations_t.c.home).where(stations_t.c.id == station_id)
        ).first()
        if station is None:
            raise NotFound(f"no station {station_id}")
        if not station.home:
            raise WrongCity(station.city, "station")
        query = (
            select(posts_t)
            .where(posts_t.c.station_id == station_id)
            .order_by(posts_t.c.id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(posts_t.c.id > after)
        rows = conn.execute(query).all()
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[PostOut](items=[post_out(r) for r in items], next_cursor=next_cursor)


def _volunteer_city_check(ctx: RequestContext, volunteer_id: str) -> None:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))


def claim_post(ctx: RequestContext, post_id: str, volunteer_id: str) -> ClaimOut:
    _volunteer_city_check(ctx, volunteer_id)
    ctx.require_home(post_id, "post")
    with ctx.uow() as uow:
        post = uow.session.execute(select(posts_t).where(posts_t.c.id == post_id)).first()
        if post is None:
            raise NotFound(f"no post {post_id}")
        volunteer = require_eligible(uow.session, volunteer_id)
        with uow.conflict_on(Conflict(f"volunteer {volunteer_id} already holds post {post_id}")):
            uow.session.execute(
                insert(claims_t).values(
                    post_id=post_id,
                    volunteer_id=volunteer_id,
                    volunteer_city=volunteer.city,
                    claimed_at=clock.utcnow(),
                )
            )
        # The capacity rule is one conditional update: it holds however many claims race.
        claimed = uow.session.execute(
            update(posts_t)
            .where(posts_t.c.id == post_id, posts_t.c.claimed < posts_t.c.capacity)
            .values(claimed=posts_t.c.claimed + 1)
            .returning(posts_t.c.claimed)
        ).scalar_one_or_none()
        if claimed is None:
            raise Conflict(f"post {post_id} is full ({post.capacity} of {post.capacity} claimed)")
        uow.emit(
            "post_claimed",
            post.city,
            PostClaimChanged(
                post_id=post_id,
                station_id=post.station_id,
                volunteer_id=volunteer_id,
                volunteer_city=volunteer.city,
                claimed=claimed,
                capacity=post.capacity,
            ),
        )
    return post_out(post, claimed, volunteer_id)


def release_post(ctx: RequestContext, post_id: str, volunteer_id: str) -> ClaimOut:
    _volunteer_city_check(ctx, volunteer_id)
    ctx.require_home(post_id, "post")
    with ctx.uow() as uow:
        post = uow.session.execute(select(posts_t).where(posts_t.c.id == post_id)).first()
        if post is None:
            raise NotFound(f"no post {post_id}")
        released = uow.session.execute(
            delete(claims_t)
            .where(claims_t.c.post_id == post_id, claims_t.c.volunteer_id == volunteer_id)
            .returning(claims_t.c.volunteer_city)
        ).scalar_one_or_none()
        if released is None:
            raise Conflict(f"volunteer {volunteer_id} does not hold post {post_id}")
        claimed = uow.session.execute(
            update(posts_t)
            .where(posts_t.c.id == post_id)
            .values(claimed=posts_t.c.claimed - 1)
            .returning(posts_t.c.claimed)
        ).scalar_one()
        uow.emit(
            "post_released",
            post.city,
            PostClaimChanged(
                post_id=post_id,
                station_id=post.station_id,
                volunteer_id=volunteer_id,
                volunteer_city=released,
                claimed=claimed,
                capacity=post.capacity,
            ),
        )
    return post_out(post, claimed, volunteer_id)


# --- activities and check-in --------------------------------------------------------------------


def create_activity(ctx: RequestContext, station_id: str, activity: ActivityIn) -> ActivityOut:
    require_manager(ctx, ids.city_of(station_id))
    ctx.require_home(station_id, "station")
    with ctx.uow() as uow:
        station = _home_station(uow, station_id)
        require_known_codes(ctx, station.city, [activity.category], "activity.category")
        row = Activity(
            id=ids.new_id(station.city, "act"),
            station_id=station.id,
            city=station.city,
            title=activity.title,
            category=activity.category,
            starts_at=activity.starts_at,
            ends_at=activity.ends_at,
            points=activity.points,
            capacity=activity.capacity,
            checked_in=0,
            created_at=clock.utcnow(),
        )
        uow.session.add(row)
        uow.emit(
            "activity_created",
            row.city,
            ActivityCreated(
                activity_id=row.id,
                station_id=row.station_id,
                title=row.title,
                category=row.category,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                points=row.points,
                capacity=row.capacity,
            ),
        )
    return activity_out(row)


def issue_checkin_code(ctx: RequestContext, activity_id: str, valid_minutes: int) -> CheckinCodeOut:
    require_manager(ctx, ids.city_of(activity_id))
    ctx.require_home(activity_id, "activity")
    now = clock.utcnow()
    with ctx.read() as conn:
        activity = conn.execute(
            select(activities_t).where(activities_t.c.id == activity_id)
        ).first()
    if activity is None:
        raise NotFound(f"no activity {activity_id}")
    if activity.ends_at <= now:
        raise Conflict(f"activity {activity_id} has ended")
    keys, key_id = ctx.settings.checkin_keys()
    expires_at = now + timedelta(minutes=valid_minutes)
    code = domain.sign_checkin_code(keys, key_id, activity_id, expires_at)
    return CheckinCodeOut(
        code=code, activity_id=activity_id, expires_at=expires_at.replace(microsecond=0)
    )


def check_in(ctx: RequestContext, code: str, volunteer_id: str) -> CheckinOut:
    _volunteer_city_check(ctx, volunteer_id)
    keys, _ = ctx.settings.checkin_keys()
    now = clock.utcnow()
    try:
        activity_id = domain.verify_checkin_code(keys, code, now)
    except domain.CheckinCodeError as exc:
        raise ValidationError("code", str(exc)) from None
    if not ids.is_valid(activity_id):
        raise ValidationError("code", "malformed payload")
    ctx.require_home(activity_id, "activity")
    with ctx.uow() as uow:
        activity = uow.session.execute(
            select(activities_t).where(activities_t.c.id == activity_id)
        ).first()
        if activity is None:
            raise NotFound(f"no activity {activity_id}")
        volunteer = require_eligible(uow.session, volunteer_id)
        hours = domain.activity_hours(activity.starts_at, activity.ends_at)
        duplicate = Conflict(f"volunteer {volunteer_id} already checked in to {activity_id}")
        with uow.conflict_on(duplicate):
            uow.session.execute(
                insert(CheckIn.__table__).values(
                    activity_id=activity_id,
                    volunteer_id=volunteer_id,
                    volunteer_city=volunteer.city,
                    points=activity.points,
                    hours=hours,
                    checked_in_at=now,
                )
            )
        filled = uow.session.execute(
            update(activities_t)
            .where(
                activities_t.c.id == activity_id,
                activities_t.c.checked_in < activities_t.c.capacity,
            )
            .values(checked_in=activities_t.c.checked_in + 1)
        ).rowcount
        if not filled:
            raise Conflict(f"activity {activity_id} is full")
        uow.emit(
            "volunteer_checked_in",
            activity.city,
            VolunteerCheckedIn(
                activity_id=activity_id,
                station_id=activity.station_id,
                volunteer_id=volunteer_id,
                volunteer_city=volunteer.city,
                hours=hours,
                points=activity.points,
                checked_in_at=now,
            ),
        )
    return CheckinOut(
        activity_id=activity_id,
        station_id=activity.station_id,
        volunteer_id=volunteer_id,
        points=activity.points,
        hours=hours,
        checked_in_at=now,
    )
