"""What kind of queue each of Pioneer's queues is.

Every durable queue the kernel declares (event handlers' queues, peers-only queues, retry
queues, dead-letter queues) is a **quorum queue**: replicated by Raft across a RabbitMQ
cluster's nodes, so an event survives the loss of a node, and the same definitions run on one
node or three. nameko 2.14 declares its event queues without ``x-queue-type``, so the kernel
declares them itself (``entrypoints.ReliableEventHandler``) and the broker's definitions carry
the same arguments (a queue declared twice with different arguments is refused).

An event no queue takes is never dropped by accident: every ``<service>.events`` exchange has
an alternate exchange, ``<service>.unrouted``, whose quorum queue of the same name keeps it
and raises ``PioneerEventsUnrouted``. The event types a service publishes that no Pioneer
service consumes (for outside systems: ``wish_submitted``, ``notification_sent``...) are
routed, by declaration, to ``<service>.outside``, an exchange an outside system binds its own
queue to; with none bound, they are dropped there on purpose, not parked as a fault.

RPC queues stay classic: ``rpc-<service>`` holds calls whose callers wait seconds at most (a
call lost with a node times out and is the caller's to retry, and quorum replication would add
a consensus round to every call); reply queues are exclusive and auto-delete, which quorum
queues cannot be.
"""

from __future__ import annotations

from typing import Any

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# A retry queue's messages go back to their handler queue when their delay is over: dead
# lettered at least once, so none is lost between the two (quorum queues' default is at most
# once; at least once needs the queue to refuse publishes when full rather than drop).
RETRY: dict[str, Any] = {
    **QUORUM,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def unrouted(service: str) -> str:
    """The alternate exchange of ``<service>.events`` and its queue."""
    return f"{service}.unrouted"


def outside(service: str) -> str:
    """The exchange of ``service``'s event types no Pioneer service consumes."""
    return f"{service}.outside"


def events_policy(service: str, federated: bool) -> tuple[str, dict[str, Any]]:
    """The one policy on ``<service>.events`` (RabbitMQ applies one policy per exchange): its
    alternate exchange and, in a federated deployment, its federation from every peer."""
    definition: dict[str, Any] = {"alternate-exchange": unrouted(service)}
    if federated:
        definition["federation-upstream-set"] = "all"
    return f"pioneer-{service}-events", {
        "pattern": f"^{service}\\.events$",
        "definition": definition,
        "apply-to": "exchanges",
        "priority": 10,
    }
