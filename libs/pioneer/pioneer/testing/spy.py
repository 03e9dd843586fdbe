"""Watch a service's events exchange from a test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Exchange, Queue


class EventSpy:
    """Binds a private queue to ``<service>.events`` (all routing keys) and collects envelopes."""

    def __init__(self, amqp_uri: str, service: str) -> None:
        self._conn = Connection(amqp_uri)
        self._channel = self._conn.channel()
        exchange = Exchange(f"{service}.events", type="topic", durable=True)
        self._queue = Queue(
            f"spy-{service}-{uuid.uuid4().hex[:8]}",
            exchange=exchange,
            routing_key="#",
            durable=False,
            auto_delete=True,
        )(self._channel)
        self._queue.declare()
        self.events: list[dict[str, Any]] = []

    def _drain(self) -> None:
        while True:
            message = self._queue.get(no_ack=True, accept=["json"])
            if message is None:
                return
            self.events.append(message.payload)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        self._drain()
        return [e for e in self.events if e.get("type") == event_type]

    def wait_for(
        self,
        event_type: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda e: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        """The first ``count`` events of ``event_type`` matching ``predicate`` (fails on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.of_type(event_type) if predicate(e)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{count} {event_type} event(s) expected, saw {len(found)} in {timeout}s"
                )
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self._channel.close()
        finally:
            self._conn.close()
