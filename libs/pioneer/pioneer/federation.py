"""Peers' copies of events, told apart from a deployment's own by the broker.

A deployment's own events and the copies RabbitMQ's federation plugin brings from peer
deployments arrive on the same ``<service>.events`` exchange, with the same routing key. A
handler of a service's own event type wants only the peers' copies: bound to the exchange
directly, it would receive every event its own service publishes, only to throw it away, and
the broker would route, deliver and take an acknowledgement for each.

Federation marks every copy it forwards with an ``x-received-from`` header. A peers-only queue
is therefore bound, through a headers exchange ``<service>.events.peers`` fed by the
events exchange, on that header's presence: own events stop at the broker, in a shared
deployment (no federation) the queue receives nothing at all, and the copies federation
forwards reach it whichever peers are linked.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from .queues import QUORUM

# A binding argument of AMQP type void matches a header by presence (whatever its value);
# ``any-with-x`` lets a header whose name starts with ``x-`` take part in the match.
FEDERATED_COPIES: dict[str, Any] = {"x-match": "any-with-x", "x-received-from": None}


def events_exchange(source_service: str) -> Exchange:
    """``<source>.events``, declared as nameko declares it."""
    return Exchange(f"{source_service}.events", type="topic", durable=True)


def peers_exchange(source_service: str) -> Exchange:
    """``<source>.events.peers``: the headers exchange peers-only queues bind to. (Not marked
    internal, as nothing publishes to it directly: kombu cannot declare internal exchanges.)"""
    return Exchange(f"{source_service}.events.peers", type="headers", durable=True)


def peers_queue(name: str, source_service: str) -> Queue:
    """A durable queue that receives only federated copies of ``source_service``'s events."""
    return Queue(
        name,
        exchange=peers_exchange(source_service),
        routing_key="",
        binding_arguments=FEDERATED_COPIES,
        durable=True,
        queue_arguments=QUORUM,
    )


def declare_peers_route(channel: Any, source_service: str, event_type: str, queue: Queue) -> None:
    """Feed ``event_type`` from ``<source>.events`` into the peers exchange, and undo the direct
    binding ``queue`` had before it was peers-only (queues are durable: without this, an
    upgraded deployment would go on receiving its own events)."""
    source = events_exchange(source_service)(channel)
    peers = peers_exchange(source_service)(channel)
    source.declare()
    peers.declare()
    peers.bind_to(source, routing_key=event_type)
    bound = queue(channel)
    bound.declare()
    bound.unbind_from(source, routing_key=event_type)
