"""Database: engines, the kernel's tables, migrations and the unit of work.

Each service owns its database: a SQLite file (WAL) by default, PostgreSQL when
``DATABASE_URL`` says so. SQLite calls block the eventlet hub, which is fine for the embedded
default: no greenthread switch happens inside a transaction because no I/O is done inside one
(rule: never call RPC or the broker inside a unit of work). psycopg2 is green under the patch.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eventlet
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from . import bulk, clock, ids
from .event_contract import wire_data

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An integer primary key that is SQLite's rowid there and BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Timezone-aware datetimes stored in UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


kernel_metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = Table(
    "outbox",
    kernel_metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500), nullable=True),
    Index("ix_outbox_published_at", "published_at"),
)
# Only unpublished rows are indexed for the relay: the index stays small however long the log.
Index(
    "ix_outbox_pending",
    outbox.c.seq,
    sqlite_where=outbox.c.published_at.is_(None),
    postgresql_where=outbox.c.published_at.is_(None),
)

processed_events = Table(
    "processed_events",
    kernel_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("handler", String(120), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
    Index("ix_processed_events_processed_at", "processed_at"),
)

# One statement, the same on SQLite (3.24+) and PostgreSQL, compiled once: a repeat of the
# (event, handler) pair inserts nothing (rowcount 0) instead of a select then an insert.
_OUTBOX_INSERT = insert(outbox)  # built once: every write of every service runs it
_RECORD_PROCESSED = text(
    "INSERT INTO processed_events (event_id, handler, processed_at)"
    " VALUES (:event_id, :handler, :processed_at)"
    " ON CONFLICT (event_id, handler) DO NOTHING"
).bindparams(bindparam("processed_at", type_=UtcDateTime()))


# A record taken by ``first_time`` and not yet committed, taken back before a checkpoint's
# commit (``UnitOfWork.checkpoint``) so that only the unit of work's last transaction keeps it.
_FORGET_PROCESSED = text(
    "DELETE FROM processed_events WHERE event_id = :event_id AND handler = :handler"
)


_PROCESSED_AMONG = select(processed_events.c.event_id).where(
    processed_events.c.handler == bindparam("handler"),
    processed_events.c.event_id.in_(bindparam("event_ids", expanding=True)),
)


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite ``url`` (its directory made, owner only), or None (in memory, or
    not SQLite)."""
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    if not path or path == ":memory:":
        return None
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class DatabaseTaken(Exception):
    """Another process already serves this SQLite file."""


def hold_sqlite_file(url: str) -> Any:
    """For a SQLite ``url``, an exclusive lock on ``<file>.lock`` held for as long as the
    returned file stays open: SQLite takes one serving process per file (the relay's claim and
    the timers' leases work across processes only on PostgreSQL). ``DatabaseTaken`` with a
    one-line reason if another process holds it; None for other databases."""
    import fcntl

    path = _sqlite_file(url)
    if path is None:
        return None
    handle = open(f"{path}.lock", "w")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatabaseTaken(
            f"another process already serves {path}; SQLite takes one process per file"
            " (run more on PostgreSQL: `make up DB=postgres`)"
        ) from None
    return handle


def make_engine(url: str, pool_size: int, echo: bool = False) -> Engine:
    """An engine for ``url`` with a pool sized to the service's workers. Its errors never
    carry a statement's parameters (names, addresses) into logs or replies."""
    if url.startswith("sqlite"):
        path = _sqlite_file(url)  # its directory made before SQLite opens it
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"check_same_thread": False, "timeout": 30},
            echo=echo,
            hide_parameters=True,
        )
        _configure_sqlite(engine, path)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        echo=echo,
        hide_parameters=True,
    )
    _ping_after_idle(engine)
    return engine


# A pooled connection idle this long is pinged before use. A busy service reuses connections
# within milliseconds: pinging each checkout (``pool_pre_ping``) cost every call one more
# round trip, a quarter of a read's.
PING_AFTER_IDLE_S = 10.0


def _ping_after_idle(engine: Engine) -> None:
    # SQLAlchemy's documented custom pessimistic ping: a DisconnectionError raised at checkout
    # makes the pool discard the connection and try a fresh one.
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:
            raise DisconnectionError("idle connection no longer answers") from exc

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()


# Reads of a large database's pages through a shared memory map instead of a read() into
# each connection's own 2 MB page cache: a ledger of a million entries written at random
# keys cost points half again as much CPU per check-in without it.
SQLITE_MMAP_BYTES = 1 << 30


def _configure_sqlite(engine: Engine, path: str | None) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
    # (the SQLAlchemy-documented recipe) and begin write transactions IMMEDIATE, so a writer
    # takes the lock up front instead of failing to upgrade a read lock later.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()
        if path is not None:
            # The database holds phones and addresses: its owner's alone (SQLite gives the
            # -wal and -shm files the database file's mode).
            Path(path).chmod(0o600)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode != "NONE":
            connection.exec_driver_sql(f"BEGIN {mode}")


def read_engine(engine: Engine) -> Engine:
    """``engine`` for reads only (``reading``).

    On SQLite no BEGIN is sent: each statement reads a consistent snapshot by itself and takes
    no write lock, and the read paths need nothing wider (multi-page reads resume by cursor).
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="NONE")
    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (from ``read_engine``): no ORM session, and no transaction.

    Hot read paths (``get_*``, ``list_*``, ``search_*``) use this with Core statements; it costs
    a fraction of a ``UnitOfWork``. On PostgreSQL the connection is in autocommit while it
    reads, as SQLite's reads are, so a read is one round trip instead of three (``BEGIN``, the
    query, ``ROLLBACK``, each a green socket wait). psycopg2 switches autocommit on the client
    alone; SQLAlchemy's own isolation switch would add a ``SET`` at every return to the pool.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            yield connection
            return
        raw = connection.connection.dbapi_connection
        raw.autocommit = True
        try:
            yield connection
        finally:
            if not raw.closed:  # a connection lost mid-read is discarded by the pool
                raw.autocommit = False


def migrate(engine: Engine, script_location: str | Path, revision: str = "head") -> None:
    """Bring the database to the newest migration (or ``revision``), one migrator at a time."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not migrate twice.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner current statistics (PostgreSQL's autovacuum keeps its own).

    ``analysis_limit`` samples each index instead of reading it whole, so this takes
    milliseconds even on a large database; the kernel runs it at start and every hour.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
        connection.exec_driver_sql("ANALYZE")


def conflict_insert(session: Session | Connection, table: Table) -> Any:
    """``INSERT`` into ``table`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update``,
    from the dialect of the session's (or connection's) database (SQLite and PostgreSQL spell
    them alike)."""
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def row_of(values: dict[str, Any], table: Table | None = None) -> SimpleNamespace:
    """Column values as a row (attribute access), for one not read back from the database;
    with ``table``, every column of it, None where ``values`` has none."""
    if table is None:
        return SimpleNamespace(**values)
    return SimpleNamespace(**{**{column.name: None for column in table.c}, **values})


def with_values(row: Any, values: dict[str, Any]) -> SimpleNamespace:
    """``row`` (a SQLAlchemy row or ``row_of``'s) with ``values`` applied."""
    base = row._asdict() if hasattr(row, "_asdict") else dict(vars(row))
    return SimpleNamespace(**{**base, **values})


@functools.cache
def insert_or_ignore(table: Table, columns: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``columns`` into ``table``, built once (SQLite and
    PostgreSQL spell it alike; SQLAlchemy's dialect constructs compile on every call): execute
    it with the values and read ``rowcount == 1`` as "it was not there yet"."""
    names = ", ".join(columns)
    return text(
        f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(':' + c for c in columns)})"
        " ON CONFLICT DO NOTHING"
    ).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def envelope(event_type: str, city: str, origin_city: str, data: dict[str, Any]) -> dict[str, Any]:
    """The contract's event envelope."""
    return {
        "event_id": ids.event_uuid(),
        "type": event_type,
        "origin_city": origin_city,
        "city": city,
        "occurred_at": clock.iso(clock.utcnow()),
        "version": 1,
        "data": data,
    }


class AlreadyProcessed(Exception):
    """Raised by ``UnitOfWork.checkpoint``: while this unit of work committed a part of an
    event's work, another worker finished that event (its processed record is committed), so
    the rest is done already. ``event_handler`` counts it as a duplicate."""


class UnitOfWork:
    """One transaction: the state change and its events (outbox rows) commit together.

    Use as a context manager: it commits on a clean exit and rolls back on an exception, so
    nothing is half-written. Events emitted inside reach the broker only after the commit.
    ``store`` is the service's store (the class holding its SQL) over this transaction's
    session; ``reading()`` gives the same store over a read-only connection, for the reads
    that need no transaction (cheaper: no ORM session, no write lock). ``bulk``: its outbox
    rows are written by ``bulk.insert_rows`` (COPY on PostgreSQL), for batch tools that emit
    thousands of events in one transaction (it blocks the eventlet hub while it writes).

    Work too large for one transaction (a fan-out to a hundred thousand inboxes) is committed
    in parts with ``checkpoint()``: each part with its own events, the processed-event records
    of ``first_time`` only with the last (see there).
    """

    def __init__(
        self,
        engine: Engine,
        cities: list[str],
        headers: dict[str, Any] | None = None,
        on_commit: Callable[[], None] | None = None,
        readonly: bool = False,
        store: Callable[[Any], Any] | None = None,
        reads: Engine | None = None,
        bulk: bool = False,
        on_checkpoint: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._bulk = bulk
        self._cities = cities
        self._headers = headers or {}
        self._on_commit = on_commit
        self._readonly = readonly
        self._store_class = store
        self._reads = reads or engine
        self._on_checkpoint = on_checkpoint
        self.session: Session
        self.store: Any = None
        self._outbox_rows: list[dict[str, Any]] = []
        # The processed-event records this unit of work took (``first_time``), not committed.
        self._claims: list[dict[str, Any]] = []
        self.checkpoints = 0  # transactions committed before the last (``checkpoint``)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """The store over a read-only connection (no transaction of this unit of work)."""
        with reading(self._reads) as connection:
            yield self._store_class(connection) if self._store_class else connection

    @property
    def events(self) -> list[dict[str, Any]]:
        """The envelopes emitted so far (published once this commits)."""
        return [row["payload"] for row in self._outbox_rows]

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self._engine, expire_on_commit=False)
        if self._readonly and self._engine.dialect.name == "sqlite":
            # Readers need no write lock; WAL lets them run beside a writer.
            self.session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        self._outbox_rows = []
        self._claims = []
        self.checkpoints = 0
        if self._store_class is not None:
            self.store = self._store_class(self.session)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        emitted = bool(self._outbox_rows)
        try:
            if exc_type is None:
                self._commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
        if exc_type is None and emitted and self._on_commit is not None:
            self._on_commit()

    def _commit(self) -> None:
        if self._outbox_rows and self._bulk:
            bulk.insert_rows(self.session, outbox, self._outbox_rows)
        elif self._outbox_rows:
            # One statement for every event of the transaction, just before the commit.
            self.session.execute(_OUTBOX_INSERT, self._outbox_rows)
        self.session.commit()
        self._outbox_rows = []

    def checkpoint(self) -> None:
        """Commit what this unit of work has written so far, with the events emitted so far,
        and go on in a new transaction: for work too large for one transaction, committed in
        bounded parts.

        The processed-event records taken by ``first_time`` are not committed with a part:
        they are taken back first and taken again in the next transaction, so only the unit of
        work's last transaction commits them. A process that dies after a checkpoint leaves
        its event unprocessed: the redelivery runs the handler again from the start, which must
        therefore write each part idempotently (insert what is not there yet, emit events only
        for what it inserted) so that the parts committed before add nothing a second time.
        A repeat after the last commit is still a duplicate.

        Between the parts the greenthread yields, so the rest of the process (the relay with
        the part's events, RPCs, heartbeats) runs: on SQLite nothing else runs while a
        transaction is being written. ``AlreadyProcessed`` if, meanwhile, another worker
        finished the same event (committed its record): the rest is done.
        """
        claims = self._claims
        for claim in claims:
            self.session.execute(_FORGET_PROCESSED, claim)
        emitted = bool(self._outbox_rows)
        self._commit()
        self.checkpoints += 1
        if emitted and self._on_commit is not None:
            self._on_commit()
        if self._on_checkpoint is not None:
            self._on_checkpoint()
        eventlet.sleep(0)
        for claim in claims:
            again = self.session.execute(
                _RECORD_PROCESSED, {**claim, "processed_at": clock.utcnow()}
            )
            if again.rowcount != 1:
                raise AlreadyProcessed(claim["event_id"])

    def emit(self, event_type: str, city: str, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
        """Record an event about a record of ``city``; it is published once this commits."""
        payload = wire_data(event_type, data)
        origin = city if city in self._cities else self._cities[0]
        env = envelope(event_type, city, origin, payload)
        self._outbox_rows.append(
            {
                "event_id": env["event_id"],
                "event_type": event_type,
                "payload": env,
                "headers": self._headers,
                "created_at": clock.utcnow(),
                "attempts": 0,
            }
        )
        return env

    def first_time(self, event_id: str, handler: str) -> bool:
        """Record that ``handler`` processes ``event_id``; False if it already did. The record
        commits with the unit of work's last transaction (``checkpoint``)."""
        recorded = self.session.execute(
            _RECORD_PROCESSED,
            {"event_id": event_id, "handler": handler, "processed_at": clock.utcnow()},
        )
        if recorded.rowcount != 1:
            return False
        self._claims.append({"event_id": event_id, "handler": handler})
        return True

    def first_times(self, event_ids: list[str], handler: str) -> set[str]:
        """Record that ``handler`` processes each of ``event_ids``; the ids it had not processed
        before. One select and one insert for a batch (``batching``): the transaction that
        records them is the one that handles them, so a concurrent batch recording the same id
        fails on the primary key and is handled again event by event."""
        wanted = list(dict.fromkeys(event_ids))
        seen = set(
            self.session.execute(
                _PROCESSED_AMONG, {"handler": handler, "event_ids": wanted}
            ).scalars()
        )
        fresh = [event_id for event_id in wanted if event_id not in seen]
        if fresh:
            now = clock.utcnow()
            self.session.execute(
                insert(processed_events),
                [{"event_id": e, "handler": handler, "processed_at": now} for e in fresh],
            )
            self._claims.extend({"event_id": e, "handler": handler} for e in fresh)
        return set(fresh)

    def flush_or_conflict(self, error: Exception) -> None:
        """Flush pending ORM objects; a constraint failing becomes ``error`` (a contract error).

        Core statements (``session.execute(insert(...))``) run at once: wrap them in
        ``with uow.conflict_on(error):`` instead.
        """
        with self.conflict_on(error):
            self.session.flush()

    @contextmanager
    def conflict_on(self, error: Exception) -> Iterator[None]:
        """A unique or check constraint failing inside the block becomes ``error``.

        The whole transaction is rolled back first, so nothing of it is written.
        """
        try:
            yield
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            self._outbox_rows.clear()  # the events of what was rolled back are void too
            self._claims.clear()  # and so are its processed records
            raise error from None
