"""The broker users ``pioneer up`` gives a deployment: services connect as their own users,
the URI ``pioneer status`` shows is RPC-only, federation links read peers as their federation
users."""

from __future__ import annotations

import json
from urllib.parse import quote, urlparse

import amqp
import pytest
from kombu import Connection
from nameko.exceptions import RemoteError

from pioneer import db, ids
from pioneer.testing.fixtures import volunteer_event

from .conftest import poll


def connected_users(admin, vhost: str) -> set[str]:
    response = admin.session.get(f"{admin.base}/vhosts/{quote(vhost, safe='')}/connections")
    response.raise_for_status()
    return {connection["user"] for connection in response.json()}


def test_the_status_uri_is_the_rpc_only_client_and_cannot_mint_points(shared):
    """Finding 1: the user ``pioneer status`` gives outside systems published a check-in worth
    two billion points to ``stations.events``. The broker now refuses it."""
    cli, deployment = shared
    [entry] = json.loads(cli("status", "--json").stdout)["deployments"]
    user = urlparse(entry["amqp_uri"]).username
    assert user == deployment.record["user"] and user.endswith("pioneer-shared-client")
    volunteer_id = ids.new_id("cixi", "vol")
    deployment.publish("volunteers", "volunteer_registered", "cixi", volunteer_event(volunteer_id))
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        poll(lambda: balance(rpc, volunteer_id) == 0)  # points knows the volunteer
    forged = {
        "activity_id": ids.new_id("cixi", "act"),
        "station_id": ids.new_id("cixi", "st"),
        "volunteer_id": volunteer_id,
        "volunteer_city": "cixi",
        "hours": 1.0,
        "points": 2_000_000_000,
    }
    envelope = db.envelope("volunteer_checked_in", "cixi", "cixi", forged)
    connection = Connection(deployment.amqp_uri)
    with connection, pytest.raises(amqp.exceptions.AccessRefused):
        connection.channel().basic_publish_confirm(
            amqp.Message(json.dumps(envelope), content_type="application/json"),
            exchange="stations.events",
            routing_key="volunteer_checked_in",
        )
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        assert balance(rpc, volunteer_id) == 0


def balance(rpc, volunteer_id: str) -> int | None:
    try:
        return rpc.points.balance(volunteer_id=volunteer_id)["balance"]
    except RemoteError as exc:
        if exc.exc_type == "NotFound":  # the registration has not arrived yet
            return None
        raise


def test_every_service_process_connects_as_its_own_user(shared, e2e_admin):
    _, deployment = shared
    services = deployment.record["passwords"].keys() - {"client", "federation", "ops"}
    prefix = deployment.record["user_prefix"]
    expected = {f"{prefix}{service}" for service in services}
    # The management API lists connections a few seconds late.
    found = poll(lambda: expected <= connected_users(e2e_admin, deployment.record["vhost"]), 20)
    assert found
    users = connected_users(e2e_admin, deployment.record["vhost"])
    assert users <= expected | {deployment.record["user"]}  # and the tests' own RPC clients


def test_federation_links_read_peers_as_their_federation_users(federation, e2e_admin):
    _, deployments = federation
    for deployment in deployments.values():
        vhost = quote(deployment.record["vhost"], safe="")
        response = e2e_admin.session.get(f"{e2e_admin.base}/parameters/federation-upstream/{vhost}")
        response.raise_for_status()
        upstreams = {p["name"]: urlparse(p["value"]["uri"]).username for p in response.json()}
        assert upstreams == {
            peer: deployments[peer].record["user_prefix"] + "federation"
            for peer in deployment.record["peers"]
        }

        assert poll(lambda vhost=vhost: links_running(e2e_admin, vhost), 30)


def links_running(admin, vhost: str) -> bool:
    links = admin.session.get(f"{admin.base}/federation-links/{vhost}").json()
    return bool(links) and {link["status"] for link in links} == {"running"}
