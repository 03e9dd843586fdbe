"""Fixtures for the notify tests: a running notify container, a real local HTTP receiver for
webhooks and gateways, and ways to feed the directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from notify.service import NotifyService

# Test modules import their data helpers from this folder (pytest runs with importlib mode).
sys.path.insert(0, str(Path(__file__).parent))

from notify_testdata import TEST_HOST

from pioneer.testing.receiver import Receiver

# Fast retries so a test sees backoff, dead letters and replay in seconds; the local receiver
# reachable over plain http.
FAST_DELIVERY = {
    "WEBHOOK_PLAIN_HTTP_HOSTS": TEST_HOST,
    "WEBHOOK_TIMEOUT_S": 0.5,
    "DELIVERY_MAX_ATTEMPTS": 3,
    "DELIVERY_BACKOFF_S": 0.2,
    "DELIVERY_BACKOFF_MAX_S": 1,
}


@pytest.fixture
def notify_config(service_config):
    return {**service_config, **FAST_DELIVERY}


@pytest.fixture
def notify(notify_config, start_service):
    return start_service(NotifyService, notify_config)


@pytest.fixture
def receiver():
    """A threaded HTTP server on 127.0.0.1 recording every POST; its answers are scripted."""
    server = Receiver()
    yield server
    server.close()
