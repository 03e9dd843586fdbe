"""Local deployments for ``make up``, ``make up-federated``, ``make down`` and ``make status``.

A deployment is a set of cities served by one process per built service, with its own vhost,
broker users, JWT secret, HTTP ports and SQLite files under ``var/<deployment>/``. The shared
mode is one deployment (``shared``: cixi, haining, jiaxing on vhost ``/``); the federated mode
is one deployment per city on its own vhost, with RabbitMQ federation links between them.

Broker users are least-privilege (``definitions.grants``): each service connects as
``pioneer-<deployment>-<service>``, outside systems and the CLI as ``pioneer-<deployment>-client``
(RPC only: the ``amqp_uri`` ``pioneer status`` shows), peers' federation links as
``pioneer-<deployment>-federation`` (reads the events exchanges), ops as
``pioneer-<deployment>-ops`` (management read-only). Their generated passwords are kept in the
deployment's record, ``var/<deployment>/deployment.json`` (0600), beside the JWT secret. The
broker administrator (``PIONEER_RABBIT_USER``, default ``guest``) only does the launcher's
admin work: vhosts, users, permissions, topology, federation parameters.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from . import auth, databases
from .definitions import CLIENT, FEDERATION, OPS
from .queues import events_policy
from .registry import built_services, default_port, home

AMQP_HOST = os.environ.get("PIONEER_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("PIONEER_AMQP_PORT", "5672"))
RABBIT_API = os.environ.get("PIONEER_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_ADMIN = (
    os.environ.get("PIONEER_RABBIT_USER", "guest"),
    os.environ.get("PIONEER_RABBIT_PASSWORD", "guest"),
)
FEDERATED_CITIES = ["cixi", "haining", "jiaxing"]
# Each further replica's HTTP ports: a block this far above the first replica's.
REPLICA_PORT_STRIDE = 100
MAX_REPLICAS = 9


def _process_name(service: str, replica: int) -> str:
    """``stations`` for the first replica (its files keep their names), ``stations-2`` on."""
    return service if replica == 1 else f"{service}-{replica}"


class LaunchError(Exception):
    """Something that stops ``up`` with a one-line reason."""


@dataclass
class Deployment:
    name: str
    cities: list[str]
    vhost: str
    user: str
    password: str
    secret: str
    base_port: int
    peers: list[str] = field(default_factory=list)
    # Broker users are ``<user_prefix><role>``; ``user``/``password`` are the client's, and
    # ``passwords`` holds every other role's (each service, ``federation``, ``ops``).
    user_prefix: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    # ``sqlite`` (a file per service under ``dir``) or ``postgres`` (a role and database per
    # service on the server of ``postgres_admin``, each with its password in ``db_passwords``).
    database: str = "sqlite"
    postgres_admin: str = ""
    db_prefix: str = "pioneer"
    db_passwords: dict[str, str] = field(default_factory=dict)
    # Processes per service, on the same queues (more than one needs PostgreSQL), and on
    # PostgreSQL the pool each process is given so that all of them fit the server.
    replicas: int = 1
    db_pool_size: int | None = None

    @property
    def dir(self) -> Path:
        return var_dir() / self.name

    def broker_user(self, role: str = CLIENT) -> str:
        """The broker user of ``role``: a service's name, ``client``, ``federation`` or ``ops``."""
        return self.user if role == CLIENT else f"{self.user_prefix}{role}"

    def broker_password(self, role: str = CLIENT) -> str:
        return self.password if role == CLIENT else self.passwords[role]

    def amqp_uri(self, masked: bool = False, role: str = CLIENT) -> str:
        """The broker URI of ``role``'s user (the RPC-only client's by default)."""
        password = "***" if masked and self.user != "guest" else self.broker_password(role)
        user = self.broker_user(role)
        return f"amqp://{user}:{password}@{AMQP_HOST}:{AMQP_PORT}/{quote(self.vhost, safe='')}"

    def port(self, service: str, replica: int = 1) -> int:
        """The HTTP port of a replica of the service: the deployment's block, in the
        platform's order, and a block a hundred ports up for each further replica."""
        order = built_services()
        index = order.index(service) if service in order else 9
        return self.base_port + REPLICA_PORT_STRIDE * (replica - 1) + index

    def pid_file(self, service: str, replica: int = 1) -> Path:
        return self.dir / "run" / f"{_process_name(service, replica)}.pid"

    def log_file(self, service: str, replica: int = 1) -> Path:
        return self.dir / "log" / f"{_process_name(service, replica)}.log"

    def running_replicas(self, service: str) -> list[int]:
        """The replicas of ``service`` with a pid file: as many as asked, and any left over
        from a run with more."""
        found = {1}
        for path in (self.dir / "run").glob(f"{service}-*.pid"):
            suffix = path.stem.rsplit("-", 1)[1]
            if suffix.isdigit():
                found.add(int(suffix))
        return sorted(found | set(range(1, self.replicas + 1)))

    def database_url(self, service: str) -> str:
        """The service's ``DATABASE_URL``: its SQLite file, or its own PostgreSQL database."""
        if self.database == "postgres":
            name = self.database_name(service)
            return databases.service_url(self.postgres_admin, name, self.db_passwords[service])
        return f"sqlite:///{self.dir / f'{service}.db'}"

    def database_name(self, service: str) -> str:
        """The PostgreSQL database (and role) of ``service``."""
        return databases.database_name(self.db_prefix, self.name, service)

    def save(self) -> None:
        private_dir(self.dir)
        path = self.dir / "deployment.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    def token(self, role: str, city: str, sub: str, ttl_s: int = 12 * 3600) -> str:
        return auth.issue_token(self.secret, sub, city, [role], ttl_s, self.name)


def private_dir(path: Path) -> Path:
    """``path`` (and ``var/`` above it) as directories only their owner may enter."""
    for directory in (var_dir(), path):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
    return path


def var_dir() -> Path:
    return Path(os.environ.get("PIONEER_VAR", home() / "var"))


def load_deployments() -> list[Deployment]:
    """Every deployment recorded under ``var/``."""
    found = []
    if var_dir().is_dir():
        for path in sorted(var_dir().glob("*/deployment.json")):
            found.append(Deployment(**json.loads(path.read_text())))
    return found


def load_deployment(name: str) -> Deployment:
    path = var_dir() / name / "deployment.json"
    if not path.exists():
        raise LaunchError(f"no deployment '{name}' under {var_dir()} (run `make up` first)")
    return Deployment(**json.loads(path.read_text()))


def _first_default_port() -> int:
    """Where a shared deployment's block of ports starts: the first service's own port."""
    services = built_services()
    return (default_port(services[0]) if services else None) or 8101


def local_deployment(name: str | None = None, city: str | None = None) -> Deployment:
    """A deployment of this machine: ``name``'s, else the one serving ``city`` (federated: the
    city's own), else the shared one (or the first)."""
    if name:
        return load_deployment(name)
    found = load_deployments()
    if not found:
        raise LaunchError("no local deployment under var/ (run `make up`)")
    if city is not None:
        for deployment in found:
            if city in deployment.cities:
                return deployment
    return next((d for d in found if d.name == "shared"), found[0])


def broker_roles() -> list[str]:
    """Every broker user a deployment has: the built services, client, federation, ops."""
    return [*built_services(), CLIENT, FEDERATION, OPS]


def with_broker_users(deployment: Deployment, user_prefix: str) -> Deployment:
    """``deployment`` with a generated password for every broker role it lacks one for.

    A record from before per-role users (its services connected as ``guest`` or as one user
    with every right) gets them here, under ``user_prefix``; ``prepare_vhost`` then revokes the
    old user's rights on the vhost.
    """
    if not deployment.user_prefix:
        deployment.user_prefix = user_prefix
        deployment.user = f"{user_prefix}{CLIENT}"
        deployment.password = secrets.token_urlsafe(24)
    for role in broker_roles():
        if role != CLIENT and role not in deployment.passwords:
            deployment.passwords[role] = secrets.token_urlsafe(24)
    return deployment


def on_database(deployment: Deployment, database: str | None) -> Deployment:
    """``deployment`` on ``database`` (``sqlite``/``postgres``; None keeps what it has). A
    recorded deployment keeps its engine: its data lives there (``make clean`` starts anew).
    On PostgreSQL every service gets a password for its role, a service added since too."""
    if database is not None and database != deployment.database:
        if (deployment.dir / "deployment.json").exists():
            raise LaunchError(
                f"deployment {deployment.name} runs on {deployment.database}; "
                f"`make clean` to start it anew on {database}"
            )
        if database not in databases.ENGINES:
            engines = ", ".join(databases.ENGINES)
            raise LaunchError(f"no database engine {database!r} (one of {engines})")
        deployment.database = database
        deployment.postgres_admin = databases.admin_url() if database == "postgres" else ""
        deployment.db_prefix = databases.default_prefix()
    if deployment.database == "postgres":
        for service in built_services():
            deployment.db_passwords.setdefault(service, secrets.token_urlsafe(24))
    return deployment


def with_replicas(deployment: Deployment, replicas: int | None) -> Deployment:
    """``deployment`` with ``replicas`` processes per service (None keeps what it has)."""
    if replicas is not None:
        if not 1 <= replicas <= MAX_REPLICAS:
            raise LaunchError(f"replicas must be 1 to {MAX_REPLICAS}, not {replicas}")
        deployment.replicas = replicas
    return deployment


def new_deployment(
    name: str,
    cities: list[str],
    vhost: str,
    base_port: int,
    user_prefix: str | None = None,
    secret: str | None = None,
    peers: list[str] | None = None,
) -> Deployment:
    """A deployment with fresh secrets: a JWT secret and a password per broker user."""
    prefix = f"pioneer-{name}-" if user_prefix is None else user_prefix
    return with_broker_users(
        Deployment(
            name=name,
            cities=cities,
            vhost=vhost,
            user="",
            password="",
            secret=secret or secrets.token_urlsafe(32),
            base_port=base_port,
            peers=peers or [],
        ),
        prefix,
    )


def plan_shared(database: str | None = None, replicas: int | None = None) -> list[Deployment]:
    """The one shared deployment of every city (the recorded one, or a new one)."""
    existing = {d.name: d for d in load_deployments()}
    # Overrides let a second shared deployment (the end-to-end tests) live beside the first.
    prefix = f"{os.environ.get('PIONEER_SHARED_PREFIX', '')}pioneer-shared-"
    if "shared" in existing:
        recorded = on_database(with_broker_users(existing["shared"], prefix), database)
        return [with_replicas(recorded, replicas)]
    shared = new_deployment(
        name="shared",
        cities=list(FEDERATED_CITIES),
        vhost=os.environ.get("PIONEER_SHARED_VHOST", "/"),
        base_port=int(os.environ.get("PIONEER_BASE_PORT", _first_default_port())),
        user_prefix=prefix,
        secret=os.environ.get("JWT_SECRET"),
    )
    return [with_replicas(on_database(shared, database), replicas)]


def plan_federated(database: str | None = None, replicas: int | None = None) -> list[Deployment]:
    """One deployment per city, federated (the recorded ones, or new ones)."""
    existing = {d.name: d for d in load_deployments()}
    # Overrides let the end-to-end tests run their own federation beside ``make up-federated``.
    prefix = os.environ.get("PIONEER_FEDERATED_PREFIX", "")
    base_port = int(os.environ.get("PIONEER_FEDERATED_BASE_PORT", "8111"))
    plans = []
    for index, city in enumerate(FEDERATED_CITIES):
        user_prefix = f"{prefix}pioneer-{city}-"
        if city in existing:
            recorded = on_database(with_broker_users(existing[city], user_prefix), database)
            plans.append(with_replicas(recorded, replicas))
            continue
        made = new_deployment(
            name=city,
            cities=[city],
            vhost=f"{prefix}{city}",
            base_port=base_port + 10 * index,
            user_prefix=user_prefix,
            peers=[c for c in FEDERATED_CITIES if c != city],
        )
        plans.append(with_replicas(on_database(made, database), replicas))
    return plans


# --- processes --------------------------------------------------------------------------------


def _pid(deployment: Deployment, service: str, replica: int = 1) -> int | None:
    path = deployment.pid_file(service, replica)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # reap our own exited child so a zombie does not look alive
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass  # not our child: os.kill above was the whole check
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        return pid
    except OSError:
        return pid


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def service_env(deployment: Deployment, service: str, replica: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    if deployment.db_pool_size is not None:
        env["DB_POOL_SIZE"] = str(deployment.db_pool_size)
    env.update(
        {
            "PIONEER_HOME": str(home()),
            "DEPLOYMENT": deployment.name,
            "CITIES": ",".join(deployment.cities),
            "AMQP_URI": deployment.amqp_uri(role=service),  # the service's own broker user
            "DATABASE_URL": deployment.database_url(service),
            "JWT_SECRET": deployment.secret,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{deployment.port(service, replica)}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_service(deployment: Deployment, service: str, replica: int = 1) -> int:
    """Start one replica of a service in the background (no-op if it runs); return its pid."""
    running = _pid(deployment, service, replica)
    if running:
        return running
    port = deployment.port(service, replica)
    name = _process_name(service, replica)
    if not _port_free(port):
        raise LaunchError(f"port {port} for {deployment.name}/{name} is taken by another process")
    private_dir(deployment.dir / "run")
    private_dir(deployment.dir / "log")
    log_path = deployment.log_file(service, replica)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(log_fd, "ab") as log:  # the child keeps its own fd
        process = subprocess.Popen(
            [sys.executable, "-m", "pioneer.serve", service],
            env=service_env(deployment, service, replica),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(home()),
            umask=0o077,  # its databases, logs and pid files are the deployment's alone
        )
    deployment.pid_file(service, replica).write_text(str(process.pid))
    return process.pid


def wait_until_answering(deployment: Deployment, services: list[str], timeout: float = 90) -> None:
    """Block until every service answers ``ping`` over RPC (or fail naming the one that did not)."""
    from .rpcclient import RpcClient

    deadline = time.monotonic() + timeout
    pending = list(services)
    client = None
    try:
        while pending:
            service = pending[0]
            _require_running(deployment, service)
            if client is None:
                client = RpcClient(deployment.amqp_uri(), timeout=3)
            try:
                client.call(service, "ping")
                pending.pop(0)
                continue
            except Exception:
                client.close()
                client = None
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{deployment.name}/{service} did not answer ping within {timeout:.0f}s "
                    f"(see {deployment.log_file(service)})"
                )
            time.sleep(0.5)
    finally:
        if client is not None:
            client.close()
    # Any replica answers a ping; each further one must also say it is healthy itself.
    for service in services:
        for replica in range(2, deployment.replicas + 1):
            while not _healthy(deployment.port(service, replica)):
                _require_running(deployment, service)
                if time.monotonic() > deadline:
                    raise LaunchError(
                        f"{deployment.name}/{_process_name(service, replica)} was not healthy"
                        f" within {timeout:.0f}s (see {deployment.log_file(service, replica)})"
                    )
                time.sleep(0.5)


def _require_running(deployment: Deployment, service: str) -> None:
    """``LaunchError`` with the last log lines if a replica of ``service`` has exited."""
    for replica in range(1, deployment.replicas + 1):
        if _pid(deployment, service, replica) is None:
            tail = _tail(deployment.log_file(service, replica), 5)
            name = _process_name(service, replica)
            raise LaunchError(
                f"{deployment.name}/{name} exited during start-up; last log lines:\n{tail}"
            )


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def stop_deployment(deployment: Deployment, timeout: float = 30) -> list[str]:
    """SIGTERM every replica of every service of the deployment, wait for them, SIGKILL what
    remains; the services (``stations``) and further replicas (``stations-2``) stopped."""
    stopped = []
    pids = {
        (service, replica): _pid(deployment, service, replica)
        for service in reversed(built_services())
        for replica in deployment.running_replicas(service)
    }
    for pid in pids.values():
        if pid:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for (service, replica), pid in pids.items():
        if not pid:
            deployment.pid_file(service, replica).unlink(missing_ok=True)  # stale, if any
            continue
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        deployment.pid_file(service, replica).unlink(missing_ok=True)
        stopped.append(_process_name(service, replica))
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as gone
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- broker -----------------------------------------------------------------------------------


def _api(method: str, path: str, body: Any = None) -> requests.Response:
    try:
        response = requests.request(
            method, f"{RABBIT_API}/{path}", json=body, auth=RABBIT_ADMIN, timeout=30
        )
    except requests.RequestException as exc:
        raise LaunchError(
            f"RabbitMQ management API not reachable at {RABBIT_API} ({exc.__class__.__name__})"
        ) from None
    if response.status_code >= 400 and not (method == "DELETE" and response.status_code == 404):
        raise LaunchError(
            f"RabbitMQ API {method} {path}: {response.status_code} {response.text[:200]}"
        )
    return response


def prepare_vhost(deployment: Deployment) -> None:
    """Vhost, the deployment's least-privilege users (and no other user's rights on the vhost
    but the administrator's), then the topology pre-declared from the code."""
    from .definitions import bind_peers_queues, grants, topology

    vhost = quote(deployment.vhost, safe="")
    _api("PUT", f"vhosts/{vhost}")
    _api(
        "PUT",
        f"permissions/{vhost}/{quote(RABBIT_ADMIN[0], safe='')}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    services = built_services()
    expected = {RABBIT_ADMIN[0]}
    for role, grant in grants(services).items():
        user = quote(deployment.broker_user(role), safe="")
        expected.add(deployment.broker_user(role))
        _api(
            "PUT",
            f"users/{user}",
            {"password": deployment.broker_password(role), "tags": ",".join(grant.tags)},
        )
        _api(
            "PUT",
            f"permissions/{vhost}/{user}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        _api("DELETE", f"topic-permissions/{vhost}/{user}")
        for exchange, (write, read) in sorted(grant.topics.items()):
            _api(
                "PUT",
                f"topic-permissions/{vhost}/{user}",
                {"exchange": exchange, "write": write, "read": read},
            )
    # Whoever else had rights here (guest or the one all-powerful user of an older record)
    # loses them: the vhost's users are exactly the deployment's.
    for entry in _api("GET", f"vhosts/{vhost}/permissions").json():
        if entry["user"] not in expected:
            _api("DELETE", f"permissions/{vhost}/{quote(entry['user'], safe='')}")
            _api("DELETE", f"topic-permissions/{vhost}/{quote(entry['user'], safe='')}")
    try:
        _api("POST", f"definitions/{vhost}", topology(services))
    except LaunchError as exc:
        if "inequivalent" not in str(exc):
            raise
        raise LaunchError(
            f"{deployment.name}: its queues on the broker were declared otherwise ({exc});"
            " queues made as classic queues stay classic: `make clean` starts the deployment"
            " anew, or drain, delete and re-create them (deploy/README.md)"
        ) from None
    for service in services:  # each service declares its own peers-only routes
        bind_peers_queues(deployment.amqp_uri(role=service), [service])


def prepare_databases(deployment: Deployment) -> None:
    """On PostgreSQL, each service's own role and database (SQLite files need nothing)."""
    if deployment.database != "postgres":
        return
    try:
        databases.provision(
            deployment.postgres_admin,
            {deployment.database_name(s): pw for s, pw in deployment.db_passwords.items()},
        )
    except Exception as exc:
        raise LaunchError(
            f"PostgreSQL at {deployment.postgres_admin.rsplit('@', 1)[-1]} refused the"
            f" deployment's databases ({type(exc).__name__}: {str(exc).strip()[:200]});"
            " run `make postgres` or set PIONEER_POSTGRES"
        ) from exc


def drop_databases(deployment: Deployment) -> None:
    """On PostgreSQL, drop the deployment's databases and roles (its data goes with them)."""
    if deployment.database == "postgres":
        names = [deployment.database_name(service) for service in deployment.db_passwords]
        databases.drop(deployment.postgres_admin, names)


def link_federation(deployments: list[Deployment]) -> None:
    """In each city's vhost, federate every ``<service>.events`` exchange from the other cities."""
    by_name = {d.name: d for d in deployments}
    for deployment in deployments:
        vhost = quote(deployment.vhost, safe="")
        for peer_name in deployment.peers:
            peer = by_name[peer_name]
            _api(
                "PUT",
                f"parameters/federation-upstream/{vhost}/{peer.name}",
                {
                    "value": {
                        # the peer's federation user, which only reads its events exchanges
                        "uri": peer.amqp_uri(role=FEDERATION),
                        "max-hops": 1,
                        "ack-mode": "on-confirm",
                        "trust-user-id": False,
                    }
                },
            )
        # The events exchanges' policies, now with federation (one policy per exchange).
        for service in built_services():
            name, policy = events_policy(service, federated=True)
            _api("PUT", f"policies/{vhost}/{name}", policy)
        # A single federate-events policy would compete with these: one policy per exchange.
        _api("DELETE", f"policies/{vhost}/federate-events")


def up(deployments: list[Deployment], services: list[str] | None = None) -> None:
    """Prepare the broker, start every built service of every deployment, wait for pings."""
    services = services or built_services()
    if not services:
        raise LaunchError("no service is installed (run `make venv`)")
    for deployment in deployments:
        if deployment.replicas > 1 and deployment.database != "postgres":
            raise LaunchError(
                f"{deployment.replicas} replicas need PostgreSQL (`make up DB=postgres"
                f" REPLICAS={deployment.replicas}`): a SQLite file serves one process"
            )
    fit_connections(deployments, services)
    for deployment in deployments:
        deployment.save()
        prepare_vhost(deployment)
        prepare_databases(deployment)
    if len(deployments) > 1:
        link_federation(deployments)
    for deployment in deployments:
        for service in services:
            for replica in range(1, deployment.replicas + 1):
                start_service(deployment, service, replica)
    for deployment in deployments:
        wait_until_answering(deployment, services)


def fit_connections(deployments: list[Deployment], services: list[str]) -> None:
    """Size the pools of the deployments on PostgreSQL so that every replica of every service
    fits the server at its worst (``databases.fit_pools``), or refuse with the arithmetic. An
    explicit ``DB_POOL_SIZE`` is kept and checked; otherwise ``MAX_WORKERS`` + 4 (as a process
    sizes its own pool) or less. Deployments on one server share its connections."""
    from .config import KernelSettings, default_pool_size

    on_postgres = [d for d in deployments if d.database == "postgres"]
    if not on_postgres:
        return
    fixed = os.environ.get("DB_POOL_SIZE")
    workers = os.environ.get("MAX_WORKERS") or KernelSettings.model_fields["max_workers"].default
    wanted = int(fixed) if fixed else default_pool_size(int(workers))
    for admin in sorted({d.postgres_admin for d in on_postgres}):
        sharing = [d for d in on_postgres if d.postgres_admin == admin]
        ours = [d.database_name(s) for d in sharing for s in d.db_passwords]
        processes = sum(len(services) * d.replicas for d in sharing)
        try:
            free = databases.free_connections(admin, ours)
            pool = databases.fit_pools(free, processes, wanted, fixed=bool(fixed))
        except ValueError as exc:
            raise LaunchError(str(exc)) from None
        except Exception as exc:
            raise LaunchError(
                f"PostgreSQL at {admin.rsplit('@', 1)[-1]} did not answer ({type(exc).__name__});"
                " run `make postgres` or set PIONEER_POSTGRES"
            ) from exc
        for deployment in sharing:
            deployment.db_pool_size = pool


def status() -> dict[str, Any]:
    """The contract's ``pioneer status --json`` document."""
    report = []
    for deployment in load_deployments():
        services, replicas_of = {}, {}
        for service in built_services():
            replicas = []
            for replica in deployment.running_replicas(service):
                pid = _pid(deployment, service, replica)
                port = deployment.port(service, replica)
                ok = bool(pid) and _healthy(port)
                replicas.append(
                    {"replica": replica, "http": f"http://127.0.0.1:{port}", "ok": ok, "pid": pid}
                )
            first = replicas[0]
            services[service] = {"http": first["http"], "ok": first["ok"], "pid": first["pid"]}
            replicas_of[service] = replicas
        report.append(
            {
                "name": deployment.name,
                "cities": deployment.cities,
                "amqp_uri": deployment.amqp_uri(masked=True),
                "services": services,
                "replicas": replicas_of,
            }
        )
    return {"deployments": report}
