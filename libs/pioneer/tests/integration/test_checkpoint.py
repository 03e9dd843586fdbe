"""``UnitOfWork.checkpoint`` on SQLite and PostgreSQL: work committed in parts, each part with
its events, the processed-event record only with the last part; a unit of work that dies after
a part leaves its event unprocessed; one that finds the event finished meanwhile stops."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, insert, select
from widgets import Seen, WidgetService

from pioneer import db
from pioneer.db import AlreadyProcessed, UnitOfWork, make_engine, migrate, read_engine

seen = Seen.__table__


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url, 4)
    migrate(engine, WidgetService.migrations)
    yield engine
    engine.dispose()


def count(engine, table, *where) -> int:
    # Read as the service's reads are (SQLite: no BEGIN), beside the unit of work's writer.
    with read_engine(engine).connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def processed(engine, event_id: str) -> int:
    return count(engine, db.processed_events, db.processed_events.c.event_id == event_id)


def write(uow: UnitOfWork, name: str) -> None:
    uow.session.execute(insert(seen).values(event_id=str(uuid.uuid4()), name=name))
    uow.emit("widget_created", "cixi", {"name": name})


def test_each_part_commits_with_its_events_and_the_record_with_the_last(engine):
    event_id, commits = str(uuid.uuid4()), []
    with UnitOfWork(engine, ["cixi"], on_commit=lambda: commits.append("relay woken")) as uow:
        assert uow.first_time(event_id, "h")
        write(uow, "part 1")
        uow.checkpoint()
        # Another connection sees the first part and its event, not the processed record.
        assert count(engine, seen) == 1 and count(engine, db.outbox) == 1
        assert processed(engine, event_id) == 0
        write(uow, "part 2")
        uow.checkpoint()
        write(uow, "part 3")
        assert uow.checkpoints == 2
    assert count(engine, seen) == 3 and count(engine, db.outbox) == 3
    assert processed(engine, event_id) == 1
    assert commits == ["relay woken"] * 3  # the relay is told of each part's events
    with UnitOfWork(engine, ["cixi"]) as uow:
        assert not uow.first_time(event_id, "h")  # a repeat after the last part: a duplicate


def test_a_unit_of_work_dying_after_a_part_leaves_the_event_to_its_redelivery(engine):
    event_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError), UnitOfWork(engine, ["cixi"]) as uow:
        assert uow.first_time(event_id, "h")
        write(uow, "part 1")
        uow.checkpoint()
        write(uow, "part 2, lost")
        raise RuntimeError("the process dies")
    assert count(engine, seen) == 1 and count(engine, db.outbox) == 1
    assert processed(engine, event_id) == 0
    with UnitOfWork(engine, ["cixi"]) as uow:
        assert uow.first_time(event_id, "h")  # the redelivery runs again
    assert processed(engine, event_id) == 1


def test_a_small_unit_of_work_is_one_transaction_as_before(engine):
    event_id = str(uuid.uuid4())
    with UnitOfWork(engine, ["cixi"]) as uow:
        assert uow.first_time(event_id, "h")
        write(uow, "all of it")
    assert uow.checkpoints == 0 and processed(engine, event_id) == 1


def test_a_checkpoint_finding_the_event_finished_meanwhile_stops(engine):
    event_id = str(uuid.uuid4())
    with pytest.raises(AlreadyProcessed), UnitOfWork(engine, ["cixi"]) as uow:
        assert uow.first_time(event_id, "h")
        write(uow, "part 1")

        def finished_elsewhere() -> None:  # a concurrent copy of the event completes now
            with UnitOfWork(engine, ["cixi"]) as other:
                assert other.first_time(event_id, "h")

        uow._on_checkpoint = finished_elsewhere
        uow.checkpoint()
        write(uow, "never written")
    assert count(engine, seen) == 1 and processed(engine, event_id) == 1
