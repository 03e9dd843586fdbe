"""A deployment on PostgreSQL: a role and a database per service, each its own alone."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from pioneer import databases
from pioneer.testing.databases import POSTGRES


@pytest.fixture
def names(postgres_skip_reason):
    if postgres_skip_reason:
        pytest.skip(postgres_skip_reason)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    made = {s: databases.database_name(prefix, "Shared-City", s) for s in ("stations", "points")}
    yield made
    databases.drop(POSTGRES, list(made.values()))


def test_each_service_owns_its_database_and_reaches_no_other(names):
    assert names["stations"].endswith("_shared_city_stations")  # a name PostgreSQL takes as is
    passwords = {name: uuid.uuid4().hex for name in names.values()}
    databases.provision(POSTGRES, passwords)
    databases.provision(POSTGRES, passwords)  # again: nothing to do, nothing fails
    stations, points = names["stations"], names["points"]
    own = psycopg2.connect(databases.service_url(POSTGRES, stations, passwords[stations]))
    with own, own.cursor() as cur:
        cur.execute("CREATE TABLE t (id int)")  # it owns its database
        for setting, value in databases.ROLE_SETTINGS.items():
            cur.execute("SELECT current_setting(%s)", (setting,))
            assert cur.fetchone()[0] == value  # its sessions start with the role's settings
    own.close()
    foreign = databases.service_url(POSTGRES, points, passwords[stations])
    foreign = foreign.replace(f"//{points}:", f"//{stations}:")  # stations' role, points' database
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        psycopg2.connect(foreign)


def test_a_new_password_replaces_the_old_and_drop_removes_everything(names):
    name = names["stations"]
    databases.provision(POSTGRES, {name: "first"})
    databases.provision(POSTGRES, {name: "second"})
    psycopg2.connect(databases.service_url(POSTGRES, name, "second")).close()
    databases.drop(POSTGRES, [name])
    admin = psycopg2.connect(POSTGRES)
    with admin, admin.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        assert cur.fetchone()[0] == 0
    admin.close()
