"""The volunteer replica applied in batches, on SQLite and PostgreSQL: one statement for a batch
of events, newer versions win whatever the order, and a skill index rebuilt for many at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pioneer import db, ids, replica_skills
from pioneer.events import Event
from pioneer.replica import (
    apply_newer,
    apply_volunteer_events,
    replica_metadata,
    volunteer_replica,
)
from pioneer.replica_skills import skills_metadata

skills_index = replica_skills.replica_skills


def event(volunteer_id: str, version: int, status: str = "active", **data) -> Event:
    body = {
        "volunteer_id": volunteer_id,
        "city": "cixi",
        "version": version,
        "status": status,
        "skills": ["haircut", "repair"],
        "location": {"lat": 30.17, "lon": 121.27},
        **data,
    }
    return Event.model_validate(db.envelope("volunteer_updated", "cixi", "cixi", body))


def test_a_batch_applies_in_order_and_newer_versions_win(db_url):
    engine = db.make_engine(db_url, 2)
    try:
        replica_metadata.create_all(engine)
        skills_metadata.create_all(engine)
        a, b, c = (ids.new_id("cixi", "vol") for _ in range(3))
        with Session(engine) as session, session.begin():
            applied = apply_volunteer_events(
                session,
                [
                    event(a, 2, skills=["haircut"]),
                    event(a, 1, status="removed"),  # older: changes nothing
                    event(b, 1),
                    event(b, 3, status="removed"),
                    event(c, 1, location=None),
                ],
            )
            assert applied == [a, a, b, b, c]
            replica_skills.rebuild(session, applied)
        with engine.connect() as conn:
            held = {
                row.volunteer_id: (row.version, row.status)
                for row in conn.execute(select(volunteer_replica))
            }
            assert held == {a: (2, "active"), b: (3, "removed"), c: (1, "active")}
            indexed = conn.execute(select(skills_index.c.volunteer_id, skills_index.c.skill)).all()
            # Removed (b) and unlocated (c) volunteers are not in the index.
            assert sorted(indexed) == [(a, "haircut")]
        with Session(engine) as session, session.begin():
            replica_skills.rebuild(session, apply_volunteer_events(session, [event(c, 2)]))
        with engine.connect() as conn:
            assert sorted(
                conn.execute(
                    select(skills_index.c.skill).where(skills_index.c.volunteer_id == c)
                ).scalars()
            ) == ["haircut", "repair"]
    finally:
        engine.dispose()


def test_a_single_event_says_whether_it_was_newer(db_url):
    engine = db.make_engine(db_url, 2)
    try:
        replica_metadata.create_all(engine)
        volunteer_id = ids.new_id("cixi", "vol")
        outcomes = []
        for version in (2, 1, 2, 3):  # new, older, a repeat, newer
            with Session(engine) as session, session.begin():
                outcomes.append(apply_newer(session, event(volunteer_id, version)))
        assert [newer for _, newer in outcomes] == [True, False, False, True]
        with engine.connect() as conn:
            assert conn.execute(select(volunteer_replica.c.version)).scalar_one() == 3
    finally:
        engine.dispose()


def test_the_migration_step_fills_the_index_from_the_replica_held(db_url):
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from pioneer.replica_skills import create_replica_skills

    engine = db.make_engine(db_url, 2)
    try:
        replica_metadata.create_all(engine)
        a, b, c = (ids.new_id("cixi", "vol") for _ in range(3))
        with Session(engine) as session, session.begin():
            apply_volunteer_events(
                session,
                [event(a, 1), event(b, 1, status="removed"), event(c, 1, location=None)],
            )
        with engine.begin() as conn:
            create_replica_skills(Operations(MigrationContext.configure(conn)))
        with engine.connect() as conn:
            indexed = conn.execute(select(skills_index.c.volunteer_id, skills_index.c.skill)).all()
        # What the replica held is indexed; removed (b) and unlocated (c) volunteers are not.
        assert sorted(indexed) == [(a, "haircut"), (a, "repair")]
    finally:
        engine.dispose()
