"""The kernel's broker routes work for a service connected as its own least-privilege user
(``definitions.service_grant``): RPC from the RPC-only client, retries through its own retry
exchanges, parking in its own dead-letter queue, replay, and peers-only routes."""

from __future__ import annotations

import pytest
from nameko.standalone.events import event_dispatcher
from widgets import WidgetService

from pioneer import db
from pioneer.definitions import CLIENT, client_grant, service_grant
from pioneer.dlq import dead_letter_count, list_dead_letters, replay_dead_letters
from pioneer.rpcclient import RpcClient
from pioneer.testing.broker import BrokerUsers
from pioneer.testing.fixtures import base_config, federated_copy, wait_for


@pytest.fixture
def users(rabbit_admin, vhost):
    made = BrokerUsers(
        rabbit_admin,
        vhost,
        {"widgets": service_grant("widgets", WidgetService), CLIENT: client_grant(["widgets"])},
    )
    yield made
    made.delete()


@pytest.fixture
def widgets(users, start_service, sqlite_url, secret):
    return start_service(WidgetService, base_config(users.uri("widgets"), sqlite_url, secret))


def test_a_failing_event_is_retried_parked_and_replayed_by_the_services_own_user(
    widgets, users, token
):
    client = RpcClient(users.uri(CLIENT), token("admin"), timeout=10)
    own = users.uri("widgets")
    try:
        client.call("widgets", "set_failing", True)
        envelope = db.envelope("widget_created", "cixi", "cixi", {"widget_id": "w", "name": "x"})
        event_dispatcher({"AMQP_URI": own})("widgets", "widget_created", envelope)
        # two retries (test config), each back through widgets.retry, then parked
        wait_for(lambda: dead_letter_count(own, "widgets") == 1, timeout=20)
        [parked] = list_dead_letters(own, "widgets")
        assert parked["event_id"] == envelope["event_id"] and parked["attempts"] == 3
        client.call("widgets", "set_failing", False)
        assert replay_dead_letters(own, "widgets") == 1
        assert wait_for(lambda: client.call("widgets", "seen") == ["x"])
    finally:
        client.close()


def test_peers_only_routes_are_declared_by_the_services_own_user(widgets, users, token):
    client = RpcClient(users.uri(CLIENT), token("admin"), timeout=10)
    try:
        own = db.envelope("widget_federated", "cixi", "cixi", {"name": "own"})
        peer = db.envelope("widget_federated", "ningbo", "ningbo", {"name": "peer"})
        dispatch = federated_copy(users.uri("widgets"), "ningbo")
        event_dispatcher({"AMQP_URI": users.uri("widgets")})("widgets", "widget_federated", own)
        dispatch("widgets", "widget_federated", peer)
        assert wait_for(lambda: client.call("widgets", "seen") == ["peer"])
    finally:
        client.close()
