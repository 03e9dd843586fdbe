"""Where a deployment's services keep their data: a SQLite file each (the default), or a
database and a role each on a PostgreSQL server.

On PostgreSQL every service connects as its own role (``<prefix>_<deployment>_<service>``,
the prefix ``pioneer`` unless ``PIONEER_DB_PREFIX`` names another when the deployment is made),
which owns its own database and has no right to connect to another's; the administrative
login (``PIONEER_POSTGRES``, by default the local ``postgres`` superuser over TCP) only creates
and, for a throw-away deployment, drops them.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, urlsplit

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# What every service role's sessions start with (``ALTER ROLE ... SET``: server side, so it holds
# behind PgBouncer too). Every statement of a service is an indexed read or write of a few rows;
# a parallel plan for one costs more than it saves (it doubled a 3 ms dispatch on two cores).
ROLE_SETTINGS = {"max_parallel_workers_per_gather": "0"}
ENGINES = ("sqlite", "postgres")


def admin_url() -> str:
    """The administrative login that creates the services' roles and databases."""
    return os.environ.get("PIONEER_POSTGRES", DEFAULT_ADMIN_URL)


def default_prefix() -> str:
    """The prefix of a new deployment's database names."""
    return os.environ.get("PIONEER_DB_PREFIX", "pioneer")


def database_name(prefix: str, deployment: str, service: str) -> str:
    """The database (and role) of ``service`` in ``deployment``: lower case, ``[a-z0-9_]``."""
    return re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{deployment}_{service}".lower())[:63]


def service_url(admin: str, name: str, password: str) -> str:
    """The ``DATABASE_URL`` of the role and database ``name`` on ``admin``'s server."""
    parts = urlsplit(admin)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    return f"postgresql://{name}:{quote(password, safe='')}@{host}:{port}/{name}"


def provision(admin: str, passwords: dict[str, str]) -> None:
    """Create (or bring up to date) each role and database named in ``passwords``, with its
    password and ``ROLE_SETTINGS``; idempotent."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(admin)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            for name, password in sorted(passwords.items()):
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(
                    sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(name)),
                    (password,),
                )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if not cur.fetchone():
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(name), sql.Identifier(name)
                        )
                    )
                cur.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
                )
                for setting, value in ROLE_SETTINGS.items():
                    cur.execute(
                        sql.SQL("ALTER ROLE {} SET {} = %s").format(
                            sql.Identifier(name), sql.Identifier(setting)
                        ),
                        (value,),
                    )
    finally:
        connection.close()


def drop(admin: str, names: list[str]) -> None:
    """Drop each database and role of ``names`` (a throw-away deployment: the bench, tests)."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(admin)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            for raw_name in names:
                name = sql.Identifier(raw_name)
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
    finally:
        connection.close()


# The fewest connections a service process may be given: one for a worker, one for the relay.
MIN_POOL_SIZE = 2


def free_connections(admin: str, ours: list[str]) -> int:
    """How many connections the server at ``admin`` has for the roles in ``ours``: its
    ``max_connections`` less the superusers' reserve and every connection held by anyone else
    right now."""
    import psycopg2

    connection = psycopg2.connect(admin)
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity"
                "    WHERE backend_type = 'client backend' AND NOT (usename = ANY(%s)))",
                (ours,),
            )
            return int(cur.fetchone()[0])
    finally:
        connection.close()


def fit_pools(free: int, processes: int, wanted: int, fixed: bool) -> int:
    """The pool size each of ``processes`` service processes gets so that all of them at their
    worst (a pool and as many again in overflow) fit in ``free`` connections: ``wanted``, or
    less where it does not fit, unless ``fixed`` (``DB_POOL_SIZE`` set by ops). ``ValueError``
    with the arithmetic when it cannot fit."""
    need = processes * 2 * wanted
    if need <= free:
        return wanted
    fitted = free // (2 * processes)
    if fixed or fitted < MIN_POOL_SIZE:
        least = processes * 2 * (wanted if fixed else MIN_POOL_SIZE)
        raise ValueError(
            f"{processes} service processes need up to {least} PostgreSQL connections"
            f" (2 × pool of {wanted if fixed else MIN_POOL_SIZE} each) and the server has"
            f" {free} free: raise max_connections, run fewer replicas, lower DB_POOL_SIZE,"
            " or put PgBouncer in front (deploy/README.md)"
        )
    return fitted
