"""Fixtures for the volunteers tests: a running volunteers container and direct database access."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from volunteers.service import VolunteersService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def volunteers(service_config, start_service):
    # service_config first: the database outlives the container (teardown runs in reverse).
    return start_service(VolunteersService, service_config)


@pytest.fixture
def admin(rpc, token):
    return rpc(token("admin", "cixi"))


@pytest.fixture
def database(service_config):
    engine = create_engine(service_config["DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def count_rows(database) -> Callable[[str], int]:
    def count(table: str) -> int:
        with database.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()

    return count
