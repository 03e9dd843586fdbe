"""End to end: the processes ``pioneer up`` starts, called as an outside system would.

Each run gets its own ``var`` directory, RabbitMQ vhost(s) and a free block of HTTP ports, so
it runs beside a developer's ``make up`` and leaves nothing behind. ``PIONEER_E2E_DB=postgres``
runs the same tests on deployments whose services each have their own PostgreSQL database
(``pioneer up --db postgres``; the databases are dropped afterwards).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from pioneer import auth, db
from pioneer.testing.broker import RabbitAdmin
from pioneer.testing.fixtures import wait_for
from pioneer.testing.ports import free_port_block

PIONEER = [sys.executable, "-m", "pioneer.cli"]
E2E_DB = os.environ.get("PIONEER_E2E_DB")  # sqlite (the default) or postgres
# Processes per service of the shared deployment (``PIONEER_E2E_REPLICAS=2`` with PostgreSQL).
E2E_REPLICAS = int(os.environ.get("PIONEER_E2E_REPLICAS", "1"))


class Cli:
    """Runs ``pioneer`` in a child process with this run's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*PIONEER, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class Deployed:
    """One running deployment as its ``deployment.json`` describes it."""

    def __init__(self, record: dict[str, Any], var: Path, amqp_host: str = "127.0.0.1") -> None:
        self.record = record
        self.name = record["name"]
        self.cities = record["cities"]
        self.secret = record["secret"]
        self.base_port = record["base_port"]
        self.replicas = record.get("replicas", 1)
        self.var = var / self.name
        self._vhost = record["vhost"].replace("/", "%2F")
        self._host = amqp_host
        # The RPC-only user outside systems get (the one ``pioneer status`` shows).
        self.amqp_uri = self.amqp_uri_of(record["user"], record["password"])

    def amqp_uri_of(self, user: str, password: str) -> str:
        return f"amqp://{user}:{password}@{self._host}:5672/{self._vhost}"

    def database_url(self, service: str) -> str:
        """The service's own database: its SQLite file (under this run's var), or its
        PostgreSQL database as the deployment's record names it."""
        from pioneer.launcher import Deployment

        if self.record.get("database") == "postgres":
            return Deployment(**self.record).database_url(service)
        return f"sqlite:///{self.var / f'{service}.db'}"

    def broker_users(self) -> list[str]:
        """Every broker user of the deployment (the client's and each other role's)."""
        prefix = self.record.get("user_prefix", "")
        return [self.record["user"], *(f"{prefix}{role}" for role in self.record["passwords"])]

    def role_uri(self, role: str) -> str:
        """The broker URI of one of the deployment's users (a service's name, ``ops``, ...)."""
        prefix = self.record["user_prefix"]
        return self.amqp_uri_of(f"{prefix}{role}", self.record["passwords"][role])

    def http_ports(self, service: str) -> list[int]:
        """The HTTP port of each replica of ``service`` (``/metrics``, ``/health``)."""
        from pioneer.launcher import Deployment

        return [Deployment(**self.record).port(service, r) for r in range(1, self.replicas + 1)]

    def metrics(self, service: str, replicas: tuple[int, ...] | None = None) -> str:
        """The ``/metrics`` of ``service``'s replicas (every one unless ``replicas`` names
        some, from 1), one after the other."""
        import urllib.request

        ports = self.http_ports(service)
        texts = []
        for port in [ports[r - 1] for r in replicas] if replicas else ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
                texts.append(reply.read().decode())
        return "\n".join(texts)

    def log_lines(self, service: str) -> list[str]:
        """Every replica's log of ``service``, line by line."""
        names = [service, *(f"{service}-{r}" for r in range(2, self.replicas + 1))]
        return [
            line
            for name in names
            if (self.var / "log" / f"{name}.log").exists()
            for line in (self.var / "log" / f"{name}.log").read_text().splitlines()
        ]

    def token(self, role: str, city: str, sub: str = "e2e") -> str:
        return "Bearer " + auth.issue_token(self.secret, sub, city, [role], 600, self.name)

    def proxy(self, authorization: str | None = None) -> ClusterRpcProxy:
        context = {"authorization": authorization} if authorization else {}
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, context_data=context, timeout=30)

    def publish(self, service: str, event_type: str, city: str, data: dict[str, Any]) -> None:
        """Publish an event envelope on this deployment's broker as ``service`` (with its own
        broker user: no other may publish to ``<service>.events``)."""
        event_dispatcher({"AMQP_URI": self.role_uri(service)})(
            service, event_type, db.envelope(event_type, city, city, data)
        )


def _deployments(var: Path) -> dict[str, Deployed]:
    return {
        json.loads(path.read_text())["name"]: Deployed(json.loads(path.read_text()), var)
        for path in sorted(var.glob("*/deployment.json"))
    }


@pytest.fixture(scope="session")
def e2e_admin() -> RabbitAdmin:
    admin = RabbitAdmin()
    if not admin.reachable():
        pytest.fail("RabbitMQ management API not reachable (run `make broker`)")
    return admin


@pytest.fixture(scope="session")
def launch(tmp_path_factory, e2e_admin) -> Iterator[Callable[..., tuple[Cli, dict[str, Deployed]]]]:
    """``launch(federated=False, replicas=1, env_extra=None)``: ``pioneer up`` in a fresh var
    dir, the services' environment with ``env_extra``; ``pioneer purge`` after."""
    started: list[tuple[Cli, list[dict[str, Any]]]] = []

    def start(
        federated: bool = False, replicas: int = 1, env_extra: dict[str, str] | None = None
    ) -> tuple[Cli, dict[str, Deployed]]:
        tag = uuid.uuid4().hex[:8]
        var = tmp_path_factory.mktemp(f"var-{'fed' if federated else 'shared'}")
        env = dict(os.environ)
        env.update(
            {
                "PIONEER_VAR": str(var),
                "PIONEER_SHARED_VHOST": f"pioneer-e2e-{tag}",
                "PIONEER_SHARED_PREFIX": f"e2e{tag}-",
                "PIONEER_BASE_PORT": str(free_port_block(10)),
                "PIONEER_FEDERATED_PREFIX": f"e2e{tag}-",
                "PIONEER_FEDERATED_BASE_PORT": str(free_port_block(30)),
                "JWT_SECRET": f"e2e-secret-{uuid.uuid4().hex}",
                "MAX_WORKERS": "10",
                # Offers time out in seconds here, so the end-to-end run sees dispatch move on.
                "OFFER_TIMEOUT_S": "5",
                "PIONEER_DB_PREFIX": f"e2e{tag}",
                **(env_extra or {}),
            }
        )
        cli = Cli(env)
        storage = ["--db", E2E_DB] if E2E_DB else []
        more = ["--replicas", str(replicas)] if replicas > 1 else []
        result = cli("up", *(["--federated"] if federated else []), *storage, *more)
        deployments = _deployments(var)
        started.append((cli, [d.record for d in deployments.values()]))
        assert result.returncode == 0, f"pioneer up failed:\n{result.stdout}\n{result.stderr}"
        assert {d.record["database"] for d in deployments.values()} == {E2E_DB or "sqlite"}
        return cli, deployments

    yield start
    for cli, records in started:
        cli("purge")  # stops the processes and drops PostgreSQL databases, if any
        for record in records:
            e2e_admin.delete_vhost(record["vhost"])
            for user in Deployed(record, Path()).broker_users():
                e2e_admin.delete_user(user)


@pytest.fixture(scope="session")
def shared(launch) -> tuple[Cli, Deployed]:
    cli, deployments = launch(
        replicas=E2E_REPLICAS,
        # Room for each further replica's ports, 100 up (``launcher.REPLICA_PORT_STRIDE``).
        env_extra={"PIONEER_BASE_PORT": str(free_port_block(110))} if E2E_REPLICAS > 1 else None,
    )
    return cli, deployments["shared"]


@pytest.fixture(scope="session")
def federation(launch) -> tuple[Cli, dict[str, Deployed]]:
    """``pioneer up --federated``, once for the whole run."""
    return launch(federated=True)


def poll(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``wait_for`` at the pace of calls to other processes (fail on timeout)."""
    return wait_for(predicate, timeout, interval=0.1)


def published_wish(rpc, category: str, location: dict, deadline_s: float, **fields) -> dict:
    """A wish submitted and approved: ``category`` near ``location``, due in ``deadline_s``."""
    from datetime import UTC, datetime, timedelta

    wish = rpc.wishes.submit_wish(
        wish={
            "city": "cixi",
            "title": fields.pop("title", "修一下门把手"),
            "description": fields.pop("description", "门把手松了"),
            "category": category,
            "beneficiary": {"name": "钱奶奶", "phone": "13812349999", "address": "五塘新村2号"},
            "location": location,
            "deadline": (datetime.now(UTC) + timedelta(seconds=deadline_s)).isoformat(),
            **fields,
        }
    )
    rpc.wishes.review_wish(wish_id=wish["id"], approve=True)
    return wish


def claim_storm(rpc, wish_id: str, volunteers: list[str]) -> tuple[list[str], list[str]]:
    """Every volunteer claims the wish at once: the winners' ids and the refusals' types."""
    from nameko.exceptions import RemoteError

    pending = [
        rpc.wishes.claim_wish.call_async(wish_id=wish_id, volunteer_id=v) for v in volunteers
    ]
    winners, refused = [], []
    for reply in pending:
        try:
            winners.append(reply.result()["claimed_by"])
        except RemoteError as exc:
            refused.append(exc.exc_type)
    return winners, refused


def hotline_request(rpc, service: str, location: dict, **fields) -> dict:
    """``raise_request`` for ``service`` at ``location`` in cixi (normal urgency unless given)."""
    return rpc.wishes.raise_request(
        request={
            "city": "cixi",
            "service": service,
            "description": "门锁打不开",
            "location": location,
            "address": "五塘新村7号",
            "requester": {"name": "周女士", "phone": "13900003333"},
            "urgency": "normal",
            **fields,
        }
    )
