"""Throwaway databases: a SQLite file, or a fresh PostgreSQL database on the test server."""

from __future__ import annotations

import os
import uuid

import psycopg2
from psycopg2 import sql

POSTGRES = os.environ.get("PIONEER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_available(url: str = POSTGRES) -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return None
    except psycopg2.Error as exc:
        return f"PostgreSQL at {url} not answering: {str(exc).strip()[:120]}"


def create_postgres_database(url: str = POSTGRES) -> str:
    """Create an empty database; return its URL."""
    name = f"pioneer_t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(db_url: str, url: str = POSTGRES) -> None:
    name = db_url.rsplit("/", 1)[1]
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()
