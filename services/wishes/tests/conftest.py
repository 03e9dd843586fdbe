"""Fixtures for the wishes tests: a running wishes container and ways to feed it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wishes.service import WishesService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def wishes(service_config, start_service):
    return start_service(WishesService, service_config)
