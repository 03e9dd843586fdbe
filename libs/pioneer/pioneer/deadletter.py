"""Failed event handling: bounded retries with backoff through the broker, then a dead-letter queue.

A failed event goes to ``pioneer.retry.<ms>`` (a fanout exchange and a queue whose messages
expire after ``ms`` and dead-letter through the default exchange). The message keeps the
handler's queue name as its routing key, so when it expires it lands back on that queue. After
the configured delays are used up it is parked in ``<service>.dlq`` with the error, where
``pioneer dlq list`` shows it and ``pioneer dlq replay`` sends it back to its handler.
No worker sleeps while waiting for a retry, and nothing is lost if the process dies.
"""

from __future__ import annotations

import traceback
from typing import Any

from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher

from . import clock
from .events import PoisonMessage

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


def retry_exchange(delay_s: int) -> Exchange:
    return Exchange(f"pioneer.retry.{delay_s * 1000}ms", type="fanout", durable=True)


def retry_queue(delay_s: int) -> Queue:
    return Queue(
        f"pioneer.retry.{delay_s * 1000}ms",
        exchange=retry_exchange(delay_s),
        durable=True,
        queue_arguments={"x-message-ttl": delay_s * 1000, "x-dead-letter-exchange": ""},
    )


def dlq_queue(service: str) -> Queue:
    return Queue(
        dlq_name(service),
        exchange=Exchange("", type="direct"),
        routing_key=dlq_name(service),
        durable=True,
    )


class DeadLetters:
    """Routes a failed message to its next retry or to the service's dead-letter queue."""

    def __init__(self, service: str, amqp_uri: str, delays_s: list[int]) -> None:
        self.service = service
        self.delays_s = delays_s
        self.publisher = Publisher(amqp_uri, use_confirms=True)

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
            self.publisher.publish(
                payload,
                exchange=retry_exchange(delay),
                routing_key=queue_name,
                headers=headers,
                declare=[retry_queue(delay)],
            )
            return "retry"
        headers[FAILED_AT_HEADER] = clock.iso(clock.utcnow())
        self.publisher.publish(
            payload,
            exchange=Exchange("", type="direct"),
            routing_key=dlq_name(self.service),
            headers=headers,
            declare=[dlq_queue(self.service)],
        )
        return "dead_letter"
