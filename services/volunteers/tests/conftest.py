"""Fixtures for the volunteers tests: a running volunteers container and direct database access."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from volunteers.service import VolunteersService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def volunteers(service_config, start_service):
    # service_config first: the database outlives the container (teardown runs in reverse).
    return start_service(VolunteersService, service_config)
