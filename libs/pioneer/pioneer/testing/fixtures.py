"""Fixtures of the ``pioneer`` pytest plugin (imported after the eventlet patch)."""

from __future__ import annotations

import secrets as _secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from .. import auth, db, ids
from .broker import RabbitAdmin, amqp_uri_for, new_vhost_name
from .client import RpcClient
from .databases import create_postgres_database, drop_postgres_database, postgres_available

# The deployment name of test containers: the tokens of the ``token`` fixture are scoped to it.
TEST_DEPLOYMENT = "test"
TEST_CITIES = ("cixi", "haining", "jiaxing")


@pytest.fixture(scope="session")
def rabbit_admin() -> RabbitAdmin:
    admin = RabbitAdmin()
    if not admin.reachable():
        pytest.fail("RabbitMQ management API not reachable (run `make broker`)")
    return admin


@pytest.fixture
def vhost(rabbit_admin: RabbitAdmin) -> Iterator[str]:
    name = new_vhost_name()
    rabbit_admin.create_vhost(name)
    yield name
    from kombu.pools import connections, producers

    for pool_group in (connections, producers):
        for key, pool in list(pool_group.items()):
            if vhost_of(key) == name:
                pool.force_close_all()
                pool_group.pop(key, None)
    rabbit_admin.delete_vhost(name)


def vhost_of(pool_key: Any) -> str | None:
    try:
        return pool_key.virtual_host
    except AttributeError:
        return None


@pytest.fixture
def amqp_uri(vhost: str) -> str:
    return amqp_uri_for(vhost)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/service.db"


@pytest.fixture(scope="session")
def postgres_skip_reason() -> str | None:
    return postgres_available()


@pytest.fixture
def postgres_url(postgres_skip_reason: str | None) -> Iterator[str]:
    if postgres_skip_reason:
        pytest.skip(postgres_skip_reason)
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def secret() -> str:
    return _secrets.token_urlsafe(32)


@pytest.fixture
def token(secret: str) -> Callable[..., str]:
    """``token(role, city="cixi", sub=None)`` -> ``"Bearer <jwt>"``."""

    def make(
        role: str | list[str] = "admin",
        city: str = "cixi",
        sub: str | None = None,
        ttl_s: int = 3600,
    ) -> str:
        roles = [role] if isinstance(role, str) else role
        name = sub or f"test-{roles[0]}"
        return "Bearer " + auth.issue_token(secret, name, city, roles, ttl_s, TEST_DEPLOYMENT)

    return make


@pytest.fixture
def service_config(amqp_uri: str, db_url: str, secret: str) -> dict[str, Any]:
    return base_config(amqp_uri, db_url, secret)


def base_config(amqp_uri: str, db_url: str, secret: str, **extra: Any) -> dict[str, Any]:
    """A kernel config for a test container (fast retries, no HTTP port clash)."""
    config = {
        "AMQP_URI": amqp_uri,
        "DEPLOYMENT": TEST_DEPLOYMENT,
        "CITIES": list(TEST_CITIES),
        "DATABASE_URL": db_url,
        "JWT_SECRET": secret,
        "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "EVENT_RETRY_DELAYS_S": [1, 1],
        "OUTBOX_POLL_S": 0.2,
        "LOG_LEVEL": "WARNING",
        "max_workers": 10,
    }
    config.update(extra)
    return config


@pytest.fixture
def start_service(amqp_uri: str) -> Iterator[Callable[..., Any]]:
    """``start_service(ServiceClass, config)`` -> a started nameko container.

    Containers stop gracefully (workers finish) before the test's vhost goes away.
    """
    import eventlet
    from nameko.containers import ServiceContainer

    containers: list[Any] = []

    def start(service_cls: type, config: dict[str, Any]) -> Any:
        container = ServiceContainer(service_cls, config)
        containers.append(container)
        container.start()
        return container

    yield start
    for container in reversed(containers):
        try:
            with eventlet.Timeout(20):
                container.stop()
        except eventlet.Timeout:
            container.kill()


@pytest.fixture
def rpc(amqp_uri: str) -> Iterator[Callable[..., RpcClient]]:
    """``rpc(authorization)`` -> a client whose ``.call(service, method, ...)`` goes over the broker."""
    clients: list[RpcClient] = []

    def make(authorization: str | None = None, timeout: float = 30) -> RpcClient:
        client = RpcClient(amqp_uri, authorization, timeout=timeout)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def dispatch_event(amqp_uri: str) -> Callable[..., dict[str, Any]]:
    """``dispatch_event(service, type, city, data, event_id=None, origin_city=None,
    federated_from=None)``: publish an envelope; ``federated_from`` (a peer deployment's
    name) marks it as RabbitMQ's federation marks the copies it forwards. An event from a city
    the test deployment does not serve can only be a peer's: it comes as a federated copy."""
    from nameko.standalone.events import event_dispatcher

    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})

    def publish(
        service: str,
        event_type: str,
        city: str,
        data: dict[str, Any],
        event_id: str | None = None,
        origin_city: str | None = None,
        federated_from: str | None = None,
    ) -> dict[str, Any]:
        env = db.envelope(event_type, city, origin_city or city, data)
        if event_id:
            env["event_id"] = event_id
        if federated_from is None and env["origin_city"] not in TEST_CITIES:
            federated_from = env["origin_city"]
        if federated_from:
            federated_copy(amqp_uri, federated_from)(service, event_type, env)
        else:
            dispatch(service, event_type, env)
        return env

    return publish


def federated_copy(amqp_uri: str, peer: str) -> Callable[[str, str, Any], None]:
    """A dispatcher whose events carry the ``x-received-from`` header federation adds."""
    from nameko.standalone.events import event_dispatcher

    received_from = [
        {"uri": f"amqp://{peer}", "exchange": "", "redelivered": False, "cluster-name": peer}
    ]
    return event_dispatcher({"AMQP_URI": amqp_uri}, headers={"x-received-from": received_from})


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def http_port(container: Any) -> int:
    """The port a started container's HTTP server listens on (config ``127.0.0.1:0``)."""
    from nameko.web.server import WebServer

    for extension in container.extensions:
        if isinstance(extension, WebServer):
            return extension._sock.getsockname()[1]
    raise LookupError("the container has no HTTP server")


@pytest.fixture
def spy(amqp_uri: str) -> Iterator[Callable[[str], Any]]:
    """``spy("stations")`` -> an ``EventSpy`` on that service's events (bound before you act)."""
    from .spy import EventSpy

    spies: list[EventSpy] = []

    def make(service: str) -> EventSpy:
        watcher = EventSpy(amqp_uri, service)
        spies.append(watcher)
        return watcher

    yield make
    for watcher in spies:
        watcher.close()


def volunteer_event(
    volunteer_id: str, status: str = "active", version: int = 1, **data: Any
) -> dict[str, Any]:
    """``data`` of a ``volunteer_*`` event, as the volunteers service publishes it."""
    from .. import ids

    return {
        "volunteer_id": volunteer_id,
        "city": ids.city_of(volunteer_id),
        "version": version,
        "status": status,
        "suspended_until": None,
        "cards": 0,
        "skills": [],
        "location": None,
        **data,
    }


# --- the service under test's database and its volunteer replica ------------------------------


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
    """Publish a volunteers event and wait until the service's replica holds that version."""

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
