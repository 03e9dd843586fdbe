"""Failed event handling: bounded retries with backoff through the broker, then a dead-letter queue.

A failed event goes to ``<service>.retry.<ms>ms`` (a fanout exchange and a queue whose
messages expire after ``ms`` and dead-letter to ``<service>.retry``). The message keeps the
handler's queue name as its routing key, and ``<service>.retry`` is a direct exchange to which
each of the service's handler queues is bound by its own name, so when it expires it lands back
on that queue. After the configured delays are used up it is parked in ``<service>.dlq`` (an
exchange and a queue of that name) with the error, where ``pioneer dlq list`` shows it and
``pioneer dlq replay`` sends it back to its handler through ``<service>.retry``.
No worker sleeps while waiting for a retry, and nothing is lost if the process dies.

Every name carries the service's, and nothing goes through the default exchange: a service's
broker user may then publish to its own retry and dead-letter exchanges only, and those reach
its own queues only (``definitions.service_grant``). Retry queues shared by every service, or
dead-lettering through the default exchange, would route a message to any queue it names.
"""

from __future__ import annotations

import traceback
from typing import Any

from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import Publisher

from . import clock
from .events import PoisonMessage
from .queues import QUORUM, RETRY

ATTEMPTS_HEADER = "x-pioneer-attempts"
QUEUE_HEADER = "x-pioneer-queue"
ERROR_HEADER = "x-pioneer-error"
HANDLER_HEADER = "x-pioneer-handler"
FAILED_AT_HEADER = "x-pioneer-failed-at"
_DROPPED_HEADERS = {
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
}


def dlq_name(service: str) -> str:
    """The dead-letter queue of a service."""
    return f"{service}.dlq"


def requeue_exchange(service: str) -> Exchange:
    """``<service>.retry``: routes a message back to the service's handler queue it names."""
    return Exchange(f"{service}.retry", type="direct", durable=True)


def retry_exchange(service: str, delay_s: int) -> Exchange:
    return Exchange(f"{service}.retry.{delay_s * 1000}ms", type="fanout", durable=True)


def retry_queue(service: str, delay_s: int) -> Queue:
    return Queue(
        f"{service}.retry.{delay_s * 1000}ms",
        exchange=retry_exchange(service, delay_s),
        durable=True,
        queue_arguments={
            **RETRY,
            "x-message-ttl": delay_s * 1000,
            "x-dead-letter-exchange": requeue_exchange(service).name,
        },
    )


def dlq_exchange(service: str) -> Exchange:
    return Exchange(dlq_name(service), type="fanout", durable=True)


def dlq_queue(service: str) -> Queue:
    return Queue(
        dlq_name(service),
        exchange=dlq_exchange(service),
        routing_key=dlq_name(service),
        durable=True,
        queue_arguments=QUORUM,
    )


def bind_for_requeue(channel: Any, service: str, queue_name: str) -> None:
    """Bind the handler queue ``queue_name`` to ``<service>.retry`` by its own name (idempotent;
    the broker refuses it for a queue that is not the service's)."""
    exchange = requeue_exchange(service)(channel)
    exchange.declare()
    channel.queue_bind(queue=queue_name, exchange=exchange.name, routing_key=queue_name)


class DeadLetters:
    """Routes a failed message to its next retry or to the service's dead-letter queue."""

    def __init__(self, service: str, amqp_uri: str, delays_s: list[int]) -> None:
        self.service = service
        self.delays_s = delays_s
        self.amqp_uri = amqp_uri
        self.publisher = Publisher(amqp_uri, use_confirms=True)
        self._bound: set[str] = set()

    def _ensure_requeue_binding(self, queue_name: str) -> None:
        """The way back from a retry queue to ``queue_name``, bound once per process."""
        if queue_name in self._bound:
            return
        with Connection(self.amqp_uri) as connection:
            bind_for_requeue(connection.default_channel, self.service, queue_name)
        self._bound.add(queue_name)

    def attempts_of(self, message: Any) -> int:
        value = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    def handle_failure(self, message: Any, queue_name: str, handler: str, exc_info: Any) -> str:
        """Send ``message`` to its next retry or park it; return ``retry`` or ``dead_letter``."""
        attempts = self.attempts_of(message)
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()[:1000]
        headers = {k: v for k, v in (message.headers or {}).items() if k not in _DROPPED_HEADERS}
        headers.update(
            {
                ATTEMPTS_HEADER: attempts + 1,
                ERROR_HEADER: error,
                HANDLER_HEADER: handler,
                QUEUE_HEADER: queue_name,
            }
        )
        payload = message.payload
        if exc_info[0] is not PoisonMessage and attempts < len(self.delays_s):
            delay = self.delays_s[attempts]
            self._ensure_requeue_binding(queue_name)
            self.publisher.publish(
                payload,
                exchange=retry_exchange(self.service, delay),
                routing_key=queue_name,
                headers=headers,
                declare=[retry_queue(self.service, delay)],
            )
            return "retry"
        headers[FAILED_AT_HEADER] = clock.iso(clock.utcnow())
        self.publisher.publish(
            payload,
            exchange=dlq_exchange(self.service),
            routing_key=dlq_name(self.service),
            headers=headers,
            declare=[dlq_queue(self.service)],
        )
        return "dead_letter"
