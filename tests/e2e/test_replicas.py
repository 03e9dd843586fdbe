"""Two replicas of every service on PostgreSQL (``pioneer up --db postgres --replicas 2``), as
outside systems and peers see them: a claim storm has one winner, every event is published
once, the timers (wish expiry, offer timeouts, complaint retries, webhook deliveries) act once
whichever replica fires, and a replica killed with SIGKILL mid-stream loses and doubles nothing.

Runs in the PostgreSQL pass of the end-to-end layer (``PIONEER_E2E_DB=postgres``): on SQLite a
deployment has one process per service.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import uuid
from collections import Counter

import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import event_dispatcher
from sqlalchemy import create_engine, text

from pioneer import db, ids
from pioneer.testing.ports import free_port_block
from pioneer.testing.receiver import Receiver

from .conftest import E2E_DB, claim_storm, hotline_request, poll, published_wish

pytestmark = pytest.mark.skipif(
    E2E_DB != "postgres", reason="replicas need PostgreSQL: the PostgreSQL pass runs these"
)

SERVICES = ["stations", "volunteers", "wishes", "points", "notify"]
# Kandun street, Cixi: a circle of its own, away from the other end-to-end tests' volunteers.
KANDUN = {"lat": 30.2130, "lon": 121.3010}


@pytest.fixture(scope="module")
def replicated_cli(launch):
    """One shared deployment, two processes of every service on the same queues; with the CLI
    that started it."""
    cli, deployments = launch(
        replicas=2,
        env_extra={
            # Two blocks of HTTP ports: the first replicas' and, 100 up, the second's.
            "PIONEER_BASE_PORT": str(free_port_block(110)),
            "WEBHOOK_PLAIN_HTTP_HOSTS": "127.0.0.1",
            "WEBHOOK_TIMEOUT_S": "2",
        },
    )
    return cli, deployments["shared"]


@pytest.fixture(scope="module")
def replicated(replicated_cli):
    return replicated_cli[1]


class Spy:
    """Every event published on ``<service>.events`` exchanges from now on, read at the end."""

    def __init__(self, deployment, services: list[str]) -> None:
        self.connection = Connection(deployment.amqp_uri_of("guest", "guest"))
        self.queue = Queue(
            f"e2e-spy-{uuid.uuid4().hex[:8]}",
            bindings=[],
            auto_delete=False,
            durable=False,
        )
        channel = self.connection.channel()
        self.queue.maybe_bind(channel)
        self.queue.declare()
        for service in services:
            exchange = Exchange(f"{service}.events", type="topic", durable=True, passive=True)
            self.queue.bind_to(exchange=exchange(channel), routing_key="#")
        self.channel = channel

    def events(self) -> list[dict]:
        received = []
        while (message := self.queue.get(no_ack=True)) is not None:
            received.append(json.loads(message.body))
        return received

    def close(self) -> None:
        self.queue.delete()
        self.connection.release()


def volunteer_data(skills: list[str]) -> dict:
    return {
        "name": "沈建华",
        "phone": f"136{random.randrange(10**8):08d}",
        "city": "cixi",
        "district": "坎墩街道",
        "community": "五塘新村",
        "is_party_member": True,
        "skills": skills,
        "location": KANDUN,
    }


def metric(
    deployment, service: str, name: str, replicas: tuple[int, ...] = (1, 2), **labels: str
) -> float:
    """``name``'s samples with ``labels``, summed over the replicas' ``/metrics``."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in deployment.metrics(service, replicas).splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


def register_known(deployment, rpc, count: int, skills: list[str]) -> list[str]:
    """``count`` volunteers registered at once, once wishes' and notify's replicas hold them."""
    wanted = {
        service: metric(deployment, service, "pioneer_events_handled_total", outcome="ok")
        for service in ("wishes", "notify")
    }
    replies = [
        rpc.volunteers.register.call_async(volunteer=volunteer_data(skills)) for _ in range(count)
    ]
    registered = [reply.result()["id"] for reply in replies]
    for service, before in wanted.items():
        poll(
            lambda s=service, b=before: (
                metric(deployment, s, "pioneer_events_handled_total", outcome="ok") >= b + count
            ),
            60,
        )
    return registered


def test_status_lists_two_healthy_replicas_of_every_service(replicated_cli):
    cli, _ = replicated_cli
    report = json.loads(cli("status", "--json").stdout)
    [shared] = report["deployments"]
    for service in SERVICES:
        replicas = shared["replicas"][service]
        assert [r["replica"] for r in replicas] == [1, 2]
        assert all(r["ok"] for r in replicas) and len({r["pid"] for r in replicas}) == 2


def test_a_claim_storm_has_one_winner_and_every_event_goes_out_once(replicated):
    spy = Spy(replicated, ["volunteers", "wishes"])
    try:
        with replicated.proxy(replicated.token("admin", "cixi")) as rpc:
            crowd = register_known(replicated, rpc, 40, ["bicycle_repair"])
            wish = published_wish(rpc, "bicycle_repair", KANDUN, 24 * 3600)
            winners, refused = claim_storm(rpc, wish["id"], crowd)
            assert len(winners) == 1 and refused == ["Conflict"] * 39

        def published() -> list[dict] | None:
            seen.extend(spy.events())
            kinds = Counter(e["type"] for e in seen)
            return seen if kinds["wish_claimed"] and kinds["volunteer_registered"] >= 40 else None

        seen: list[dict] = []
        poll(published, 30)
        threading.Event().wait(2)  # a second relay publishing the same rows would show by now
        seen.extend(spy.events())
        ids_seen = Counter(e["event_id"] for e in seen)
        assert [event_id for event_id, n in ids_seen.items() if n > 1] == []
        kinds = Counter(e["type"] for e in seen)
        assert kinds["volunteer_registered"] == 40 and kinds["wish_claimed"] == 1
    finally:
        spy.close()


def test_timers_act_once_whichever_replica_fires(replicated):
    receiver = Receiver()
    spy = Spy(replicated, ["wishes"])
    try:
        with replicated.proxy(replicated.token("admin", "cixi")) as rpc:
            crowd = register_known(replicated, rpc, 3, ["painting"])
            for volunteer_id in crowd:
                rpc.notify.set_preferences(
                    recipient_id=volunteer_id,
                    preferences={"channels": ["webhook"], "webhook_url": receiver.url},
                )
            # Wish expiry: a deadline seconds away, expired by one of two timers.
            soon = published_wish(rpc, "painting", KANDUN, 3, title="换个灯泡")
            # Offer timeouts: nobody answers, each offer times out once (OFFER_TIMEOUT_S=5).
            request = hotline_request(rpc, "painting", KANDUN)

            def exhausted():
                now = rpc.wishes.get_request(request_id=request["id"])
                return now if now["status"] == "unassigned" else None

            ended = poll(exhausted, 60)
            offered = [a["volunteer_id"] for a in ended["attempts"]]
            assert sorted(offered) == sorted(crowd)  # each offered once, in turn
            assert {a["outcome"] for a in ended["attempts"]} == {"timed_out"}
            assert poll(lambda: rpc.wishes.get_wish(wish_id=soon["id"])["status"] == "expired", 20)

            # A complaint: delivered to volunteers once, however many retry timers run.
            other = hotline_request(rpc, "painting", KANDUN, description="钥匙丢了")
            rpc.wishes.accept_request(request_id=other["id"], volunteer_id=other["offered_to"])
            recorded = metric(
                replicated, "volunteers", "pioneer_rpc_requests_total", method="record_complaint"
            )
            rpc.wishes.complain(request_id=other["id"], complaint={"reason": "迟到了一个小时"})
            poll(
                lambda: (
                    metric(
                        replicated,
                        "volunteers",
                        "pioneer_rpc_requests_total",
                        method="record_complaint",
                    )
                    > recorded
                ),
                20,
            )
        threading.Event().wait(6)  # three retry rounds of two timers: none may call again
        assert (
            metric(
                replicated, "volunteers", "pioneer_rpc_requests_total", method="record_complaint"
            )
            == recorded + 1
        )
        events = Counter(e["type"] for e in spy.events())
        assert events["wish_expired"] == 1
        # Four offers (three timed out in turn, one accepted), each announced once.
        assert events["request_dispatched"] == 4
        # Each webhook delivery (one per offer told) reached the receiver once.
        keys = Counter(r["headers"].get("Idempotency-Key") for r in receiver.received)
        assert keys and max(keys.values()) == 1 and None not in keys
    finally:
        spy.close()
        receiver.close()


def test_a_replica_killed_mid_stream_loses_and_doubles_nothing(replicated):
    count = 400
    envelopes = []
    for _ in range(count):
        volunteer_id = ids.new_id("cixi", "vol")
        data = {
            "activity_id": ids.new_id("cixi", "act"),
            "station_id": ids.new_id("cixi", "st"),
            "volunteer_id": volunteer_id,
            "volunteer_city": "cixi",
            "hours": 2.0,
            "points": 5,
            "checked_in_at": None,
        }
        envelopes.append(db.envelope("volunteer_checked_in", "cixi", "cixi", data))
    engine = create_engine(replicated.database_url("points"))
    source_ids = [e["event_id"] for e in envelopes]

    def credited() -> int:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM ledger_entries WHERE source_event_id = ANY(:ids)"),
                {"ids": source_ids},
            ).scalar()

    try:
        dispatch = event_dispatcher({"AMQP_URI": replicated.role_uri("stations")})
        for envelope in envelopes[: count // 2]:
            dispatch("stations", "volunteer_checked_in", envelope)
        # The victim is mid-stream: it has credited some of them already.
        handler = {"handler": "on_volunteer_checked_in", "outcome": "ok"}
        poll(lambda: metric(replicated, "points", "pioneer_events_handled_total", (2,), **handler))
        victim = int((replicated.var / "run" / "points-2.pid").read_text())
        os.kill(victim, signal.SIGKILL)  # mid-stream: its unacknowledged events go back
        for envelope in envelopes[count // 2 :]:
            dispatch("stations", "volunteer_checked_in", envelope)
        poll(lambda: credited() >= count, 60)
        threading.Event().wait(2)
        assert credited() == count
        with engine.connect() as conn:
            doubled = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT source_event_id FROM ledger_entries"
                    " WHERE source_event_id = ANY(:ids) GROUP BY source_event_id"
                    " HAVING count(*) > 1) d"
                ),
                {"ids": source_ids},
            ).scalar()
        assert doubled == 0
    finally:
        engine.dispose()
