"""The stations database, as the use cases need it: every statement of the service lives here.

A ``StationsStore`` is built over a unit of work's session (writes) or a read connection
(``uow.reading()``); both execute the same Core statements. Rows come back as SQLAlchemy rows
(attribute access); writes take plain values. The statements on hot paths are built once.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from pioneer import geo
from pioneer.db import insert_or_ignore
from pioneer.replica import VolunteerState, require_eligible

from .models import Activity, CheckIn, Post, PostClaim, Station, StationService

stations_t = Station.__table__
services_t = StationService.__table__
posts_t = Post.__table__
claims_t = PostClaim.__table__
activities_t = Activity.__table__
checkins_t = CheckIn.__table__

# Built once: the hottest read skips statement construction on every call.
_STATION_BY_ID = select(stations_t).where(stations_t.c.id == bindparam("station_id"))
_ADD_CLAIM = insert_or_ignore(claims_t, ("post_id", "volunteer_id", "volunteer_city", "claimed_at"))
_ADD_CHECKIN = insert_or_ignore(
    checkins_t,
    ("activity_id", "volunteer_id", "volunteer_city", "points", "hours", "checked_in_at"),
)
_POST_BY_ID = select(posts_t).where(posts_t.c.id == bindparam("post_id"))
# One more claimed place if the post has room (capacity holds however many claims race).
_TAKE_PLACE = (
    update(posts_t)
    .where(posts_t.c.id == bindparam("post_id"), posts_t.c.claimed < posts_t.c.capacity)
    .values(claimed=posts_t.c.claimed + 1)
    .returning(posts_t.c.claimed)
)
_STATIONS_AMONG = select(stations_t).where(
    stations_t.c.id.in_(bindparam("station_ids", expanding=True))
)


@functools.cache
def _nearby_query(cells: int, by_service: bool, with_hours: bool) -> Any:
    """What ranking needs, from ``cells`` geocell ranges (``geo.bind_cells``), optionally of one
    ``service``. Built once per shape: building and keying a 16-range expression anew for every
    call cost more than running it."""
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


class StationsStore:
    """Stations (own and federated replicas), their services, posts, claims, activities and
    check-ins, and the volunteer replica's eligibility check."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a Session (unit of work) or a Connection (reads)

    # --- stations -------------------------------------------------------------------------------

    def station(self, station_id: str, for_update: bool = False) -> Any | None:
        """A station (own or replica), locked for the transaction with ``for_update``."""
        query = _STATION_BY_ID.with_for_update() if for_update else _STATION_BY_ID
        return self.db.execute(query, {"station_id": station_id}).first()

    def stations_among(self, station_ids: list[str]) -> dict[str, Any]:
        """The stations of ``station_ids`` by id."""
        rows = self.db.execute(_STATIONS_AMONG, {"station_ids": station_ids})
        return {row.id: row for row in rows}

    def add_station(self, values: dict[str, Any]) -> None:
        """Insert a station and index its services."""
        self.db.execute(insert(stations_t).values(**values))
        self._index_services(values["id"], values["city"], values["geocell"], values["services"])

    def change_station(self, station_id: str, values: dict[str, Any], reindex: bool) -> None:
        """Update a station's columns; ``reindex`` when its services or place changed."""
        self.db.execute(update(stations_t).where(stations_t.c.id == station_id).values(**values))
        if reindex:
            row = self.station(station_id)
            self._index_services(row.id, row.city, row.geocell, row.services)

    def _index_services(self, station_id: str, city: str, cell: int, codes: list[str]) -> None:
        self.db.execute(delete(services_t).where(services_t.c.station_id == station_id))
        if codes:
            self.db.execute(
                insert(services_t),
                [
                    {"station_id": station_id, "service": code, "city": city, "geocell": cell}
                    for code in codes
                ],
            )

    def station_page(
        self,
        city: str | None,
        district: str | None,
        service: str | None,
        after_id: str | None,
        count: int,
    ) -> list[Any]:
        """Up to ``count`` stations after ``after_id`` in id order, filtered."""
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
        if after_id is not None:
            query = query.where(stations_t.c.id > after_id)
        return self.db.execute(query.order_by(stations_t.c.id).limit(count)).all()

    def stations_in_cells(
        self, ranges: list[tuple[int, int]], service: str | None, with_hours: bool
    ) -> list[Any]:
        """``(id, lat, lon[, opening_hours])`` of the stations in the geocell ``ranges``."""
        query = _nearby_query(len(ranges), service is not None, with_hours)
        return self.db.execute(query, {"service": service, **geo.bind_cells(ranges)}).all()

    # --- posts ----------------------------------------------------------------------------------

    def post(self, post_id: str) -> Any | None:
        return self.db.execute(_POST_BY_ID, {"post_id": post_id}).first()

    def add_post(self, values: dict[str, Any]) -> None:
        self.db.execute(insert(posts_t).values(**values))

    def posts_page(self, station_id: str, after_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` posts of a station after ``after_id``, in id order."""
        query = select(posts_t).where(posts_t.c.station_id == station_id)
        if after_id is not None:
            query = query.where(posts_t.c.id > after_id)
        return self.db.execute(query.order_by(posts_t.c.id).limit(count)).all()

    def add_claim(self, post_id: str, volunteer_id: str, city: str, at: datetime) -> bool:
        """Record the volunteer's claim; False if it already holds the post."""
        values = {"post_id": post_id, "volunteer_id": volunteer_id, "volunteer_city": city}
        return self.db.execute(_ADD_CLAIM, {**values, "claimed_at": at}).rowcount == 1

    def take_place(self, post_id: str) -> int | None:
        """One more claimed place if the post has room (the count after), else None. One
        conditional update: capacity holds however many claims race."""
        return self.db.execute(_TAKE_PLACE, {"post_id": post_id}).scalar_one_or_none()

    def remove_claim(self, post_id: str, volunteer_id: str) -> str | None:
        """Drop the volunteer's claim; the city it was claimed for, or None if there was none."""
        return self.db.execute(
            delete(claims_t)
            .where(claims_t.c.post_id == post_id, claims_t.c.volunteer_id == volunteer_id)
            .returning(claims_t.c.volunteer_city)
        ).scalar_one_or_none()

    def give_place_back(self, post_id: str) -> int:
        """One claimed place fewer; the count after."""
        return self.db.execute(
            update(posts_t)
            .where(posts_t.c.id == post_id)
            .values(claimed=posts_t.c.claimed - 1)
            .returning(posts_t.c.claimed)
        ).scalar_one()

    # --- activities and check-ins ---------------------------------------------------------------

    def activity(self, activity_id: str) -> Any | None:
        return self.db.execute(select(activities_t).where(activities_t.c.id == activity_id)).first()

    def add_activity(self, values: dict[str, Any]) -> None:
        self.db.execute(insert(activities_t).values(**values))

    def add_checkin(self, values: dict[str, Any]) -> bool:
        """Record a check-in; False if the volunteer is already checked in to the activity."""
        return self.db.execute(_ADD_CHECKIN, values).rowcount == 1

    def take_seat(self, activity_id: str) -> bool:
        """One more checked-in volunteer if the activity has room."""
        return bool(
            self.db.execute(
                update(activities_t)
                .where(
                    activities_t.c.id == activity_id,
                    activities_t.c.checked_in < activities_t.c.capacity,
                )
                .values(checked_in=activities_t.c.checked_in + 1)
            ).rowcount
        )

    # --- volunteers (the replica) ---------------------------------------------------------------

    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        """The volunteer if known and neither suspended nor removed (``NotFound``/``Suspended``)."""
        return require_eligible(self.db, volunteer_id, now)

    # --- replicas of federated cities' stations -------------------------------------------------

    def replica_version(self, station_id: str) -> int | None:
        """The version held of a station, locked: two versions handled at once must not both
        pass the version check (PostgreSQL; SQLite's write transactions run one at a time)."""
        row = self.station(station_id, for_update=True)
        return None if row is None else row.version

    def put_replica(self, values: dict[str, Any], exists: bool) -> None:
        """Write a federated station as its home deployment describes it."""
        if exists:
            self.change_station(values["id"], values, reindex=True)
        else:
            self.add_station(values)
