"""The volunteers database, as the use cases need it: every statement of the service lives here.

A ``VolunteersStore`` is built over a unit of work's session (writes) or a read connection
(``uow.reading()``); both execute the same Core statements. Rows come back as SQLAlchemy rows
(attribute access); writes take plain values. A uniqueness rule (one phone per city, one
organisation team, one commitment a year) answers with a bool, not an exception. The skill
index (``volunteer_skills``) is kept in step with the volunteers here and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pioneer import bulk, geo
from pioneer.db import insert_or_ignore

from . import domain
from .models import Commitment, Complaint, Team, TeamMember, Volunteer, VolunteerSkill

volunteers_t = Volunteer.__table__
skills_t = VolunteerSkill.__table__
teams_t = Team.__table__
members_t = TeamMember.__table__
commitments_t = Commitment.__table__
complaints_t = Complaint.__table__

# Registration is the hottest write: its INSERT is built once (``insert_or_ignore``).
_ADD_VOLUNTEER = insert_or_ignore(volunteers_t, tuple(c.name for c in volunteers_t.c))
_VOLUNTEER_BY_ID = select(volunteers_t).where(volunteers_t.c.id == bindparam("volunteer_id"))
_VOLUNTEERS_AMONG = select(volunteers_t).where(
    volunteers_t.c.id.in_(bindparam("volunteer_ids", expanding=True))
)
_TEAMS_OF = (
    select(members_t.c.team_id)
    .where(members_t.c.volunteer_id == bindparam("volunteer_id"))
    .order_by(members_t.c.team_id)
)
# The partial index ``ix_volunteers_suspension_due`` is used only when the query repeats its
# condition literally (SQLite cannot match a bound parameter to an index's WHERE clause).
SUSPENDED_LITERAL = text(f"volunteers.status = '{domain.SUSPENDED}'")


def skill_rows(row: Any) -> list[dict[str, Any]]:
    """The skill index's rows of a volunteer (its city, status and place copied in)."""
    return [
        {
            "volunteer_id": row.id,
            "skill": skill,
            "city": row.city,
            "status": row.status,
            "lat": row.lat,
            "lon": row.lon,
            "geocell": row.geocell,
        }
        for skill in row.skills
    ]


@functools.cache
def _nearby_statement(by_skill: bool, cells: int, with_availability: bool) -> Any:
    """Candidates in ``cells`` geocell ranges (``geo.bind_cells``): ``(id, lat, lon[,
    availability])`` of a ``city`` and ``status`` (and ``skill``), by index range scans. Built
    once per shape: building a 16-range expression anew cost more than running it."""
    ranges = geo.cell_parameters(cells)
    if not by_skill:
        columns = [volunteers_t.c.id, volunteers_t.c.lat, volunteers_t.c.lon]
        if with_availability:
            columns.append(volunteers_t.c.availability)
        return select(*columns).where(
            geo.within_cells(
                volunteers_t.c.geocell,
                ranges,
                volunteers_t.c.city == bindparam("city"),
                volunteers_t.c.status == bindparam("status"),
            )
        )
    columns = [skills_t.c.volunteer_id.label("id"), skills_t.c.lat, skills_t.c.lon]
    query = select(*columns).where(
        geo.within_cells(
            skills_t.c.geocell,
            ranges,
            skills_t.c.city == bindparam("city"),
            skills_t.c.skill == bindparam("skill"),
            skills_t.c.status == bindparam("status"),
        )
    )
    if with_availability:
        # A per-candidate primary-key lookup, not a join: a join lets PostgreSQL's planner pick a
        # hash join over the whole volunteers table when its estimates drift.
        availability = (
            select(volunteers_t.c.availability)
            .where(volunteers_t.c.id == skills_t.c.volunteer_id)
            .scalar_subquery()
            .label("availability")
        )
        query = query.add_columns(availability)
    return query


def _nearby_values(
    city: str, skill: str | None, status: str, ranges: list[tuple[int, int]]
) -> dict[str, Any]:
    values = {"city": city, "status": status, **geo.bind_cells(ranges)}
    if skill is not None:
        values["skill"] = skill
    return values


def nearby_query(
    city: str,
    skill: str | None,
    status: str,
    ranges: list[tuple[int, int]],
    with_availability: bool,
) -> Any:
    """The statement ``nearby_candidates`` runs, with its values bound (to read its plan)."""
    statement = _nearby_statement(skill is not None, len(ranges), with_availability)
    return statement.params(_nearby_values(city, skill, status, ranges))


def by_id_query(city: str, skill: str | None, status: str) -> tuple[Any, Any]:
    """Volunteers in id order (and the key column to resume after), by an index in that order."""
    if skill is None:
        query = select(volunteers_t).where(
            volunteers_t.c.city == city, volunteers_t.c.status == status
        )
        key = volunteers_t.c.id
    else:
        query = (
            select(volunteers_t)
            .join(skills_t, skills_t.c.volunteer_id == volunteers_t.c.id)
            .where(skills_t.c.city == city, skills_t.c.skill == skill, skills_t.c.status == status)
        )
        key = skills_t.c.volunteer_id
    return query.order_by(key), key


def due_suspensions_query(now: datetime, limit: int) -> Any:
    """The suspended volunteers whose ``suspended_until`` has come, soonest first: the
    candidates for ``domain.suspension_due`` (by the partial index)."""
    return (
        select(volunteers_t.c.id)
        .where(SUSPENDED_LITERAL, volunteers_t.c.suspended_until <= now)
        .order_by(volunteers_t.c.suspended_until)
        .limit(limit)
    )


class VolunteersStore:
    """Volunteers and their skill index, teams and memberships, commitments and complaints."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a Session (unit of work) or a Connection (reads)

    # --- volunteers -----------------------------------------------------------------------------

    def volunteer(self, volunteer_id: str, for_update: bool = False) -> Any | None:
        """A volunteer, locked for the transaction with ``for_update`` (PostgreSQL; SQLite's
        writers run one at a time)."""
        query = _VOLUNTEER_BY_ID.with_for_update() if for_update else _VOLUNTEER_BY_ID
        return self.db.execute(query, {"volunteer_id": volunteer_id}).first()

    def volunteers_among(self, volunteer_ids: list[str]) -> dict[str, Any]:
        """The volunteers of ``volunteer_ids`` by id."""
        if not volunteer_ids:
            return {}
        rows = self.db.execute(_VOLUNTEERS_AMONG, {"volunteer_ids": volunteer_ids})
        return {row.id: row for row in rows}

    def add_volunteer(self, values: dict[str, Any]) -> bool:
        """Insert a volunteer and index its skills; False if its phone is taken in the city."""
        if self.db.execute(_ADD_VOLUNTEER, values).rowcount != 1:
            return False
        if values["skills"]:
            self.db.execute(insert(skills_t), skill_rows(SimpleNamespace(**values)))
        return True

    def add_volunteers(self, rows: list[dict[str, Any]]) -> None:
        """Insert many volunteers with their skills (the bulk import); a phone registered
        meanwhile fails the statement (``IntegrityError``)."""
        if not rows:
            return
        bulk.insert_rows(self.db, volunteers_t, rows)
        bulk.insert_rows(
            self.db,
            skills_t,
            [entry for row in rows for entry in skill_rows(SimpleNamespace(**row))],
        )

    def phones_registered(self, city: str, phones: list[str]) -> set[str]:
        """Which of ``phones`` are registered in ``city``."""
        query = select(volunteers_t.c.phone).where(
            volunteers_t.c.city == city, volunteers_t.c.phone.in_(phones)
        )
        return set(self.db.execute(query).scalars())

    def change_volunteer(self, volunteer_id: str, values: dict[str, Any]) -> bool:
        """Update a volunteer's columns; False (and nothing changed) if a new phone is taken in
        the city. Only a phone change can break a rule, so only it pays for a savepoint."""
        statement = update(volunteers_t).where(volunteers_t.c.id == volunteer_id).values(**values)
        if "phone" not in values:
            self.db.execute(statement)
            return True
        try:
            with self.db.begin_nested():
                self.db.execute(statement)
        except IntegrityError:
            return False
        return True

    def index_skills(self, row: Any) -> None:
        """Rewrite the volunteer's skill rows from ``row`` (as it now is)."""
        self.db.execute(delete(skills_t).where(skills_t.c.volunteer_id == row.id))
        if row.skills:
            self.db.execute(insert(skills_t), skill_rows(row))

    def index_status(self, volunteer_id: str, status: str) -> None:
        """Copy a new status into the volunteer's skill rows."""
        self.db.execute(
            update(skills_t).where(skills_t.c.volunteer_id == volunteer_id).values(status=status)
        )

    def teams_of(self, volunteer_id: str) -> list[str]:
        """The ids of the volunteer's teams (index ``ix_team_members_volunteer_id``)."""
        return list(self.db.execute(_TEAMS_OF, {"volunteer_id": volunteer_id}).scalars())

    # --- finding volunteers ---------------------------------------------------------------------

    def nearby_candidates(
        self,
        city: str,
        skill: str | None,
        status: str,
        ranges: list[tuple[int, int]],
        with_availability: bool,
    ) -> list[Any]:
        """``(id, lat, lon[, availability])`` of the volunteers in the geocell ``ranges``."""
        statement = _nearby_statement(skill is not None, len(ranges), with_availability)
        return self.db.execute(statement, _nearby_values(city, skill, status, ranges)).all()

    def volunteers_page(
        self, city: str, skill: str | None, status: str, after_id: str | None, count: int
    ) -> list[Any]:
        """Up to ``count`` volunteers after ``after_id`` in id order."""
        query, key = by_id_query(city, skill, status)
        if after_id is not None:
            query = query.where(key > after_id)
        return self.db.execute(query.limit(count)).all()

    # --- teams ----------------------------------------------------------------------------------

    def team(self, team_id: str, for_update: bool = False) -> Any | None:
        """A team, locked for the transaction with ``for_update`` (joins and leaves count)."""
        query = select(teams_t).where(teams_t.c.id == team_id)
        return self.db.execute(query.with_for_update() if for_update else query).first()

    def add_team(self, values: dict[str, Any]) -> None:
        """Insert a team."""
        self.db.execute(insert(teams_t).values(**values))

    def count_members(self, team_id: str, change: int) -> int:
        """Add ``change`` to the team's member count; the count after."""
        return self.db.execute(
            update(teams_t)
            .where(teams_t.c.id == team_id)
            .values(members=teams_t.c.members + change)
            .returning(teams_t.c.members)
        ).scalar_one()

    def memberships(self, volunteer_id: str, team_id: str) -> list[Any]:
        """``(team_id, relation)`` of the volunteer in ``team_id`` and in an organisation team."""
        return self.db.execute(
            select(members_t.c.team_id, members_t.c.relation).where(
                members_t.c.volunteer_id == volunteer_id,
                or_(members_t.c.team_id == team_id, members_t.c.relation == "organization"),
            )
        ).all()

    def add_member(self, values: dict[str, Any]) -> bool:
        """Record a membership; False if the volunteer is in the team already, or joins a
        second organisation team (``ux_team_members_one_organization``), however joins race."""
        statement = insert_or_ignore(members_t, tuple(values))
        return self.db.execute(statement, values).rowcount == 1

    def remove_member(self, team_id: str, volunteer_id: str) -> bool:
        """Drop a membership; False if there was none."""
        return bool(
            self.db.execute(
                delete(members_t).where(
                    members_t.c.team_id == team_id, members_t.c.volunteer_id == volunteer_id
                )
            ).rowcount
        )

    def members_page(self, team_id: str, after_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` members (with name and status) after ``after_id``, by volunteer id."""
        query = (
            select(
                members_t.c.team_id,
                members_t.c.volunteer_id,
                members_t.c.relation,
                members_t.c.joined_at,
                volunteers_t.c.name,
                volunteers_t.c.status,
            )
            .join(volunteers_t, volunteers_t.c.id == members_t.c.volunteer_id)
            .where(members_t.c.team_id == team_id)
            .order_by(members_t.c.volunteer_id)
            .limit(count)
        )
        if after_id is not None:
            query = query.where(members_t.c.volunteer_id > after_id)
        return self.db.execute(query).all()

    # --- commitments ----------------------------------------------------------------------------

    def add_commitment(self, values: dict[str, Any]) -> bool:
        """Record a commitment; False if the volunteer has one for that year already."""
        statement = insert_or_ignore(commitments_t, tuple(values))
        return self.db.execute(statement, values).rowcount == 1

    def commitments_page(self, city: str, year: int, after_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` commitments (with the volunteer's name) after ``after_id``."""
        query = (
            select(commitments_t, volunteers_t.c.name.label("volunteer_name"))
            .join(volunteers_t, volunteers_t.c.id == commitments_t.c.volunteer_id)
            .where(commitments_t.c.city == city, commitments_t.c.year == year)
            .order_by(commitments_t.c.id)
            .limit(count)
        )
        if after_id is not None:
            query = query.where(commitments_t.c.id > after_id)
        return self.db.execute(query).all()

    # --- complaints and suspensions -------------------------------------------------------------

    def complaint(self, complaint_id: str, for_update: bool = False) -> Any | None:
        """A complaint, locked for the transaction with ``for_update`` (it is decided once)."""
        query = select(complaints_t).where(complaints_t.c.id == complaint_id)
        return self.db.execute(query.with_for_update() if for_update else query).first()

    def add_complaint(self, values: dict[str, Any]) -> bool:
        """Record a complaint; False if one with its id exists (a retry racing the first)."""
        statement = insert_or_ignore(complaints_t, tuple(values))
        return self.db.execute(statement, values).rowcount == 1

    def change_complaint(self, complaint_id: str, values: dict[str, Any]) -> None:
        """Update a complaint's columns (its decision)."""
        self.db.execute(
            update(complaints_t).where(complaints_t.c.id == complaint_id).values(**values)
        )

    def due_suspensions(self, now: datetime, limit: int) -> list[str]:
        """The ids of up to ``limit`` suspended volunteers whose ``suspended_until`` has come."""
        return list(self.db.execute(due_suspensions_query(now, limit)).scalars())

    def lock_volunteers(self, volunteer_ids: Iterable[str]) -> list[Any]:
        """The volunteers of ``volunteer_ids`` in id order, locked; those another transaction
        holds are skipped (another replica's timer, or an admin, is changing them)."""
        return self.db.execute(
            select(volunteers_t)
            .where(volunteers_t.c.id.in_(list(volunteer_ids)))
            .order_by(volunteers_t.c.id)
            .with_for_update(skip_locked=True)
        ).all()

    # --- maintenance ----------------------------------------------------------------------------

    def refresh_statistics(self) -> None:
        """Let the query planner see the city as it now is (after a bulk import).

        Without statistics SQLite's planner reads every volunteer with a skill through the
        ``(city, skill, status)`` index instead of using the location ranges: 3x slower searches.
        """
        bind = self.db.get_bind() if isinstance(self.db, Session) else self.db
        if bind.dialect.name == "sqlite":
            self.db.execute(text("ANALYZE"))
        else:
            self.db.execute(text("ANALYZE volunteers"))
            self.db.execute(text("ANALYZE volunteer_skills"))
