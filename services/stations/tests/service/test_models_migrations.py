"""The stations migrations build exactly what the models describe, on SQLite and PostgreSQL.

Alembic's autogenerate comparison (tables, columns, types, nullability, indexes, unique and
foreign keys) finds no difference between a freshly migrated database and the metadata of the
models, the kernel's tables and the volunteer replica; the check constraints that keep claims
and check-ins within capacity, which autogenerate does not compare, are checked by name.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect

from pioneer.db import kernel_metadata, make_engine, migrate
from pioneer.replica import replica_metadata
from stations.models import Base
from stations.service import StationsService

METADATA = [Base.metadata, kernel_metadata, replica_metadata]


def check_constraints_of_models() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for metadata in METADATA:
        for table in metadata.tables.values():
            names = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
            if names:
                found[table.name] = names
    return found


def test_models_match_migrations(db_url):
    engine = make_engine(db_url, 2)
    try:
        migrate(engine, StationsService.migrations)
        migrate(engine, StationsService.migrations)  # a restart finds nothing to do
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, METADATA)
            revision = context.get_current_revision()
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            checks = {
                table: {c["name"] for c in inspector.get_check_constraints(table)}
                for table in check_constraints_of_models()
            }
            cascades = {
                fk["referred_table"]: fk["options"].get("ondelete")
                for fk in inspector.get_foreign_keys("station_services")
            }
    finally:
        engine.dispose()

    assert diffs == []
    assert revision == ScriptDirectory(StationsService.migrations).get_current_head()
    expected_tables = {t for metadata in METADATA for t in metadata.tables}
    assert {
        "stations",
        "station_services",
        "posts",
        "post_claims",
        "activities",
        "checkins",
        "outbox",
        "processed_events",
        "volunteer_replica",
    } <= expected_tables
    assert tables - {"alembic_version"} == expected_tables
    assert checks == check_constraints_of_models()
    assert checks["posts"] == {"ck_posts_claimed_within_capacity"}
    assert checks["activities"] == {"ck_activities_checked_in_within_capacity"}
    assert cascades == {"stations": "CASCADE"}
