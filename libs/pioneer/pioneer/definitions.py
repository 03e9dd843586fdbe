"""RabbitMQ topology derived from the code: every service's events exchange and handler queues.

Loaded into each vhost before the services start (``make up``) and written to
``deploy/rabbitmq/definitions.json`` for container deployments, so an event published before
its consumer first started is queued, not dropped.

One binding cannot be written in that format: a peers-only queue's (``pioneer.federation``)
matches a header by presence, an AMQP void the JSON has no value for. ``bind_peers_queues``
declares it over AMQP after the definitions are loaded (``make up``, the tests, the bench);
in a container deployment the service declares it when it first starts.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from .entrypoints import ReliableEventHandler
from .federation import declare_peers_route, peers_exchange, peers_queue
from .registry import service_class


def handler_bindings(service: str) -> list[dict[str, Any]]:
    """``[{"queue", "source", "exchange", "routing_key", "peers_only"}]`` for each event
    handler of ``service`` (``peers_only``: it takes federated peers' copies only)."""
    cls = service_class(service)
    found = []
    for method_name in dir(cls):
        for entrypoint in getattr(getattr(cls, method_name, None), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ReliableEventHandler):
                found.append(
                    {
                        "queue": f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{service}.{method_name}",
                        "source": entrypoint.source_service,
                        "exchange": f"{entrypoint.source_service}.events",
                        "routing_key": entrypoint.event_type,
                        "peers_only": getattr(entrypoint, "peers_only", False),
                    }
                )
    return found


def topology(services: list[str]) -> dict[str, Any]:
    """Exchanges, queues and bindings in the management API's definitions format."""
    exchanges = {f"{s}.events": "topic" for s in services}
    queues, bindings = [], []
    for service in services:
        for b in handler_bindings(service):
            exchanges[b["exchange"]] = "topic"
            queues.append(
                {"name": b["queue"], "durable": True, "auto_delete": False, "arguments": {}}
            )
            destination, destination_type = b["queue"], "queue"
            if b["peers_only"]:  # the queue's own binding: ``bind_peers_queues``
                peers = peers_exchange(b["source"])
                exchanges[peers.name] = "headers"
                destination, destination_type = peers.name, "exchange"
            bindings.append(
                {
                    "source": b["exchange"],
                    "destination": destination,
                    "destination_type": destination_type,
                    "routing_key": b["routing_key"],
                    "arguments": {},
                }
            )
        queues.append(
            {"name": f"{service}.dlq", "durable": True, "auto_delete": False, "arguments": {}}
        )
    return {
        "exchanges": [
            {
                "name": name,
                "type": kind,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name, kind in sorted(exchanges.items())
        ],
        "queues": queues,
        "bindings": bindings,
    }


def bind_peers_queues(amqp_uri: str, services: list[str]) -> None:
    """Declare the peers-only queues' bindings, which JSON definitions cannot hold."""
    from kombu import Connection

    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for service in services:
            for b in handler_bindings(service):
                if b["peers_only"]:
                    queue = peers_queue(b["queue"], b["source"])
                    declare_peers_route(channel, b["source"], b["routing_key"], queue)


def password_hash(password: str, salt: bytes) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def broker_definitions(
    services: list[str], vhost: str = "/", user: str = "pioneer", password: str = "pioneer"
) -> dict[str, Any]:
    """A whole broker's definitions file (for ``load_definitions`` at boot in containers).

    The salt is derived from the user name so the file is reproducible and can be checked in.
    """
    base = topology(services)
    salt = hashlib.sha256(f"pioneer:{user}".encode()).digest()[:4]
    return {
        "rabbit_version": "3.12.0",
        "users": [
            {
                "name": user,
                "password_hash": password_hash(password, salt),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            }
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "exchanges": [{**item, "vhost": vhost} for item in base["exchanges"]],
        "queues": [{**item, "vhost": vhost} for item in base["queues"]],
        "bindings": [{**item, "vhost": vhost} for item in base["bindings"]],
    }
