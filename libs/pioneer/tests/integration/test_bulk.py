"""``bulk.insert_rows`` on SQLite and PostgreSQL: what it writes reads back exactly as a Core
insert of the same rows does (text that could end a COPY field or row early, a literal ``\\N``,
JSON with Chinese, aware datetimes, booleans, NULLs), a constraint failing is an
``IntegrityError``, and the rows are the caller's transaction's. ``bulk.insert_new``, staged or
in one statement, skips the rows already stored or repeated and returns the ones it wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pioneer import bulk, db

metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("count", Integer, nullable=False),
    Column("ratio", Float, nullable=True),
    Column("flag", Boolean, nullable=False),
    Column("doc", JSON, nullable=True),
    Column("at", db.UtcDateTime, nullable=True),
)
outbox_like = db.outbox  # the kernel's own table: an autoincrement key left to the database

AWKWARD = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "",
    "先锋驿站 \\t",
    'a|b,c;"quoted"',
]


def rows(prefix: str) -> list[dict]:
    made = []
    for n, name in enumerate(AWKWARD):
        made.append(
            {
                "id": f"{prefix}-{n}",
                "name": name,
                "count": n - 3,
                "ratio": None if n % 3 == 0 else n / 7,
                "flag": n % 2 == 0,
                "doc": None if n == 1 else {"title": name, "skills": ["维修", "tab\t"], "n": n},
                "at": datetime(2030, 1, 2, 3, 4, 5, n, tzinfo=timezone(timedelta(hours=8))),
            }
        )
    made.append({**made[0], "id": f"{prefix}-nulls", "name": None, "doc": None, "at": None})
    return made


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url, 2)
    metadata.create_all(engine)
    db.kernel_metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def read(engine, prefix: str) -> list[tuple]:
    with engine.connect() as conn:
        query = select(things).where(things.c.id.like(f"{prefix}-%")).order_by(things.c.id)
        return [tuple(row)[1:] for row in conn.execute(query)]


def test_reads_back_as_a_core_insert_does(engine):
    with engine.begin() as conn:
        conn.execute(insert(things), rows("core"))
        assert bulk.insert_rows(conn, things, rows("bulk")) == len(AWKWARD) + 1
    written = read(engine, "bulk")
    assert written == read(engine, "core")
    assert written[4][0] == "\\N"  # a string, not NULL
    assert written[-1][0] is None
    assert written[0][5] == datetime(2030, 1, 1, 19, 4, 5, 0, tzinfo=UTC)


def test_through_a_session_and_with_the_databases_own_keys(engine):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    events = [
        {
            "event_id": f"e{n}",
            "event_type": "thing_made",
            "payload": {"n": n, "名": "驿站"},
            "headers": {},
            "created_at": now,
            "attempts": 0,
        }
        for n in range(5)
    ]
    with Session(engine) as session, session.begin():
        bulk.insert_rows(session, outbox_like, events)
    with engine.connect() as conn:
        stored = conn.execute(
            select(outbox_like.c.seq, outbox_like.c.payload).order_by(outbox_like.c.seq)
        ).all()
    assert [row.payload["n"] for row in stored] == list(range(5))
    assert len({row.seq for row in stored}) == 5


def test_a_constraint_failing_writes_nothing(engine):
    first = rows("dup")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk.insert_rows(conn, things, first[:2])
        bulk.insert_rows(conn, things, first[1:3])  # dup-1 again
    assert read(engine, "dup") == []


def test_unknown_columns_are_refused(engine):
    with pytest.raises(ValueError, match="no column"), engine.begin() as conn:
        bulk.insert_rows(conn, things, [{"id": "x", "colour": "red"}])
    with engine.begin() as conn:
        assert bulk.insert_rows(conn, things, []) == 0


@pytest.mark.parametrize("copy_from", [1, bulk.COPY_FROM], ids=["staged", "one-statement"])
def test_insert_new_skips_what_is_there_and_returns_what_it_wrote(engine, copy_from):
    first = rows("new")
    with engine.begin() as conn:
        conn.execute(insert(things), first[:3])
    again = [*first[1:], first[-1]]  # two already stored, and one twice in the batch
    with Session(engine) as session, session.begin():
        written = bulk.insert_new(
            session, things, again, ["id"], [things.c.id, things.c.count], copy_from=copy_from
        )
        # Twice in one transaction: a staging table does not outlive its statement's use.
        assert bulk.insert_new(session, things, first, ["id"], [things.c.id], copy_from) == []
    assert sorted(row.id for row in written) == sorted(row["id"] for row in first[3:])
    assert {row.id: row.count for row in written}["new-4"] == 1
    core = rows("core")
    with engine.begin() as conn:
        conn.execute(insert(things), core)
    assert read(engine, "new") == read(engine, "core")  # as a Core insert writes them


def test_insert_new_of_nothing_writes_nothing(engine):
    with engine.begin() as conn:
        assert bulk.insert_new(conn, things, [], ["id"], [things.c.id]) == []
