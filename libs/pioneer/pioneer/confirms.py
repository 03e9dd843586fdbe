"""Publisher confirms pipelined: a batch of messages, then one wait for all of their confirms.

kombu's ``confirm_publish`` waits for the broker's confirm of each message before sending the
next, a round trip per event. RabbitMQ confirms a channel's messages by delivery tag, several
at once (``multiple``), so the relay sends a whole batch and then waits until every tag is
confirmed. A nack, a timeout or a lost connection fails the batch: the caller marks nothing
and publishes it again (consumers are idempotent), so a batch is never half-marked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Exchange, Producer
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, PERSISTENT


class PublishNotConfirmed(Exception):
    """The broker nacked a message of the batch or did not confirm it in time."""


@dataclass
class OutgoingMessage:
    """One message of a batch."""

    body: Any
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)


class PipelinedPublisher:
    """Publishes batches to one exchange on a channel of its own in confirm mode.

    Batches are sent one at a time (a lock: the relay's thread and its ``stop`` may both
    publish), as two readers of one connection would steal each other's confirms.
    """

    def __init__(
        self,
        amqp_uri: str,
        exchange: Exchange,
        confirm_timeout_s: float = 30.0,
        ssl: Any = None,
        login_method: str | None = None,
    ) -> None:
        self._uri = amqp_uri
        self._ssl = ssl
        self._login_method = login_method
        self.exchange = exchange
        self.confirm_timeout_s = confirm_timeout_s
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._next_tag = 0
        self._unconfirmed: set[int] = set()
        self._nacked = 0
        self._lock = threading.Lock()  # green under eventlet's monkey patching

    def _open(self) -> Producer:
        if self._producer is not None:
            return self._producer
        options = {k: v for k, v in DEFAULT_TRANSPORT_OPTIONS.items() if k != "confirm_publish"}
        connection = Connection(
            self._uri, transport_options=options, ssl=self._ssl, login_method=self._login_method
        )
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.exchange(channel).declare()
        self._connection, self._producer = connection, Producer(channel, exchange=self.exchange)
        self._next_tag, self._unconfirmed, self._nacked = 0, set(), 0
        return self._producer

    def _settle(self, delivery_tag: int, multiple: bool) -> int:
        settled = (
            {t for t in self._unconfirmed if t <= delivery_tag} if multiple else {delivery_tag}
        )
        self._unconfirmed -= settled
        return len(settled)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool, *_: Any) -> None:
        self._nacked += self._settle(delivery_tag, multiple)

    def publish(self, messages: Iterable[OutgoingMessage]) -> int:
        """Send every message (persistent, JSON), then wait until the broker confirmed all of
        them; how many were sent. ``PublishNotConfirmed`` or the transport's error otherwise
        (the connection is dropped, the next batch opens a new one)."""
        with self._lock:
            return self._publish(messages)

    def _publish(self, messages: Iterable[OutgoingMessage]) -> int:
        try:
            producer = self._open()
            sent = 0
            for message in messages:
                producer.publish(
                    message.body,
                    routing_key=message.routing_key,
                    headers=message.headers,
                    serializer="json",
                    delivery_mode=PERSISTENT,
                )
                self._next_tag += 1
                self._unconfirmed.add(self._next_tag)
                sent += 1
            assert self._connection is not None
            while self._unconfirmed:
                try:
                    self._connection.drain_events(timeout=self.confirm_timeout_s)
                except TimeoutError:
                    raise PublishNotConfirmed(
                        f"{len(self._unconfirmed)} of {sent} not confirmed in "
                        f"{self.confirm_timeout_s:.0f} s"
                    ) from None
            if self._nacked:
                raise PublishNotConfirmed(f"the broker refused {self._nacked} of {sent}")
            return sent
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drop the connection (the next ``publish`` opens another)."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing more to do
                connection.release()
