"""The per-skill geo index over the volunteer replica, for services that look volunteers up by
skill and place (wishes' dispatch, notify's fan-out).

One row per skill of each located, not removed volunteer, with the location and its geocell
copied in, keyed ``(volunteer_id, skill)`` and indexed on ``(skill, geocell)``: "who has this
skill near here" is one index range seek per covering cell, whatever the number of volunteers.
The index is rebuilt from the replica in the transaction that applied the volunteers' events,
so it never says more or less than the replica does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table
from sqlalchemy.orm import Session

from . import geo
from .db import NAMING_CONVENTION
from .replica import volunteer_replica

SKILL_LENGTH = 40

skills_metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _columns_v1() -> list[Column]:
    """Version 1 of the index's columns: the table below and its migration step."""
    return [
        Column("volunteer_id", String(64), nullable=False),
        Column("skill", String(SKILL_LENGTH), nullable=False),
        Column("city", String(32), nullable=False),
        Column("lat", Float, nullable=False),
        Column("lon", Float, nullable=False),
        Column("geocell", BigInteger, nullable=False),
    ]


replica_skills = Table(
    "replica_skills",
    skills_metadata,
    *_columns_v1(),
    sa.PrimaryKeyConstraint("volunteer_id", "skill"),
    sa.Index("ix_replica_skills_skill_geocell", "skill", "geocell"),
)


def create_replica_skills(op: Any) -> None:
    """Migration step for services that keep the index (version 1 of the table); fills it from
    the replica already held, so a service that adopts it loses no volunteer."""
    op.create_table(
        "replica_skills",
        *_columns_v1(),
        sa.PrimaryKeyConstraint("volunteer_id", "skill", name="pk_replica_skills"),
    )
    op.create_index("ix_replica_skills_skill_geocell", "replica_skills", ["skill", "geocell"])
    connection = op.get_bind()
    held = connection.execute(sa.select(volunteer_replica.c.volunteer_id)).scalars().all()
    for start in range(0, len(held), 1000):
        rebuild(connection, held[start : start + 1000])


_REPLICA_AMONG = sa.select(volunteer_replica).where(
    volunteer_replica.c.volunteer_id.in_(sa.bindparam("volunteer_ids", expanding=True))
)
_DELETE_AMONG = sa.delete(replica_skills).where(
    replica_skills.c.volunteer_id.in_(sa.bindparam("volunteer_ids", expanding=True))
)


def rebuild(session: Session | sa.Connection, volunteer_ids: Iterable[str]) -> None:
    """Make the index say what the replica now holds about ``volunteer_ids``. Call it in the
    transaction that applied the volunteers' events; three statements however many
    volunteers (``entries_of`` says which rows)."""
    wanted = list(dict.fromkeys(volunteer_ids))
    if not wanted:
        return
    rows = session.execute(_REPLICA_AMONG, {"volunteer_ids": wanted}).all()
    session.execute(_DELETE_AMONG, {"volunteer_ids": wanted})
    entries = entries_of(rows)
    if entries:
        session.execute(sa.insert(replica_skills), entries)


def entries_of(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """The index's rows for replica rows (attribute access): one per skill of each located
    volunteer not removed. A skill longer than the column is not indexed (nobody can ask for
    it)."""
    entries = []
    for row in rows:
        if row.status == "removed" or row.lat is None or row.lon is None:
            continue
        cell = geo.geocell(row.lat, row.lon)
        for skill in dict.fromkeys(row.skills or []):
            if isinstance(skill, str) and len(skill) <= SKILL_LENGTH:
                entries.append(
                    {
                        "volunteer_id": row.volunteer_id,
                        "skill": skill,
                        "city": row.city,
                        "lat": row.lat,
                        "lon": row.lon,
                        "geocell": cell,
                    }
                )
    return entries


@functools.cache
def near(cells: int, in_city: bool) -> sa.Subquery:
    """``(volunteer_id, lat, lon, city)`` of the indexed volunteers with the bound ``skill`` in
    ``cells`` geocell ranges (bound as ``geo.bind_cells``), of the bound ``city`` only when
    ``in_city``. One range seek on ``(skill, geocell)`` per cell; built once per shape, for the
    caller to join its own conditions to. The exact distance is the caller's."""
    index = replica_skills.c
    parts = [
        sa.select(index.volunteer_id, index.lat, index.lon, index.city).where(
            index.skill == sa.bindparam("skill"),
            index.geocell >= lo,
            index.geocell < hi,
            *([index.city == sa.bindparam("city")] if in_city else []),
        )
        for lo, hi in geo.cell_parameters(cells)
    ]
    return (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("near")


def circle(
    skill: str, lat: float, lon: float, radius_m: float, city: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The number of cell ranges that cover the circle (the ``cells`` of ``near``) and the
    values to bind ``near`` with: ``skill``, the ranges, and ``city`` when one is given."""
    ranges = geo.covering_ranges(lat, lon, radius_m)
    values: dict[str, Any] = {"skill": skill, **geo.bind_cells(ranges)}
    if city is not None:
        values["city"] = city
    return len(ranges), values
