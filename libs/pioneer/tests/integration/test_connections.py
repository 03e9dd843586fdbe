"""Pooled connections on the real servers: a read opens no transaction, a write is one, and a
connection the server closed while it sat idle in the pool is replaced before a call gets it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pioneer import db


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url, 2)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counters (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counters (n) VALUES (1)"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE counters"))
    engine.dispose()


def test_a_read_opens_no_transaction_and_a_write_commits(engine):
    with db.reading(db.read_engine(engine)) as conn:
        assert conn.execute(text("SELECT n FROM counters")).scalar_one() == 1
        if engine.dialect.name == "postgresql":
            import psycopg2.extensions

            raw = conn.connection.dbapi_connection
            # Autocommit: the select left no transaction open behind it.
            assert raw.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with db.UnitOfWork(engine, ["cixi"]) as uow:
        uow.session.execute(text("UPDATE counters SET n = n + 1"))
    with db.reading(db.read_engine(engine)) as conn:
        assert conn.execute(text("SELECT n FROM counters")).scalar_one() == 2
    # The pooled connection is back out of autocommit: a failed write rolls back whole.
    with pytest.raises(RuntimeError), db.UnitOfWork(engine, ["cixi"]) as uow:
        uow.session.execute(text("UPDATE counters SET n = n + 1"))
        raise RuntimeError("the use case failed")
    with db.reading(db.read_engine(engine)) as conn:
        assert conn.execute(text("SELECT n FROM counters")).scalar_one() == 2


def test_a_connection_closed_while_idle_is_replaced(engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to close a connection")
    with engine.connect() as conn:
        first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # The server ends the pooled connection's backend while it is idle in the pool.
    other = db.make_engine(str(engine.url.render_as_string(hide_password=False)), 1)
    with other.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
    other.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    with db.reading(db.read_engine(engine)) as conn:
        assert conn.execute(text("SELECT n FROM counters")).scalar_one() == 1
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
