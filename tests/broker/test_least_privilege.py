"""Least privilege at the broker: every broker user of a deployment, on the real broker (a
vhost per test, the topology and the users loaded from the code), is refused everything outside
its role, and what its role needs still works.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import amqp
import pytest
import requests
from kombu import Connection
from nameko.standalone.events import event_dispatcher
from sqlalchemy import create_engine, text

from pioneer import db, ids
from pioneer.deadletter import retry_queue
from pioneer.definitions import CLIENT, FEDERATION, OPS, grants, handler_bindings, topology
from pioneer.dlq import dead_letter_count, list_dead_letters, replay_dead_letters
from pioneer.registry import built_services
from pioneer.rpcclient import RpcClient
from pioneer.testing.broker import BrokerUsers
from pioneer.testing.fixtures import base_config, volunteer_event, wait_for

SERVICES = built_services()
RPC = "nameko-rpc"
Action = Callable[[Any], Any]


@pytest.fixture
def users(rabbit_admin, vhost):
    rabbit_admin.load_definitions(vhost, topology(SERVICES))
    made = BrokerUsers(rabbit_admin, vhost, grants(SERVICES))
    yield made
    made.delete()


def outcome(uri: str, action: Action) -> str:
    """``allowed`` or ``refused`` (the broker's ACCESS_REFUSED) for one action on a fresh
    channel; any other failure fails the test."""
    with Connection(uri) as connection:
        channel = connection.channel()
        try:
            action(channel)
        except amqp.exceptions.AccessRefused:
            return "refused"
        return "allowed"


def outcomes(uri: str, actions: dict[str, Action]) -> dict[str, str]:
    return {label: outcome(uri, action) for label, action in actions.items()}


def publish(exchange: str, routing_key: str, body: str = "{}") -> Action:
    def act(channel: Any) -> None:
        # waits for the broker's confirm, so a refused publish fails here, not later
        channel.basic_publish_confirm(
            amqp.Message(body), exchange=exchange, routing_key=routing_key
        )

    return act


def bind(queue: str, exchange: str, key: str) -> Action:
    """Declare ``queue`` (non-durable, auto-delete) and bind it to ``exchange`` by ``key``."""

    def act(channel: Any) -> None:
        channel.queue_declare(queue, durable=False, auto_delete=True)
        channel.queue_bind(queue, exchange, key)

    return act


def declare(queue: str, arguments: dict | None = None) -> Action:
    return lambda channel: channel.queue_declare(
        queue, durable=False, auto_delete=True, arguments=arguments or {}
    )


def consume(queue: str) -> Action:
    return lambda channel: channel.basic_get(queue)


def delete_queue(queue: str) -> Action:
    return lambda channel: channel.queue_delete(queue)


def delete_exchange(exchange: str) -> Action:
    return lambda channel: channel.exchange_delete(exchange)


def reply_queue(caller: str = "standalone_rpc_proxy") -> str:
    return f"rpc.reply-{caller}-{uuid.uuid4()}"


def queues_of(service: str) -> list[str]:
    return [f"rpc-{service}", f"{service}.dlq", *(b["queue"] for b in handler_bindings(service))]


def everything_refused(found: dict[str, str]) -> dict[str, str]:
    return {label: "refused" for label in found}


def test_the_client_user_calls_rpc_and_does_nothing_else(users):
    uri = users.uri(CLIENT)
    mine = reply_queue()
    assert outcomes(uri, {"reply queue": bind(mine, RPC, str(uuid.uuid4()))}) == {
        "reply queue": "allowed"
    }
    assert outcome(uri, publish(RPC, "points.balance")) == "allowed"

    forbidden: dict[str, Action] = {}
    for service in SERVICES:
        # Finding 1: the status URI's user minted points by publishing a check-in.
        forbidden[f"publish {service}.events"] = publish(
            f"{service}.events", "volunteer_checked_in"
        )
        forbidden[f"read {service}.events"] = bind(reply_queue(), f"{service}.events", "#")
        forbidden[f"bind {service}.*"] = bind(reply_queue(), RPC, f"{service}.*")
        forbidden[f"bind {service}.balance"] = bind(reply_queue(), RPC, f"{service}.balance")
        forbidden[f"{service}'s reply queue"] = declare(reply_queue(service))
        forbidden[f"publish {service}.retry"] = publish(f"{service}.retry", f"rpc-{service}")
        forbidden[f"publish {service}.dlq"] = publish(f"{service}.dlq", "")
        for queue in queues_of(service):
            forbidden[f"consume {queue}"] = consume(queue)
            forbidden[f"delete {queue}"] = delete_queue(queue)
        forbidden[f"delete {service}.events"] = delete_exchange(f"{service}.events")
    forbidden.update(
        {
            # reading nameko-rpc's other traffic: every token, phone and reply
            "bind #": bind(reply_queue(), RPC, "#"),
            "bind *.*": bind(reply_queue(), RPC, "*.*"),
            "bind #.#": bind(reply_queue(), RPC, "#.#"),
            # a forged reply to another caller
            "publish a reply": publish(RPC, str(uuid.uuid4())),
            "publish to the default exchange": publish("", "rpc-points"),
            "dead-letter through the default exchange": declare(
                reply_queue(), {"x-dead-letter-exchange": ""}
            ),
            "dead-letter into a retry exchange": declare(
                reply_queue(), {"x-dead-letter-exchange": "points.retry"}
            ),
            "a queue of its own naming": declare("mine"),
        }
    )
    found = outcomes(uri, forbidden)
    assert found == everything_refused(found)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_user_publishes_and_consumes_only_its_own(users, service):
    uri = users.uri(service)
    own_reply = reply_queue(service)
    allowed = {
        "publish own events": publish(f"{service}.events", "anything"),
        "reply to a caller": publish(RPC, str(uuid.uuid4())),
        "its RPC binding": bind(own_reply, RPC, f"{service}.*"),
        "its dead letters": consume(f"{service}.dlq"),
        "its retry route": publish(f"{service}.retry", f"rpc-{service}"),
    }
    found = outcomes(uri, allowed)
    assert found == {label: "allowed" for label in allowed}

    consumed = {b["source"] for b in handler_bindings(service)}
    forbidden: dict[str, Action] = {
        "bind #": bind(reply_queue(service), RPC, "#"),
        "publish to the default exchange": publish("", f"{service}.dlq"),
        "dead-letter through the default exchange": declare(
            reply_queue(service), {"x-dead-letter-exchange": ""}
        ),
        "a queue of its own naming": declare(f"evt-x-y--{service}.evil"),
    }
    for other in SERVICES:
        if other == service:
            continue
        forbidden[f"publish {other}.events"] = publish(f"{other}.events", "volunteer_removed")
        forbidden[f"bind {other}.*"] = bind(reply_queue(service), RPC, f"{other}.*")
        forbidden[f"publish {other}.retry"] = publish(f"{other}.retry", f"rpc-{other}")
        forbidden[f"publish {other}.retry.1000ms"] = publish(f"{other}.retry.1000ms", "x")
        forbidden[f"publish {other}.dlq"] = publish(f"{other}.dlq", "")
        forbidden[f"dead-letter into {other}.retry"] = declare(
            reply_queue(service), {"x-dead-letter-exchange": f"{other}.retry"}
        )
        forbidden[f"{other}'s reply queue"] = declare(reply_queue(other))
        if other not in consumed:
            forbidden[f"read {other}.events"] = bind(reply_queue(service), f"{other}.events", "#")
        for queue in queues_of(other):
            forbidden[f"consume {queue}"] = consume(queue)
            forbidden[f"delete {queue}"] = delete_queue(queue)
    for source in consumed:
        # only the event types it handles, not the whole exchange
        forbidden[f"read all of {source}.events"] = bind(
            reply_queue(service), f"{source}.events", "#"
        )
    if service != "volunteers":  # wishes calls volunteers; nobody calls points' adjust
        forbidden["call points.adjust"] = publish(RPC, "points.adjust")
    found = outcomes(uri, forbidden)
    assert found == everything_refused(found)


def test_the_federation_user_only_reads_the_events_exchanges(users):
    uri = users.uri(FEDERATION)
    link = "federation: stations.events -> rabbit@peer"
    assert outcome(uri, bind(link, "stations.events", "#")) == "allowed"
    forbidden: dict[str, Action] = {
        "bind nameko-rpc": bind("federation: nameko-rpc -> rabbit@peer", RPC, "#"),
        "publish nameko-rpc": publish(RPC, "points.adjust"),
    }
    for service in SERVICES:
        forbidden[f"publish {service}.events"] = publish(f"{service}.events", "points_awarded")
        for queue in queues_of(service):
            forbidden[f"consume {queue}"] = consume(queue)
            forbidden[f"delete {queue}"] = delete_queue(queue)
    found = outcomes(uri, forbidden)
    assert found == everything_refused(found)


def test_the_ops_user_reads_the_management_api_and_changes_nothing(users, rabbit_admin, vhost):
    api = requests.Session()
    api.auth = users.users[OPS]
    base, v = rabbit_admin.base, requests.utils.quote(vhost, safe="")
    queues = api.get(f"{base}/queues/{v}", timeout=30)
    assert queues.status_code == 200
    assert "points.dlq" in {q["name"] for q in queues.json()}
    assert api.get(f"{base}/overview", timeout=30).status_code == 200
    writes = {
        "declare a queue": api.put(f"{base}/queues/{v}/ops-queue", json={}, timeout=30),
        "delete a queue": api.delete(f"{base}/queues/{v}/points.dlq", timeout=30),
        "purge a queue": api.delete(f"{base}/queues/{v}/points.dlq/contents", timeout=30),
        "publish": api.post(
            f"{base}/exchanges/{v}/stations.events/publish",
            json={
                "properties": {},
                "routing_key": "volunteer_checked_in",
                "payload": "{}",
                "payload_encoding": "string",
            },
            timeout=30,
        ),
        "read messages": api.post(
            f"{base}/queues/{v}/points.dlq/get",
            json={"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"},
            timeout=30,
        ),
        "create a user": api.put(
            f"{base}/users/ops-made", json={"password": "x", "tags": ""}, timeout=30
        ),
        "grant itself": api.put(
            f"{base}/permissions/{v}/{users.user(OPS)}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            timeout=30,
        ),
        "delete the vhost": api.delete(f"{base}/vhosts/{v}", timeout=30),
        "set a policy": api.put(
            f"{base}/policies/{v}/ops-policy",
            json={"pattern": ".*", "definition": {"message-ttl": 1}},
            timeout=30,
        ),
    }
    assert {label: refused(r) for label, r in writes.items()} == {label: True for label in writes}
    assert rabbit_admin.queue(vhost, "points.dlq")["name"] == "points.dlq"  # still there
    found = outcomes(
        users.uri(OPS),
        {"consume": consume("points.dlq"), "publish": publish("stations.events", "x")},
    )
    assert found == everything_refused(found)


def refused(response: requests.Response) -> bool:
    """The management API's refusal: 401, or 400 carrying the broker's ACCESS_REFUSED (a
    publish)."""
    return response.status_code == 401 or (
        response.status_code == 400 and "ACCESS_REFUSED" in response.text
    )


def depth(amqp_uri: str, queue: str) -> int:
    """Messages ready in ``queue`` now (the management API's counts lag)."""
    with Connection(amqp_uri) as connection:
        return connection.channel().queue_declare(queue, passive=True).message_count


def test_a_retry_exchange_leads_back_to_its_own_service_only(users, amqp_uri):
    """Retries go through the failing service's own exchanges, which reach only its queues: a
    message stations sends through its retry route naming a points queue never arrives."""
    target = "evt-stations-volunteer_checked_in--points.on_volunteer_checked_in"
    with Connection(users.uri("stations")) as connection:
        channel = connection.channel()
        retry_queue("stations", 1)(channel).declare()
    own = "evt-volunteers-volunteer_registered--stations.on_volunteer_registered"
    for routing_key in (target, own):
        assert outcome(users.uri("stations"), publish("stations.retry.1000ms", routing_key)) == (
            "allowed"
        )
    assert depth(amqp_uri, "stations.retry.1000ms") == 2
    wait_for(lambda: depth(amqp_uri, "stations.retry.1000ms") == 0, timeout=10)  # expired
    wait_for(lambda: depth(amqp_uri, own) == 1, timeout=5)  # back on stations' own queue
    assert depth(amqp_uri, target) == 0  # never on points'


def test_services_work_as_their_own_users(users, start_service, sqlite_url, secret, token):
    """Points runs as its own user: it takes volunteers' and stations' events (published by
    their own users), answers the RPC-only client, parks a poison event in its dead-letter
    queue, which its user lists and replays. The client's forged check-in is refused."""
    from points.service import PointsService

    config = base_config(users.uri("points"), sqlite_url, secret)
    start_service(PointsService, config)
    client = RpcClient(users.uri(CLIENT), token("admin"), timeout=10)
    try:
        assert client.call("points", "ping")["service"] == "points"
        volunteer_id = ids.new_id("cixi", "vol")

        def send(role: str, service: str, event_type: str, data: Any) -> None:
            envelope = (
                data if event_type == "raw" else db.envelope(event_type, "cixi", "cixi", data)
            )
            kind = "volunteer_checked_in" if event_type == "raw" else event_type
            event_dispatcher({"AMQP_URI": users.uri(role)})(service, kind, envelope)

        send("volunteers", "volunteers", "volunteer_registered", volunteer_event(volunteer_id))
        checkin = {
            "activity_id": ids.new_id("cixi", "act"),
            "station_id": ids.new_id("cixi", "st"),
            "volunteer_id": volunteer_id,
            "volunteer_city": "cixi",
            "hours": 1.0,
            "points": 5,
        }
        engine = create_engine(sqlite_url)
        known = text("SELECT count(*) FROM volunteer_replica WHERE volunteer_id = :v")
        wait_for(lambda: _scalar(engine, known, v=volunteer_id) == 1, timeout=15)
        send("stations", "stations", "volunteer_checked_in", checkin)
        wait_for(lambda: _balance(client, volunteer_id) == 5, timeout=15)

        forged = dict(checkin, activity_id=ids.new_id("cixi", "act"), points=2_000_000_000)
        with pytest.raises(amqp.exceptions.AccessRefused):
            send(CLIENT, "stations", "volunteer_checked_in", forged)

        send("stations", "stations", "raw", {"not": "an envelope"})
        points_uri = users.uri("points")
        wait_for(lambda: dead_letter_count(points_uri, "points") == 1, timeout=15)
        [parked] = list_dead_letters(points_uri, "points")
        assert (
            parked["queue"] == "evt-stations-volunteer_checked_in--points.on_volunteer_checked_in"
        )
        assert replay_dead_letters(points_uri, "points") == 1  # back to its handler: poison again
        wait_for(lambda: dead_letter_count(points_uri, "points") == 1, timeout=15)
        assert _balance(client, volunteer_id) == 5
    finally:
        client.close()


def _balance(client: RpcClient, volunteer_id: str) -> int:
    return client.call("points", "balance", volunteer_id)["balance"]


def _scalar(engine: Any, statement: Any, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(statement, params).scalar()
