"""The statements a raw row made PostgreSQL run, from ``pg_stat_statements``.

The extension needs the server's ``shared_preload_libraries`` to hold ``pg_stat_statements``
(``ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'``, then a restart). Where it
is not loaded, ``PgStatements.open`` says so once and the rows go without it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

TOP = 8
_LOADED = text(
    "SELECT 'pg_stat_statements' = ANY("
    "string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))"
)
_TOTAL = text(
    """
    SELECT coalesce(sum(s.calls), 0) AS calls, coalesce(sum(s.total_exec_time), 0) AS exec_ms
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname LIKE :databases
    """
)
_TOP = text(
    """
    SELECT d.datname AS database, s.query, s.calls, s.total_exec_time, s.rows
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname LIKE :databases
    ORDER BY s.total_exec_time DESC
    LIMIT :top
    """
)


class PgStatements:
    """Reset before a row, read after it: each statement's calls and execution time per call
    of the row, in the databases of one deployment (``<prefix>_...``)."""

    def __init__(self, admin_url: str, database_prefix: str) -> None:
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.databases = f"{database_prefix}\\_%"

    @classmethod
    def open(cls, admin_url: str, database_prefix: str) -> PgStatements | None:
        """The reader, or None (with a line saying why) where the extension is not loaded."""
        reader = cls(admin_url, database_prefix)
        with reader.engine.connect() as conn:
            if not conn.execute(_LOADED).scalar():
                print(
                    "  pg_stat_statements is not in shared_preload_libraries: the PostgreSQL"
                    " rows go without their statements",
                    flush=True,
                )
                reader.engine.dispose()
                return None
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        return reader

    def reset(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_statements_reset()"))

    def read(self, calls: int) -> dict[str, Any]:
        """Since ``reset``, per call of the row: statements run and their execution time, in
        all and for the busiest ones."""
        with self.engine.connect() as conn:
            total = conn.execute(_TOTAL, {"databases": self.databases}).one()
            rows = conn.execute(_TOP, {"databases": self.databases, "top": TOP}).all()
        top = [
            {
                "database": row.database,
                "query": " ".join(row.query.split())[:300],
                "per_call": round(row.calls / calls, 2),
                "exec_us_per_call": round(row.total_exec_time * 1000 / calls, 1),
            }
            for row in rows
        ]
        return {
            "statements_per_call": round(float(total.calls) / calls, 2),
            "exec_us_per_call": round(float(total.exec_ms) * 1000 / calls, 1),
            "top": top,
        }

    def close(self) -> None:
        self.engine.dispose()
