"""The container deployment files agree with the code: services, ports, config keys, topology."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import kombu
import pytest
import yaml

from pioneer.definitions import bind_peers_queues, broker_definitions
from pioneer.federation import events_exchange
from pioneer.registry import built_services, config_path, default_port
from pioneer.testing.broker import RabbitAdmin, amqp_uri_for

ROOT = Path(__file__).resolve().parents[2]


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
        assert f"{port}:{port}" in service["ports"]
        assert service["environment"]["DATABASE_URL"].endswith(f"/{name}")
        # Every variable the service's config.yml reads without a default is provided.
        required = re.findall(r"\$\{(\w+)\}", config_path(name).read_text())
        assert set(required) <= set(service["environment"]), name


def test_prometheus_scrapes_every_built_service():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name in built_services():
        assert f"{name}:{default_port(name)}" in targets
        assert f"127.0.0.1:{default_port(name)}" in targets
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert {rule["alert"] for group in alerts["groups"] for rule in group["rules"]} >= {
        "PioneerServiceDown",
        "PioneerOutboxBacklog",
        "PioneerEventsDeadLettered",
    }


def test_definitions_load_into_a_real_broker_and_the_user_can_connect():
    admin = RabbitAdmin()
    if not admin.reachable():
        pytest.fail("RabbitMQ management API not reachable (run `make broker`)")
    tag = uuid.uuid4().hex[:8]
    vhost, user, password = f"pioneer-defs-{tag}", f"pioneer-defs-{tag}", f"pw-{tag}"
    definitions = broker_definitions(built_services(), vhost, user, password)
    try:
        admin.session.post(
            f"{admin.base}/definitions", json=definitions, timeout=60
        ).raise_for_status()
        uri = amqp_uri_for(vhost).replace("guest:guest", f"{user}:{password}")
        with kombu.Connection(uri) as connection:
            connection.connect()
            channel = connection.channel()
            for queue in definitions["queues"]:
                # passive declare: fails if the queue was not created by the definitions
                channel.queue_declare(queue["name"], passive=True)
            # The one binding JSON cannot hold, then what it lets through: of two awards
            # published on points.events, only the federated copy reaches points' peers queue.
            bind_peers_queues(uri, built_services())
            peers = "evt-points-points_awarded--points.on_peer_points_awarded"
            assert {b["source"] for b in admin.bindings(vhost, peers)} == {
                "",
                "points.events.peers",
            }
            producer = kombu.Producer(channel, exchange=events_exchange("points"))
            producer.publish({"own": True}, routing_key="points_awarded")
            producer.publish(
                {"own": False},
                routing_key="points_awarded",
                headers={"x-received-from": [{"uri": "amqp://peer"}]},
            )
            queue = kombu.Queue(peers)(channel)
            received = [queue.get(no_ack=True) for _ in range(2)]
            assert [m.payload if m else None for m in received] == [{"own": False}, None]
    finally:
        admin.delete_vhost(vhost)
        admin.delete_user(user)


def test_api_reference_matches_the_code():
    from pioneer.apidocs import render

    for name in built_services():
        path = ROOT / "docs" / "api" / f"{name}.md"
        assert path.exists(), f"run `make docs` ({path} is missing)"
        assert path.read_text() == render(name), f"run `make docs` ({path} is stale)"
