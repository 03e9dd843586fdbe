"""Fixtures for the points tests: a running points container and ways to feed it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from points.service import PointsService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def points(service_config, start_service):
    return start_service(PointsService, service_config)
