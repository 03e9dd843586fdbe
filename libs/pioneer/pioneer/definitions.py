"""RabbitMQ topology derived from the code: every service's events exchange and handler queues.

Loaded into each vhost before the services start (``make up``) and written to
``deploy/rabbitmq/definitions.json`` for container deployments, so an event published before
its consumer first started is queued, not dropped.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from .entrypoints import ReliableEventHandler
from .registry import service_class


def handler_bindings(service: str) -> list[dict[str, str]]:
    """``[{"queue", "exchange", "routing_key"}]`` for each event handler of ``service``."""
    cls = service_class(service)
    found = []
    for method_name in dir(cls):
        for entrypoint in getattr(getattr(cls, method_name, None), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ReliableEventHandler):
                found.append(
                    {
                        "queue": f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{service}.{method_name}",
                        "exchange": f"{entrypoint.source_service}.events",
                        "routing_key": entrypoint.event_type,
                    }
                )
    return found


def topology(services: list[str]) -> dict[str, Any]:
    """Exchanges, queues and bindings in the management API's definitions format."""
    exchanges = {f"{s}.events" for s in services}
    queues, bindings = [], []
    for service in services:
        for b in handler_bindings(service):
            exchanges.add(b["exchange"])
            queues.append(
                {"name": b["queue"], "durable": True, "auto_delete": False, "arguments": {}}
            )
            bindings.append(
                {
                    "source": b["exchange"],
                    "destination": b["queue"],
                    "destination_type": "queue",
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
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in sorted(exchanges)
        ],
        "queues": queues,
        "bindings": bindings,
    }


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
