"""RabbitMQ topology and broker users derived from the code.

The topology (every service's events exchange, handler queues, retry and dead-letter routes) is
loaded into each vhost before the services start (``make up``) and written to
``deploy/rabbitmq/definitions.json`` for container deployments, so an event published before
its consumer first started is queued, not dropped.

The users are least-privilege (``grants``): each service connects as its own user, which may
publish only to its own ``<service>.events``, to ``nameko-rpc`` (calls to the services it
declares an ``RpcProxy`` for, and replies) and to its own retry and dead-letter exchanges, and
may consume only its own queues. Outside systems get an RPC-only ``client`` user, peers'
federation links a ``federation`` user that only reads the events exchanges, and ops a
``monitoring`` user with no AMQP rights. Where RabbitMQ's name regexes cannot say it (which
routing keys on ``nameko-rpc``, which event types on a source's exchange), topic permissions
do.

One binding cannot be written in that format: a peers-only queue's (``pioneer.federation``)
matches a header by presence, an AMQP void the JSON has no value for. ``bind_peers_queues``
declares it over AMQP after the definitions are loaded (``make up``, the tests, the bench);
in a container deployment the service declares it when it first starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .deadletter import dlq_exchange, dlq_name, requeue_exchange
from .federation import declare_peers_route, peers_exchange, peers_queue
from .queues import QUORUM, events_policy, outside, unrouted
from .registry import service_class

RPC_EXCHANGE = "nameko-rpc"
CLIENT, FEDERATION, OPS = "client", "federation", "ops"
# nameko names a reply queue ``rpc.reply-<caller>-<uuid4>`` and binds it by the bare uuid.
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# ``<service>.<method>``: the routing key of an RPC call (never a uuid: those are replies).
RPC_CALL = "[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*"


def handler_bindings(service: str, service_cls: Any = None) -> list[dict[str, Any]]:
    """``[{"queue", "source", "exchange", "routing_key", "peers_only"}]`` for each event
    handler of ``service`` (``peers_only``: it takes federated peers' copies only); the class
    is the registered one unless ``service_cls`` is given."""
    # Imported here: the launcher reads this module's names without loading the service kernel.
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from .entrypoints import ReliableEventHandler

    cls = service_cls or service_class(service)
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


def rpc_targets(service: str, service_cls: Any = None) -> list[str]:
    """The services ``service`` calls over RPC (its ``RpcProxy`` dependencies)."""
    from nameko.rpc import RpcProxy

    cls = service_cls or service_class(service)
    found = {
        getattr(cls, name).target_service
        for name in dir(cls)
        if isinstance(getattr(cls, name, None), RpcProxy)
    }
    return sorted(found)


def topology(services: list[str]) -> dict[str, Any]:
    """Exchanges, queues and bindings in the management API's definitions format."""
    exchanges = {f"{s}.events": "topic" for s in services}
    exchanges[RPC_EXCHANGE] = "topic"  # as nameko declares it
    queues, bindings = [], []
    bindings_of = {service: handler_bindings(service) for service in services}
    consumed = {(b["source"], b["routing_key"]) for found in bindings_of.values() for b in found}
    for service in services:
        exchanges[requeue_exchange(service).name] = "direct"
        exchanges[dlq_exchange(service).name] = "fanout"
        for b in bindings_of[service]:
            exchanges[b["exchange"]] = "topic"
            queues.append(
                {"name": b["queue"], "durable": True, "auto_delete": False, "arguments": QUORUM}
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
            bindings.append(  # the way back from a retry or a replay (``deadletter``)
                {
                    "source": requeue_exchange(service).name,
                    "destination": b["queue"],
                    "destination_type": "queue",
                    "routing_key": b["queue"],
                    "arguments": {},
                }
            )
        queues.append(
            {"name": dlq_name(service), "durable": True, "auto_delete": False, "arguments": QUORUM}
        )
        # What no queue takes: kept in ``<service>.unrouted``; what nothing here consumes:
        # to ``<service>.outside`` by declaration (``pioneer.queues``).
        exchanges[unrouted(service)] = "fanout"
        exchanges[outside(service)] = "fanout"
        queues.append(
            {"name": unrouted(service), "durable": True, "auto_delete": False, "arguments": QUORUM}
        )
        bindings.append(
            {
                "source": unrouted(service),
                "destination": unrouted(service),
                "destination_type": "queue",
                "routing_key": "",
                "arguments": {},
            }
        )
        for event_type in unconsumed_types(service, consumed):
            bindings.append(
                {
                    "source": f"{service}.events",
                    "destination": outside(service),
                    "destination_type": "exchange",
                    "routing_key": event_type,
                    "arguments": {},
                }
            )
        bindings.append(
            {
                "source": dlq_exchange(service).name,
                "destination": dlq_name(service),
                "destination_type": "queue",
                "routing_key": dlq_name(service),
                "arguments": {},
            }
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
        "policies": [
            {"name": name, **policy}
            for name, policy in (events_policy(service, federated=False) for service in services)
        ],
    }


def unconsumed_types(service: str, consumed: set[tuple[str, str]]) -> list[str]:
    """The event types ``service`` publishes that are not among the ``(source, event type)``
    pairs the deployment's services consume."""
    published = getattr(service_class(service), "publishes", ()) or ()
    return sorted(t for t in set(published) if (service, t) not in consumed)


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


@dataclass(frozen=True)
class Grant:
    """What one broker user may do in a vhost: RabbitMQ's configure/write/read regexes over
    exchange and queue names, topic permissions (``{exchange: (write, read)}``, regexes over
    routing and binding keys) and management tags."""

    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def _names(names: Iterable[str], patterns: Iterable[str] = ()) -> str:
    """A regex matching exactly ``names`` (literally) and ``patterns``; ``^$`` for none."""
    parts = [re.escape(n) for n in sorted(set(names))] + list(patterns)
    return f"^({'|'.join(parts)})$" if parts else "^$"


def service_grant(service: str, service_cls: Any = None) -> Grant:
    """A service's own user: its queues, its exchanges, ``nameko-rpc``; what it consumes."""
    bindings = handler_bindings(service, service_cls)
    own_queues = {f"rpc-{service}", dlq_name(service)} | {b["queue"] for b in bindings}
    # its retry exchanges and queues (any delay), the exchange back, and its reply queues
    own_patterns = [
        rf"{re.escape(service)}\.retry(\.[0-9]+ms)?",
        rf"rpc\.reply-{re.escape(service)}-{UUID}",
    ]
    sources = sorted({b["source"] for b in bindings})
    source_exchanges = {f"{source}.events" for source in sources}
    peers = {peers_exchange(b["source"]).name for b in bindings if b["peers_only"]}
    own = own_queues | {RPC_EXCHANGE, f"{service}.events"}
    targets = rpc_targets(service, service_cls)
    calls = [rf"({'|'.join(map(re.escape, targets))})\.[A-Za-z_][A-Za-z0-9_]*"] if targets else []
    topics = {
        # calls to the services it declares, and replies to its callers; it binds only its
        # own RPC queue's key and its reply queues' uuids
        RPC_EXCHANGE: (_names((), [*calls, UUID]), _names([f"{service}.*"], [UUID])),
    }
    for source in sources:
        types = {b["routing_key"] for b in bindings if b["source"] == source}
        topics[f"{source}.events"] = (".*" if source == service else "^$", _names(types))
    return Grant(
        # nameko declares the exchanges it consumes from, so configure names them too
        configure=_names(own | source_exchanges | peers, own_patterns),
        write=_names(own | peers, own_patterns),
        read=_names((own - {f"{service}.events"}) | source_exchanges | peers, own_patterns),
        topics=topics,
    )


def client_grant(services: list[str]) -> Grant:
    """Outside systems (and the CLI): call RPC methods and read their own replies, nothing
    else: no events, no other queue, no binding key but a reply queue's uuid."""
    others = "|".join(map(re.escape, services)) or "$^"
    reply = rf"rpc\.reply-(?!({others})-)[A-Za-z0-9_]+-{UUID}"
    names = _names([RPC_EXCHANGE], [reply])
    return Grant(
        configure=names,
        write=names,
        read=names,
        topics={RPC_EXCHANGE: (_names((), [RPC_CALL]), _names((), [UUID]))},
    )


def federation_grant(services: list[str]) -> Grant:
    """A peer deployment's federation link: it reads this vhost's events exchanges through
    the queues and exchanges the federation plugin names ``federation: ...``, nothing else."""
    link = "federation: .*"
    return Grant(
        configure=_names((), [link]),
        write=_names((), [link]),
        read=_names([f"{s}.events" for s in services], [link]),
    )


def ops_grant() -> Grant:
    """Ops: the management UI and API read-only (tag ``monitoring``), no AMQP rights."""
    return Grant(configure="^$", write="^$", read="^$", tags=("monitoring",))


def grants(services: list[str]) -> dict[str, Grant]:
    """Every broker role of a deployment: each service by name, ``client``, ``federation``,
    ``ops``."""
    found = {service: service_grant(service) for service in services}
    found[CLIENT] = client_grant(services)
    found[FEDERATION] = federation_grant(services)
    found[OPS] = ops_grant()
    return found


def users_definitions(
    services: list[str], vhost: str, user_of: Callable[[str], str]
) -> dict[str, list[dict[str, Any]]]:
    """Users (without passwords), permissions and topic permissions in the definitions format;
    ``user_of(role)`` names each role's user."""
    users, permissions, topics = [], [], []
    for role, grant in grants(services).items():
        user = user_of(role)
        # No password hash: a user without one cannot log in until its password is set from
        # the environment at deploy time (deploy/rabbitmq/entrypoint.sh).
        users.append(
            {
                "name": user,
                "password_hash": "",
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": list(grant.tags),
            }
        )
        permissions.append(
            {
                "user": user,
                "vhost": vhost,
                "configure": grant.configure,
                "write": grant.write,
                "read": grant.read,
            }
        )
        for exchange, (write, read) in sorted(grant.topics.items()):
            topics.append(
                {"user": user, "vhost": vhost, "exchange": exchange, "write": write, "read": read}
            )
    return {"users": users, "permissions": permissions, "topic_permissions": topics}


def broker_definitions(
    services: list[str], vhost: str = "/", user_prefix: str = "pioneer-"
) -> dict[str, Any]:
    """A whole broker's definitions file (for ``load_definitions`` at boot in containers):
    the topology and one user per role, ``<user_prefix><role>``, none with a password."""
    base = topology(services)
    users = users_definitions(services, vhost, lambda role: f"{user_prefix}{role}")
    return {
        "rabbit_version": "3.12.0",
        "users": users["users"],
        "vhosts": [{"name": vhost}],
        "permissions": users["permissions"],
        "topic_permissions": users["topic_permissions"],
        "exchanges": [{**item, "vhost": vhost} for item in base["exchanges"]],
        "queues": [{**item, "vhost": vhost} for item in base["queues"]],
        "bindings": [{**item, "vhost": vhost} for item in base["bindings"]],
        "policies": [{**item, "vhost": vhost} for item in base["policies"]],
    }
