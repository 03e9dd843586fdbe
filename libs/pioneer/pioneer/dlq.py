"""Inspect and replay a service's dead-letter queue (``pioneer dlq list|replay``).

Both work with the service's own broker user: a replay goes back through ``<service>.retry``,
which reaches only the service's own handler queues, not through the default exchange.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection

from .deadletter import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    HANDLER_HEADER,
    QUEUE_HEADER,
    bind_for_requeue,
    dlq_queue,
    requeue_exchange,
)

_KERNEL_HEADERS = {ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, HANDLER_HEADER, QUEUE_HEADER}


def _describe(message: Any) -> dict[str, Any]:
    headers = message.headers or {}
    payload = (
        message.payload
        if isinstance(message.payload, dict)
        else {"raw": str(message.payload)[:200]}
    )
    return {
        "event_id": payload.get("event_id"),
        "type": payload.get("type"),
        "city": payload.get("city"),
        "handler": headers.get(HANDLER_HEADER),
        "queue": headers.get(QUEUE_HEADER),
        "attempts": headers.get(ATTEMPTS_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "error": headers.get(ERROR_HEADER),
    }


def _fetch(channel: Any, service: str, limit: int) -> list[Any]:
    queue = dlq_queue(service)(channel)
    queue.declare()
    messages = []
    while len(messages) < limit:
        message = queue.get(no_ack=False, accept=["json"])
        if message is None:
            break
        messages.append(message)
    return messages


def list_dead_letters(amqp_uri: str, service: str, limit: int = 100) -> list[dict[str, Any]]:
    """Up to ``limit`` parked messages, oldest first; they stay in the queue."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        messages = _fetch(channel, service, limit)
        described = [_describe(m) for m in messages]
        channel.close()  # unacknowledged messages go back to the queue
    return described


def replay_dead_letters(
    amqp_uri: str, service: str, event_ids: set[str] | None = None, limit: int = 10_000
) -> int:
    """Send parked messages (all, or those with ``event_ids``) back to their handlers' queues."""
    replayed = 0
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        producer = conn.Producer(channel)
        bound: set[str] = set()
        for message in _fetch(channel, service, limit):
            info = _describe(message)
            if event_ids is not None and info["event_id"] not in event_ids:
                continue
            if not info["queue"]:
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in _KERNEL_HEADERS}
            if info["queue"] not in bound:  # a queue parked before it was ever retried
                bind_for_requeue(channel, service, info["queue"])
                bound.add(info["queue"])
            producer.publish(
                message.payload,
                exchange=requeue_exchange(service).name,
                routing_key=info["queue"],
                headers=headers,
                serializer="json",
                delivery_mode=2,
            )
            message.ack()
            replayed += 1
        channel.close()
    return replayed


def dead_letter_count(amqp_uri: str, service: str) -> int:
    """How many messages wait in the service's dead-letter queue."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        _, count, _ = dlq_queue(service)(channel).queue_declare()
        channel.close()
    return count
