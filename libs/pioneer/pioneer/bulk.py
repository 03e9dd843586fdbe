"""Bulk writes: many rows into one table in one round, for imports and seeding.

``insert_rows`` writes the rows a Core ``insert(table)`` with the same rows would write, each
value through its column type's own bind processing (JSON, ``UtcDateTime``), but without
SQLAlchemy's per-row statement machinery, which costs more than the database's own work:

- PostgreSQL: ``COPY ... FROM STDIN`` (text format) on the transaction's connection. COPY
  refuses eventlet's green wait callback, so the callback is lifted for the COPY and the hub
  blocks while it runs. That is right for a batch tool (``pioneer import``), never for a
  service's request path.
- SQLite: one prepared ``INSERT`` run by the driver's ``executemany``.

Either way the rows are part of the caller's transaction: they commit or roll back with it, and
a constraint failing raises ``IntegrityError`` as an insert would.

``insert_new`` is the idempotent write of a consumer (``INSERT ... ON CONFLICT DO NOTHING
RETURNING``) for many rows at once. On PostgreSQL, from ``COPY_FROM`` rows on, it copies them
into a staging table and inserts from there in one statement: about a sixth of the client's CPU
and a third of the time of SQLAlchemy's multi-row ``VALUES`` (5,000 notifications: 15 against
85 µs of CPU per row). Its COPY blocks the eventlet hub too, but only while an unindexed
staging table takes the rows, which is shorter than the client work it saves; fewer rows take
the plain statement.
"""

from __future__ import annotations

import io
import json
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# From how many rows ``insert_new`` stages them by COPY on PostgreSQL (below, four statements
# cost more than the multi-row insert they replace).
COPY_FROM = 500

# Backslash first: the others' escapes contain one.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def insert_rows(db: Connection | Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (every row the same keys, column names of ``table``) into ``table`` in
    ``db``'s transaction (a connection, or a unit of work's session); how many were written."""
    if not rows:
        return 0
    connection = db.connection() if isinstance(db, Session) else db
    _write(connection, table, rows, table.name)
    return len(rows)


def _write(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], into: str
) -> None:
    """``rows`` bound by ``table``'s column types, written into the table named ``into``
    (``table`` itself, or a staging table like it)."""
    columns = list(rows[0])
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    dialect = connection.dialect
    processed = _processed_rows(rows, columns, [table.c[name].type for name in columns], dialect)
    if dialect.name == "postgresql":
        _copy(connection, into, columns, processed)
        return
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {into} ({', '.join(columns)}) VALUES ({placeholders})"
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(statement, processed)
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc
    finally:
        cursor.close()


def insert_new(
    db: Connection | Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    unique: Sequence[str],
    returning: Sequence[Column],
    copy_from: int = COPY_FROM,
) -> list[Any]:
    """Insert the ``rows`` whose ``unique`` columns (a unique constraint of ``table``) are new,
    skipping the others as ``ON CONFLICT DO NOTHING`` does, in ``db``'s transaction; the
    ``returning`` columns of the rows inserted, in no particular order."""
    if not rows:
        return []
    connection = db.connection() if isinstance(db, Session) else db
    if connection.dialect.name != "postgresql" or len(rows) < copy_from:
        from .db import conflict_insert  # here: db imports this module for the outbox

        statement = (
            conflict_insert(connection, table).on_conflict_do_nothing(index_elements=list(unique))
        ).returning(*returning)
        # One executemany: SQLAlchemy sends it as multi-row INSERTs of up to 1,000 rows each.
        return connection.execute(statement, list(rows)).all()
    quote = connection.dialect.identifier_preparer.quote
    staging_name = f"{table.name}_incoming"
    target, staging = quote(table.name), quote(staging_name)
    columns = ", ".join(quote(name) for name in rows[0])
    # ON COMMIT DROP as well as the DROP after: no staging table outlives its transaction, which
    # keeps this right behind a transaction-pooling PgBouncer.
    connection.execute(
        text(f"CREATE TEMP TABLE {staging} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP")
    )
    _write(connection, table, rows, staging_name)
    inserted = connection.execute(
        text(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging}"
            f" ON CONFLICT ({', '.join(quote(name) for name in unique)}) DO NOTHING"
            f" RETURNING {', '.join(quote(column.name) for column in returning)}"
        )
    ).all()
    connection.execute(text(f"DROP TABLE {staging}"))
    return inserted


def _processed_rows(
    rows: Sequence[Mapping[str, Any]], columns: list[str], types: list[Any], dialect: Any
) -> Iterator[list[Any]]:
    """Each row's values in ``columns`` order, bound as SQLAlchemy binds them: a
    TypeDecorator's ``process_bind_param``, then its implementation's processor (JSON to text,
    datetimes to SQLite's format), each computed once per column."""
    processors = [
        (index, processor)
        for index, processor in enumerate(t._cached_bind_processor(dialect) for t in types)
        if processor is not None
    ]
    values_of = operator.itemgetter(*columns)
    single = len(columns) == 1
    for row in rows:
        values = [values_of(row)] if single else list(values_of(row))
        for index, process in processors:
            value = values[index]
            if value is not None:
                values[index] = process(value)
        yield values


def _copy_text(value: Any) -> str:
    """One bound value in COPY's text format (``\\N`` is NULL; backslash, tab and line breaks
    escaped, so no value can end its field or row early)."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        text = value
    elif kind is bool:
        return "t" if value else "f"
    elif kind is int or kind is float:
        return str(value)
    elif kind is datetime or kind is date:
        return value.isoformat()
    elif kind is dict or kind is list:
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    # Four scans in C are cheaper than a translation of every character.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        for raw, escaped in _COPY_ESCAPES:
            text = text.replace(raw, escaped)
    return text


def _copy(connection: Connection, into: str, columns: list[str], rows: Iterable[list[Any]]) -> None:
    import psycopg2
    import psycopg2.extensions

    buffer = io.StringIO()
    write = buffer.write
    for values in rows:
        write("\t".join(map(_copy_text, values)))
        write("\n")
    buffer.seek(0)
    statement = f"COPY {into} ({', '.join(columns)}) FROM STDIN"
    cursor = connection.connection.dbapi_connection.cursor()
    green = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        cursor.copy_expert(statement, buffer)
    except psycopg2.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc
    finally:
        psycopg2.extensions.set_wait_callback(green)
        cursor.close()
