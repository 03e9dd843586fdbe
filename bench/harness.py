"""The deployment under measurement: the echo service and the measured services as separate
processes on a fresh vhost, and what every phase of the bench asks of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from nameko.standalone.rpc import ClusterRpcProxy

from pioneer import auth
from pioneer.testing.broker import RabbitAdmin, amqp_uri_for
from pioneer.testing.ports import free_port_block

from .load import RawLoad, broker_pid, processes_named
from .measure import Clients
from .pgstat import PgStatements

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"


class Bench:
    """The processes under test and their broker vhost; cleaned up by ``close``."""

    def __init__(
        self,
        concurrency: int,
        raw_processes: int = 2,
        raw_inflight: int = 25,
        profile: bool = False,
        database: str = "sqlite",
        replicas: int = 1,
    ) -> None:
        from pioneer import launcher

        self.launcher = launcher
        self.concurrency = concurrency
        self.raw_processes = raw_processes
        self.raw_inflight = raw_inflight
        self.profile = profile
        self.database = database
        self.services: list[str] = []
        self.admin = RabbitAdmin()
        if not self.admin.reachable():
            sys.exit("bench: RabbitMQ management API not reachable (run `make broker`)")
        run_dir = OUT / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        os.environ["PIONEER_VAR"] = str(run_dir)
        tag = uuid.uuid4().hex[:8]
        # Its own least-privilege users, as `make up` gives a deployment.
        self.deployment = launcher.new_deployment(
            name="bench",
            cities=["cixi", "haining", "jiaxing"],
            vhost=f"pioneer-bench-{tag}",
            base_port=free_port_block(10),
            user_prefix=f"pioneer-bench-{tag}-",
        )
        self.deployment = launcher.with_replicas(
            launcher.on_database(self.deployment, database), replicas
        )
        self.deployment.db_prefix = f"bench{tag}"  # its own databases on PostgreSQL
        self.deployment.save()
        launcher.prepare_databases(self.deployment)
        self.statements = (
            PgStatements.open(self.deployment.postgres_admin, self.deployment.db_prefix)
            if database == "postgres"
            else None
        )
        self.amqp_uri = self.deployment.amqp_uri()
        self.admin_uri = amqp_uri_for(
            self.deployment.vhost, user=launcher.RABBIT_ADMIN[0], password=launcher.RABBIT_ADMIN[1]
        )
        self.echo: subprocess.Popen | None = None

    def start(self, services: list[str]) -> None:
        self.launcher.prepare_vhost(self.deployment)
        log = open(self.deployment.dir / "echo.log", "ab")  # noqa: SIM115 (child keeps it)
        self.echo = subprocess.Popen(
            # The echo service is no Pioneer service, so it has no user of its own: it runs as
            # the broker administrator.
            [sys.executable, "-m", "nameko", "run", "--broker", self.admin_uri, "bench.echo"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.services = list(services)
        # Every replica's pool fits the server, as `pioneer up` makes them fit.
        self.launcher.fit_connections([self.deployment], services)
        self.deployment.save()
        for service in services:
            for replica in range(1, self.deployment.replicas + 1):
                self.launcher.start_service(self.deployment, service, replica)
        self.launcher.wait_until_answering(self.deployment, services)
        with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=5) as rpc:
            deadline = time.monotonic() + 60
            while True:
                try:
                    rpc.echo.echo(1)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def quiesce(self, timeout_s: float = 300.0) -> None:
        """Wait until every event queue of the run is empty, so a measurement does not share
        the cores with consumers still working off an earlier phase (seeding, registrations).
        The management API refreshes its counts every few seconds, so two readings must agree;
        dead-letter and retry queues are not work in progress."""
        started = time.monotonic()
        quiet_readings = 0
        while quiet_readings < 2:
            busy = [
                queue["name"]
                for queue in self.admin.queues(self.deployment.vhost)
                if queue.get("messages", 0)
                and queue.get("consumers", 0)  # a service not started here (``--only``) waits
                and not queue["name"].endswith(".dlq")
                and ".retry." not in queue["name"]
            ]
            quiet_readings = 0 if busy else quiet_readings + 1
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"queues still busy after {timeout_s:.0f} s: {busy[:5]}")
            time.sleep(2.5)
        print(f"  queues quiet after {time.monotonic() - started:.1f} s", flush=True)

    def token(self, role: str, city: str) -> str:
        secret, name = self.deployment.secret, self.deployment.name
        return "Bearer " + auth.issue_token(secret, "bench", city, [role], 7200, name)

    def clients(self, authorization: str | None) -> Clients:
        return Clients(self.amqp_uri, authorization, self.concurrency)

    def raw(self) -> RawLoad:
        """The raw load generator (client processes speaking nameko's protocol) on this run."""
        return RawLoad(
            self.amqp_uri,
            self.server_pids,
            OUT / "run" / "load",
            self.raw_processes,
            self.raw_inflight,
            OUT / "profiles" if self.profile else None,
            self.statements,
        )

    def server_pids(self) -> dict[str, int | None]:
        """Every process a call can make work for: the services, echo, the broker and, on
        PostgreSQL, every process of the local server (its backends serve the services)."""
        pids: dict[str, int | None] = {"echo": self.pid("echo")}
        for service in self.services:
            for replica, pid in enumerate(self.pids(service), start=1):
                pids[service if replica == 1 else f"{service}-{replica}"] = pid
        if self.database == "postgres":
            pids.update({f"postgres:{pid}": pid for pid in processes_named("postgres")})
        return {**pids, "rabbitmq": broker_pid()}

    def pid(self, service: str) -> int | None:
        """The (first) process serving ``service``."""
        if service == "echo":
            return self.echo.pid if self.echo else None
        return self.launcher._pid(self.deployment, service)

    def pids(self, service: str) -> list[int]:
        """Every process serving ``service``, one per replica (for its CPU time per call)."""
        if service == "echo":
            return [self.echo.pid] if self.echo else []
        found = (
            self.launcher._pid(self.deployment, service, replica)
            for replica in range(1, self.deployment.replicas + 1)
        )
        return [pid for pid in found if pid is not None]

    def close(self) -> None:
        self.launcher.stop_deployment(self.deployment)
        if self.echo is not None:
            self.echo.terminate()
            self.echo.wait(30)
        if self.statements is not None:
            self.statements.close()
        self.launcher.drop_databases(self.deployment)
        self.admin.delete_vhost(self.deployment.vhost)
        for role in self.launcher.broker_roles():
            self.admin.delete_user(self.deployment.broker_user(role))
