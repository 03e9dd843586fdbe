"""The broker as a cluster would run it, on a real vhost prepared by ``pioneer up``'s broker
work: every durable queue of the topology is a quorum queue, and an event no queue takes lands
in ``<service>.unrouted`` (the events exchange's alternate exchange) instead of vanishing,
while the types no Pioneer service consumes go to ``<service>.outside`` by declaration."""

from __future__ import annotations

import time

from kombu import Connection, Exchange, Producer

from pioneer import db, launcher
from pioneer.registry import built_services

CONSUMED = "volunteer_checked_in"  # stations publishes it, points consumes it
CONSUMER_QUEUE = f"evt-stations-{CONSUMED}--points.on_volunteer_checked_in"
UNCONSUMED = "post_claimed"  # stations publishes it, no Pioneer service consumes it


def messages(admin, vhost: str, queue: str, expected: int, timeout: float = 10.0) -> int:
    """The queue's message count once it reads ``expected`` (the management API's figures
    lag the broker by a few seconds), or the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        count = admin.queue(vhost, queue).get("messages", 0)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def test_durable_queues_are_quorum_and_an_event_no_queue_takes_is_kept(
    rabbit_admin, vhost, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIONEER_VAR", str(tmp_path))
    deployment = launcher.new_deployment("unrouted", ["cixi"], vhost, 8101, f"{vhost}-")
    users = [deployment.broker_user(role) for role in launcher.broker_roles()]
    try:
        launcher.prepare_vhost(deployment)
        queues = {queue["name"]: queue for queue in rabbit_admin.queues(vhost)}
        assert CONSUMER_QUEUE in queues and "stations.unrouted" in queues
        assert {q.get("type") for q in queues.values() if q["durable"]} == {"quorum"}
        for service in built_services():
            assert f"{service}.unrouted" in queues and f"{service}.dlq" in queues

        def publish(event_type: str) -> None:
            # As the stations service publishes: its own broker user, its own exchange.
            with Connection(deployment.amqp_uri(role="stations")) as connection:
                Producer(connection.channel()).publish(
                    db.envelope(event_type, "cixi", "cixi", {}),
                    exchange=Exchange("stations.events", type="topic", durable=True),
                    routing_key=event_type,
                    declare=[],
                )

        # Routed as the topology says: to its consumer's queue, nothing unrouted.
        publish(CONSUMED)
        assert messages(rabbit_admin, vhost, CONSUMER_QUEUE, 1) == 1
        # A type nobody here consumes: routed to <service>.outside on purpose, not parked.
        publish(UNCONSUMED)
        # Its consumer's queue gone (deleted by hand, a service not deployed): kept, not lost.
        rabbit_admin.delete_queue(vhost, CONSUMER_QUEUE)
        publish(CONSUMED)
        assert messages(rabbit_admin, vhost, "stations.unrouted", 1) == 1
    finally:
        for user in users:
            rabbit_admin.delete_user(user)
