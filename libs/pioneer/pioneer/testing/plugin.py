"""The ``pioneer`` pytest plugin: eventlet patch first, then broker, database and service fixtures.

Fixtures:
- ``amqp_uri``: a fresh vhost on the real broker for this test (deleted afterwards).
- ``db_url``: parametrised, each test using it runs on SQLite and on PostgreSQL
  (``PIONEER_TEST_POSTGRES``; skipped with the reason where no server answers).
- ``sqlite_url`` / ``postgres_url``: one backend only.
- ``secret``, ``token``: JWTs for the test deployment.
- ``service_config``: a kernel config for a test container; ``start_service``: start one.
- ``rpc``: a client calling services on ``amqp_uri`` with a given token.
- ``dispatch_event``: publish an envelope as another service would.
- ``admin``: an RPC client with a cixi admin token; ``database``/``count_rows``: the service
  under test's database; ``enrol``: a volunteer in the service's replica, by event.

At the end of a session that ran the hostile-input suite (``pioneer.testing.hostile``) it
prints how many cases ran, per service, kind and database.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Patch before test modules import socket users; nameko 2.14 no longer does this itself.
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end against started service processes")
    config.addinivalue_line("markers", "slow: long-running test")
    config.option.suppress_eventlet_notification = True
    _prompt_consumer_stop()


def _prompt_consumer_stop() -> None:
    """Let test containers stop in about 0.2 s instead of 2 s.

    nameko's QueueConsumer cancels a consumer, and exits, only between two kombu
    ``drain_events`` calls, each waiting up to its ``safety_interval`` (1 s) for a message;
    stopping a container waits for two such turns. The test suite starts and stops hundreds of
    containers, so its consumers poll every 0.1 s; deployed services keep kombu's default.
    """
    from functools import partialmethod

    from kombu.mixins import ConsumerMixin
    from nameko.messaging import QueueConsumer

    QueueConsumer.consume = partialmethod(ConsumerMixin.consume, safety_interval=0.1)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """How many hostile-input cases ran, per service, kind and database (``hostile.SUMMARY``)."""
    from . import hostile

    if not hostile.SUMMARY:
        return
    terminalreporter.section("hostile input")
    for (service, what, backend), cases in sorted(hostile.SUMMARY.items()):
        terminalreporter.write_line(f"{service:<10} {what:<10} {backend:<10} {cases:>6} cases")
    terminalreporter.write_line(f"{'total':<32} {sum(hostile.SUMMARY.values()):>6} cases")


from .fixtures import *  # noqa: E402, F403
