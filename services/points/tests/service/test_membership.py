"""Team membership from volunteers' events, a batch at a time (SQLite and PostgreSQL): each
volunteer takes the teams of its newest event, and an older event never overwrites a newer."""

from __future__ import annotations

from sqlalchemy import select

from pioneer import db, ids
from pioneer.db import UnitOfWork, make_engine, migrate
from pioneer.events import parse_event
from pioneer.replica import apply_volunteer_events
from pioneer.testing.fixtures import volunteer_event
from points import usecases
from points.service import PointsService
from points.store import PointsStore, members_t


def events(*changes: dict) -> list:
    return [parse_event(db.envelope("volunteer_updated", "cixi", "cixi", data)) for data in changes]


def test_a_batch_gives_each_volunteer_the_teams_of_its_newest_event(db_url):
    engine = make_engine(db_url, 2)
    try:
        migrate(engine, PointsService.migrations)
        a, b, c = (ids.new_id("cixi", "vol") for _ in range(3))
        red, blue, green = (ids.new_id("cixi", "team") for _ in range(3))

        def apply(*changes: dict) -> None:
            with UnitOfWork(engine, ["cixi"], store=PointsStore) as uow:
                batch = events(*changes)
                apply_volunteer_events(uow.session, batch)
                usecases.update_memberships(uow, batch)

        def members() -> set[tuple[str, str]]:
            table = members_t
            with engine.connect() as conn:
                rows = conn.execute(select(table.c.volunteer_id, table.c.team_id)).all()
            return {(v, t) for v, t in rows}

        # Out of order inside one batch: a's version 2 wins over its version 1; b is new;
        # c's event carries no teams (an older producer's) and leaves membership alone.
        apply(
            volunteer_event(a, version=2, teams=[red, blue]),
            volunteer_event(b, version=1, teams=[green]),
            volunteer_event(a, version=1, teams=[green]),
            volunteer_event(c, version=1),
        )
        assert members() == {(a, red), (a, blue), (b, green)}
        # A later batch: a's stale version 1 changes nothing, b leaves every team, the same
        # event delivered again changes nothing either.
        apply(
            volunteer_event(a, version=1, teams=[]),
            volunteer_event(b, version=2, teams=[]),
            volunteer_event(b, version=2, teams=[]),
        )
        assert members() == {(a, red), (a, blue)}
        apply(volunteer_event(a, version=3, teams=[blue, blue]))
        assert members() == {(a, blue)}
    finally:
        engine.dispose()
