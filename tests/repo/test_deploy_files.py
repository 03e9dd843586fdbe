"""The container deployment files agree with the code: services, ports, config keys, topology,
and the least-privilege model: a broker user and a database role per service, every password
from the environment, no management or database port published."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import amqp
import kombu
import psycopg2
import pytest
import yaml

from pioneer.definitions import bind_peers_queues, broker_definitions, grants
from pioneer.federation import events_exchange
from pioneer.manifests import KUBERNETES_VERSION, kustomization, manifests, render
from pioneer.registry import built_services, config_path, default_port
from pioneer.testing.broker import RabbitAdmin, amqp_uri_for
from pioneer.testing.databases import POSTGRES, postgres_available

ROOT = Path(__file__).resolve().parents[2]
ROLES = [*built_services(), "client", "federation", "ops"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_checked_in_definitions_match_the_code():
    checked_in = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    assert checked_in == broker_definitions(built_services()), "run `make definitions`"


def test_compose_runs_every_built_service_with_its_port_and_config():
    services = compose()["services"]
    assert {"rabbitmq", "postgres", "prometheus"} <= set(services)
    for name in built_services():
        service = services[name]
        port = default_port(name)
        assert service["build"]["args"]["SERVICE"] == name
        assert service["environment"]["WEB_SERVER_ADDRESS"] == f"0.0.0.0:{port}"
        # No fixed host port, so `docker compose up --scale <service>=N` can run replicas.
        assert "ports" not in service
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["DATABASE_URL"].endswith(f"/{name}")
        # Every variable the service's config.yml reads without a default is provided.
        required = re.findall(r"\$\{(\w+)\}", config_path(name).read_text())
        assert set(required) <= set(service["environment"]), name


def test_prometheus_scrapes_every_replica_of_every_built_service_and_alerts():
    # In compose, every replica a service name resolves to; beside `make up`, the local ports.
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [pioneer] = [job for job in config["scrape_configs"] if job["job_name"] == "pioneer"]
    found = {(sd["names"][0], sd["port"]) for sd in pioneer["dns_sd_configs"]}
    assert found == {(name, default_port(name)) for name in built_services()}
    assert not any("127.0.0.1" in json.dumps(job) for job in config["scrape_configs"])
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    assert "alertmanager" in compose()["services"]
    routes = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    assert routes["route"]["receiver"] in {r["name"] for r in routes["receivers"]}
    local = yaml.safe_load((ROOT / "deploy/prometheus/local.yml").read_text())
    targets = {
        t for job in local["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    for name in built_services():
        assert f"127.0.0.1:{default_port(name)}" in targets
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert {rule["alert"] for group in alerts["groups"] for rule in group["rules"]} >= {
        "PioneerServiceDown",
        "PioneerOutboxBacklog",
        "PioneerEventsDeadLettered",
    }


def test_compose_requires_every_secret_and_publishes_no_management_or_database_port():
    text = (ROOT / "docker-compose.yml").read_text()
    secret = re.compile(r"\$\{(\w*(?:PASSWORD|SECRET)\w*)(:[?-])")
    found = secret.findall(text)
    assert found and {mark for _, mark in found} == {":?"}, "a secret with a default"
    services = compose()["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert not [port for port in published if re.search(r"\b(15672|15692|5432)\b", port)]
    assert services["rabbitmq"]["ports"] == ["5672:5672"]
    assert "ports" not in services["postgres"]
    # the broker's users get their passwords from here, each one required
    env = services["rabbitmq"]["environment"]
    for role in ROLES:
        var = f"RABBITMQ_{role.upper()}_PASSWORD"
        assert env[var].startswith(f"${{{var}:?"), var


def test_each_compose_service_connects_as_its_own_broker_user_and_database_role():
    services = compose()["services"]
    postgres_env = services["postgres"]["environment"]
    for name in built_services():
        env = services[name]["environment"]
        broker, database = f"RABBITMQ_{name.upper()}_PASSWORD", f"{name.upper()}_DB_PASSWORD"
        assert (
            env["AMQP_URI"] == f"amqp://pioneer-{name}:${{{broker}:?set {broker}}}@rabbitmq:5672/"
        )
        assert env["DATABASE_URL"] == (
            f"postgresql+psycopg2://{name}:${{{database}:?set {database}}}@postgres:5432/{name}"
        )
        assert postgres_env[database] == f"${{{database}:?set {database}}}"
        # no other service's password reaches this one
        others = {f"RABBITMQ_{o.upper()}_PASSWORD" for o in ROLES if o != name}
        assert not [v for v in others if v in json.dumps(env)], name


def test_definitions_carry_every_role_without_a_password_and_no_administrator():
    checked_in = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    assert {u["name"] for u in checked_in["users"]} == {f"pioneer-{role}" for role in ROLES}
    assert {u["password_hash"] for u in checked_in["users"]} == {""}
    assert {tag for u in checked_in["users"] for tag in u["tags"]} == {"monitoring"}
    assert not [p for p in checked_in["permissions"] if ".*" in (p["configure"], p["write"])]
    script = (ROOT / "deploy/rabbitmq/set-passwords.sh").read_text()
    [listed] = re.findall(r"for role in ([\w ]+); do", script)
    assert listed.split() == list(grants(built_services())), "set-passwords.sh's roles"


def test_definitions_load_into_a_real_broker_and_passwords_come_from_the_environment():
    """The checked-in kind of definitions (users under a test prefix) into the real broker:
    nobody can log in until deploy/rabbitmq/set-passwords.sh, as the compose entrypoint runs
    it, sets each password from the environment; then each user has its role only."""
    admin = RabbitAdmin()
    if not admin.reachable():
        pytest.fail("RabbitMQ management API not reachable (run `make broker`)")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on this machine (set-passwords.sh needs it)")
    tag = uuid.uuid4().hex[:8]
    vhost, prefix = f"pioneer-defs-{tag}", f"pioneer-defs-{tag}-"
    definitions = broker_definitions(built_services(), vhost, prefix)
    passwords = {role: secrets.token_hex(16) for role in ROLES}

    def uri(role: str) -> str:
        return amqp_uri_for(vhost, user=f"{prefix}{role}", password=passwords[role])

    try:
        admin.session.post(
            f"{admin.base}/definitions", json=definitions, timeout=60
        ).raise_for_status()
        with pytest.raises(amqp.exceptions.AccessRefused):
            kombu.Connection(uri("points")).connect()
        env = {**os.environ, "PIONEER_USER_PREFIX": prefix}
        env.update({f"RABBITMQ_{role.upper()}_PASSWORD": pw for role, pw in passwords.items()})
        done = subprocess.run(
            ["sh", str(ROOT / "deploy/rabbitmq/set-passwords.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with kombu.Connection(amqp_uri_for(vhost)) as connection:  # the administrator's
            channel = connection.channel()
            for queue in definitions["queues"]:
                # passive declare: fails if the queue was not created by the definitions
                channel.queue_declare(queue["name"], passive=True)
        # The one binding JSON cannot hold, declared by points' own user, then what it lets
        # through: of two awards on points.events, only the federated copy reaches the queue.
        bind_peers_queues(uri("points"), ["points"])
        peers = "evt-points-points_awarded--points.on_peer_points_awarded"
        assert {b["source"] for b in admin.bindings(vhost, peers)} == {
            "",
            "points.events.peers",
            "points.retry",
        }
        with kombu.Connection(uri("points")) as connection:
            channel = connection.channel()
            producer = kombu.Producer(channel, exchange=events_exchange("points"))
            producer.publish({"own": True}, routing_key="points_awarded")
            producer.publish(
                {"own": False},
                routing_key="points_awarded",
                headers={"x-received-from": [{"uri": "amqp://peer"}]},
            )
            queue = kombu.Queue(peers)(channel)
            # A quorum queue takes a publish once its log has it: wait for the first message.
            deadline = time.monotonic() + 10
            while (first := queue.get(no_ack=True)) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # time enough for the other one, were it let through
            received = [first, queue.get(no_ack=True)]
            assert [m.payload if m else None for m in received] == [{"own": False}, None]
        client = kombu.Connection(uri("client"))  # RPC only
        with client, pytest.raises(amqp.exceptions.AccessRefused):
            client.channel().basic_publish_confirm(
                amqp.Message("{}"), exchange="points.events", routing_key="points_awarded"
            )
    finally:
        admin.delete_vhost(vhost)
        for role in ROLES:
            admin.delete_user(f"{prefix}{role}")


def test_init_sql_gives_each_service_its_own_role_and_database(tmp_path):
    """deploy/postgres/init.sql as the postgres image runs it (psql, passwords in the
    environment), under test names: each role owns its database and cannot enter another's."""
    if reason := postgres_available():
        pytest.skip(reason)
    if shutil.which("psql") is None:
        pytest.skip("psql is not on this machine")
    tag = uuid.uuid4().hex[:8]
    names = {name: f"t{tag}_{name}" for name in built_services()}
    script = (ROOT / "deploy/postgres/init.sql").read_text()
    for name, test_name in names.items():
        script = re.sub(rf"\b{name}\b", test_name, script)
    path = tmp_path / "init.sql"
    path.write_text(script)
    env = {**os.environ, **{f"{n.upper()}_DB_PASSWORD": secrets.token_hex(8) for n in names}}
    superuser = psycopg2.connect(POSTGRES)
    superuser.autocommit = True
    try:
        done = subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", POSTGRES, "-f", str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with superuser.cursor() as cur:
            cur.execute(
                "SELECT d.datname, r.rolname, a.rolpassword IS NOT NULL, a.rolsuper"
                " FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
                " JOIN pg_authid a ON a.oid = r.oid WHERE d.datname LIKE %s",
                (f"t{tag}_%",),
            )
            owners = {row[0]: row[1:] for row in cur.fetchall()}
        assert owners == {n: (n, True, False) for n in names.values()}
        base = POSTGRES.split("://", 1)[1].split("@", 1)[1].rsplit("/", 1)[0]
        stations, points = names["stations"], names["points"]
        own = psycopg2.connect(f"postgresql://{stations}@{base}/{stations}")
        with own, own.cursor() as cur:  # the owner creates its tables
            cur.execute("CREATE TABLE t (id int)")
        own.close()
        with pytest.raises(psycopg2.OperationalError, match="permission denied"):
            psycopg2.connect(f"postgresql://{stations}@{base}/{points}")
    finally:
        with superuser.cursor() as cur:
            for test_name in names.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
                cur.execute(f'DROP ROLE IF EXISTS "{test_name}"')
        superuser.close()


def test_api_reference_matches_the_code():
    from pioneer.apidocs import render

    for name in built_services():
        path = ROOT / "docs" / "api" / f"{name}.md"
        assert path.exists(), f"run `make docs` ({path} is missing)"
        assert path.read_text() == render(name), f"run `make docs` ({path} is stale)"


def test_every_event_a_service_publishes_or_consumes_has_its_data_model_in_the_contract():
    from pioneer.definitions import handler_bindings
    from pioneer.event_contract import DATA_OF
    from pioneer.registry import service_class

    for name in built_services():
        published = getattr(service_class(name), "publishes", ())
        assert published, f"{name} declares no `publishes`"
        assert set(published) <= set(DATA_OF), f"{name}: {set(published) - set(DATA_OF)}"
        consumed = {b["routing_key"] for b in handler_bindings(name)}
        assert consumed <= set(DATA_OF), f"{name} consumes {consumed - set(DATA_OF)}"


def test_compose_file_dockerfile_and_kubernetes_manifests_pass_their_validators():
    """docker-compose.yml against the Compose Specification's schema, the Dockerfile through
    hadolint, every Kubernetes manifest against the API's schemas (strict: no unknown field)."""
    tools = Path(sys.executable).parent  # the venv's bin: make venv installs the three
    runs = [
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        ["hadolint", "deploy/Dockerfile"],
        [
            "kubernetes-validate",
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            *sorted(f"deploy/k8s/{name}" for name in manifests()),
        ],
    ]
    for command in runs:
        done = subprocess.run(
            [str(tools / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command[0]}: {done.stdout}{done.stderr}"


def test_checked_in_kubernetes_manifests_match_the_code():
    for name, documents in {**manifests(), "kustomization.yaml": [kustomization()]}.items():
        checked_in = ROOT / "deploy/k8s" / name
        assert checked_in.exists() and checked_in.read_text() == render(documents), (
            f"deploy/k8s/{name}: run `make manifests`"
        )
    # Every service runs more than once, healthy before traffic, with the pool it may hold.
    for service in built_services():
        [pods, front, budget, scaler] = manifests()[f"{service}.yaml"]
        assert scaler["spec"]["scaleTargetRef"]["name"] == service
        assert pods["spec"]["replicas"] >= 2 and budget["spec"]["maxUnavailable"] == 1
        assert front["spec"]["ports"][0]["port"] == default_port(service)
        container = pods["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"][0]["containerPort"] == default_port(service)
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        required = re.findall(r"\$\{(\w+)\}", config_path(service).read_text())
        assert set(required) <= {e["name"] for e in container["env"]}, service


def _strict(schema: Any) -> Any:
    """A CRD's schema that refuses undeclared fields (Kubernetes would prune them silently)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        isinstance(strict.get("properties"), dict)
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def test_operator_resources_validate_against_the_operators_crds():
    """The RabbitmqCluster, CloudNativePG Cluster and Databases against the operators' own
    CRDs (tests/repo/crds), and no other kind in the manifests Kubernetes does not know."""
    import jsonschema

    schemas = {}
    for path in (ROOT / "tests/repo/crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = _strict(version["schema"]["openAPIV3Schema"])
    custom = [
        document
        for documents in manifests().values()
        for document in documents
        if "." in document["apiVersion"].split("/")[0]
        and not document["apiVersion"].startswith(("apps/", "policy/", "autoscaling/"))
    ]
    assert {d["kind"] for d in custom} == {"RabbitmqCluster", "Cluster", "Database"}
    for document in custom:
        schema = schemas[(document["apiVersion"], document["kind"])]
        jsonschema.validate(document, schema)
    # The broker loads the very definitions the code makes.
    [config, _] = manifests()["rabbitmq.yaml"]
    assert json.loads(config["data"]["definitions.json"]) == broker_definitions(built_services())
