"""Alembic support shared by every service's ``migrations/`` folder.

A service's ``migrations/env.py`` is two lines (``from pioneer.migrations import run_env;
run_env(target_metadata)``); its versions create its own tables and, in the first one, the
kernel's tables through ``create_kernel_tables`` (a frozen copy, so later kernel changes come
as new migrations).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .db import BigId, UtcDateTime


def run_env(target_metadata: Any) -> None:
    """Body of a service's ``env.py``: migrate on the connection the kernel hands over."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.get_main_option("sqlalchemy.url")
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            _run(context, connection, target_metadata)
        return
    _run(context, connection, target_metadata)


def _run(context: Any, connection: Any, target_metadata: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()


def create_kernel_tables(op: Any) -> None:
    """The outbox and processed-events tables, version 1."""
    op.create_table(
        "outbox",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["seq"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("handler", sa.String(120), nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "handler", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])


def drop_unreadable_schedule_entries(op: Any, table: str, column: str, key: str = "id") -> None:
    """Remove the opening-hours or availability entries that ``schedule`` cannot read from
    every row of ``table`` (stored before rules were checked structurally). Such an entry is
    never open, so queries answer as before, and the events that carry the row stop being
    refused by their consumers. Reads in key order, a thousand rows at a time."""
    from .schedule import readable_entries

    bind = op.get_bind()
    rows = sa.table(table, sa.column(key), sa.column(column, sa.JSON))
    last = None
    while True:
        query = sa.select(rows.c[key], rows.c[column]).order_by(rows.c[key]).limit(1000)
        if last is not None:
            query = query.where(rows.c[key] > last)
        batch = bind.execute(query).all()
        if not batch:
            return
        for row_key, entries in batch:
            kept = readable_entries(entries)
            if kept != entries:
                bind.execute(sa.update(rows).where(rows.c[key] == row_key).values({column: kept}))
        last = batch[-1][0]
