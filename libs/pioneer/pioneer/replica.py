"""A local replica of volunteers, fed by the volunteers service's events.

Stations, wishes and the others decide "known, active, not suspended" from this table without
asking the volunteers service, so a claim storm never waits on another service. Each event
carries the volunteer's ``version``; an older event never overwrites a newer state, so
redelivered or reordered events are harmless. A suspension whose ``suspended_until`` has passed
counts as over even before the ``volunteer_reinstated`` event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table
from sqlalchemy.orm import Session

from . import clock
from .batching import batch_event_handler
from .db import NAMING_CONVENTION, UtcDateTime
from .entrypoints import event_handler
from .errors import NotFound, Suspended
from .event_contract import VolunteerChanged
from .events import Event, read_data, require_reachable
from .standing import effective_status

# How long a replica's batch of registrations or profile changes waits for more to join it:
# replicas follow "within a couple of seconds", and at a steady few hundred a second this
# turns batches of one or two into batches of fifty or more, so the four services that keep
# a replica spend their time on the events, not on a transaction, a commit and a log line
# per batch (0.05 s took a third more of their CPU per registration).
REPLICA_LINGER_S = 0.2

replica_metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _replica_columns_v1() -> list[Column]:
    """Version 1 of the replica's columns: the table below and its migration step, until a
    later version changes the table (then the migration keeps this one)."""
    return [
        Column("volunteer_id", String(64), nullable=False),
        Column("city", String(32), nullable=False),
        Column("status", String(16), nullable=False),
        Column("suspended_until", UtcDateTime, nullable=True),
        Column("skills", JSON, nullable=False),
        Column("lat", Float, nullable=True),
        Column("lon", Float, nullable=True),
        Column("version", Integer, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    ]


volunteer_replica = Table(
    "volunteer_replica",
    replica_metadata,
    *_replica_columns_v1(),
    sa.PrimaryKeyConstraint("volunteer_id"),
)


def create_volunteer_replica(op: Any) -> None:
    """Migration step for services that keep the replica (version 1 of the table)."""
    op.create_table(
        "volunteer_replica",
        *_replica_columns_v1(),
        sa.PrimaryKeyConstraint("volunteer_id", name="pk_volunteer_replica"),
    )


@dataclass(frozen=True)
class VolunteerState:
    volunteer_id: str
    city: str
    status: str
    suspended_until: datetime | None
    skills: list[str]


def eligible_at(now: datetime) -> sa.ColumnElement[bool]:
    """``effective_status(...) == "active"`` as SQL over ``volunteer_replica``, for queries that
    pick volunteers (dispatch, notification fan-out)."""
    replica = volunteer_replica.c
    return sa.or_(
        replica.status == "active",
        sa.and_(replica.status == "suspended", replica.suspended_until <= now),
    )


_REPLICA_COLUMNS = [c.name for c in volunteer_replica.c]
# Insert, or update only if the event's version is newer than the stored one (atomic, so
# events of one volunteer on separate queues cannot overwrite a newer state). Written out once:
# SQLAlchemy compiles its dialects' ON CONFLICT constructs anew on every execution.
_UPSERT_NEWER = sa.text(
    f"INSERT INTO volunteer_replica ({', '.join(_REPLICA_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _REPLICA_COLUMNS)})"
    " ON CONFLICT (volunteer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _REPLICA_COLUMNS if c != "volunteer_id")
    + " WHERE volunteer_replica.version < excluded.version"
).bindparams(*(sa.bindparam(c.name, type_=c.type) for c in volunteer_replica.c))


def apply_volunteer_events(session: Session, events: list[Event]) -> list[str]:
    """Fold ``volunteer_*`` events into the replica, in order (one statement); their volunteers'
    ids. An event older than what the replica holds changes nothing."""
    now = clock.utcnow()
    changes = [read_data(VolunteerChanged, event) for event in events]
    held = _held_versions(session, [data.volunteer_id for data in changes])
    rows = []
    for data in changes:
        require_reachable(data.version, held.get(data.volunteer_id), "volunteer")
        rows.append(
            {
                "volunteer_id": data.volunteer_id,
                "city": data.city,
                "status": data.status,
                "suspended_until": data.suspended_until,
                "skills": data.skills,
                "lat": data.location.lat if data.location else None,
                "lon": data.location.lon if data.location else None,
                "version": data.version,
                "updated_at": now,
            }
        )
    if rows:
        # In key order, so concurrent batches lock rows in one order (no deadlocks on
        # PostgreSQL); the version guard makes the order of one volunteer's events irrelevant.
        ordered = sorted(rows, key=lambda row: (row["volunteer_id"], row["version"]))
        session.execute(_UPSERT_NEWER, ordered)
    return [row["volunteer_id"] for row in rows]


_VERSIONS_AMONG = sa.select(volunteer_replica.c.volunteer_id, volunteer_replica.c.version).where(
    volunteer_replica.c.volunteer_id.in_(sa.bindparam("volunteer_ids", expanding=True))
)


def _held_versions(session: Session, volunteer_ids: list[str]) -> dict[str, int]:
    wanted = sorted(set(volunteer_ids))
    return dict(session.execute(_VERSIONS_AMONG, {"volunteer_ids": wanted}).all())


def apply_volunteer_event(session: Session, event: Event) -> str:
    """Fold one ``volunteer_*`` event into the replica; the volunteer's id."""
    return apply_volunteer_events(session, [event])[0]


_HELD_VERSION = (
    sa.select(volunteer_replica.c.version)
    .where(volunteer_replica.c.volunteer_id == sa.bindparam("volunteer_id"))
    .with_for_update()
)


def is_newer(version: int, held: int | None) -> bool:
    """The replica's rule: an event applies only if its version is newer than the one held."""
    return held is None or version > held


def apply_newer(session: Session, event: Event) -> tuple[str, bool]:
    """Fold one ``volunteer_*`` event into the replica: the volunteer's id, and whether the
    event was newer than what the replica held (so it changed something). The held row is
    locked first (PostgreSQL), so two events of one volunteer handled at once on separate
    queues decide one after the other."""
    data = read_data(VolunteerChanged, event)
    held = session.execute(_HELD_VERSION, {"volunteer_id": data.volunteer_id}).scalar()
    return apply_volunteer_event(session, event), is_newer(data.version, held)


# Built once: every claim and check-in asks it.
_VOLUNTEER_BY_ID = sa.select(volunteer_replica).where(
    volunteer_replica.c.volunteer_id == sa.bindparam("volunteer_id")
)


def get_volunteer(session: Session, volunteer_id: str) -> VolunteerState | None:
    """The replica's state of the volunteer, or None if it holds none."""
    row = session.execute(_VOLUNTEER_BY_ID, {"volunteer_id": volunteer_id}).first()
    if row is None:
        return None
    return VolunteerState(
        row.volunteer_id, row.city, row.status, row.suspended_until, list(row.skills or [])
    )


def require_eligible(
    session: Session, volunteer_id: str, now: datetime | None = None
) -> VolunteerState:
    """The volunteer, if known and neither suspended nor removed (``NotFound`` / ``Suspended``)."""
    return eligible(get_volunteer(session, volunteer_id), volunteer_id, now)


def eligible(
    state: VolunteerState | None, volunteer_id: str, now: datetime | None = None
) -> VolunteerState:
    """``state`` if the volunteer is known and neither suspended nor removed at ``now``;
    ``NotFound`` or ``Suspended`` otherwise (the rule ``require_eligible`` applies)."""
    if state is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    status = effective_status(state.status, state.suspended_until, now or clock.utcnow())
    if status == "removed":
        raise Suspended(f"volunteer {volunteer_id} has been removed")
    if status == "suspended":
        until = clock.iso(state.suspended_until) if state.suspended_until else "further notice"
        raise Suspended(f"volunteer {volunteer_id} is suspended until {until}")
    return state


class VolunteerReplicaHandlers:
    """Mix into a service to keep ``volunteer_replica`` current from volunteers' events.

    A service that derives more from the replica (wishes' dispatch index, notify's directory,
    points' team membership) overrides ``replica_changed``; it runs in the same transaction,
    after the events were folded in (or found older than what the replica holds).
    """

    def replica_changed(self, uow: Any, volunteer_ids: list[str], events: list[Event]) -> None:
        """Called after ``events`` (of ``volunteer_ids``) are applied; does nothing unless
        overridden."""

    # Registrations and profile changes come in bursts (a city's import is one registration
    # per row): taken in batches. Discipline events are rare and stay one by one.
    @batch_event_handler("volunteers", "volunteer_registered", linger_s=REPLICA_LINGER_S)
    def on_volunteer_registered(self, uow: Any, events: list[Event]) -> None:
        self.replica_changed(uow, apply_volunteer_events(uow.session, events), events)

    @batch_event_handler("volunteers", "volunteer_updated", linger_s=REPLICA_LINGER_S)
    def on_volunteer_updated(self, uow: Any, events: list[Event]) -> None:
        self.replica_changed(uow, apply_volunteer_events(uow.session, events), events)

    @event_handler("volunteers", "volunteer_suspended")
    def on_volunteer_suspended(self, uow: Any, event: Event) -> None:
        self.replica_changed(uow, [apply_volunteer_event(uow.session, event)], [event])

    @event_handler("volunteers", "volunteer_reinstated")
    def on_volunteer_reinstated(self, uow: Any, event: Event) -> None:
        self.replica_changed(uow, [apply_volunteer_event(uow.session, event)], [event])

    @event_handler("volunteers", "volunteer_removed")
    def on_volunteer_removed(self, uow: Any, event: Event) -> None:
        self.replica_changed(uow, [apply_volunteer_event(uow.session, event)], [event])
