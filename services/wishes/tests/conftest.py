"""Fixtures for the wishes tests: a running wishes container and ways to feed it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event, wait_for
from wishes.service import WishesService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def wishes(service_config, start_service):
    return start_service(WishesService, service_config)


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


@pytest.fixture
def enrol(dispatch_event, database) -> Callable[..., str]:
    """Publish a volunteers event and wait until the wishes replica holds that version."""

    def enrol(
        volunteer_id: str | None = None,
        city: str = "cixi",
        status: str = "active",
        version: int = 1,
        **data: Any,
    ) -> str:
        volunteer_id = volunteer_id or ids.new_id(city, "vol")
        event_type = (
            {
                "active": "volunteer_registered",
                "suspended": "volunteer_suspended",
                "removed": "volunteer_removed",
            }[status]
            if version == 1
            else "volunteer_updated"
        )
        dispatch_event(
            "volunteers",
            event_type,
            ids.city_of(volunteer_id),
            volunteer_event(volunteer_id, status=status, version=version, **data),
        )

        def applied() -> bool:
            with database.connect() as conn:
                got = conn.execute(
                    text("SELECT version FROM volunteer_replica WHERE volunteer_id = :v"),
                    {"v": volunteer_id},
                ).scalar()
            return got is not None and got >= version

        wait_for(applied)
        return volunteer_id

    return enrol
