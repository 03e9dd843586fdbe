"""Migrations against models: what alembic's autogenerate finds between them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from ..db import make_engine, migrate


def schema_drift(db_url: str, migrations: str, metadatas: list[MetaData]) -> list[Any]:
    """The differences (tables, columns, types, nullability, indexes, unique and foreign keys)
    between a database freshly migrated with ``migrations`` and the models' ``metadatas``;
    ``[]`` when the migrations build exactly what the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url, 2)
    try:
        migrate(engine, migrations)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadatas))
    finally:
        engine.dispose()
