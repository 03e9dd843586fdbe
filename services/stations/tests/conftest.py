"""Fixtures for the stations tests: a running stations container and ways to feed it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stations.service import StationsService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def stations(start_service, service_config):
    return start_service(StationsService, service_config)
