"""Event handlers that take their events in batches: one worker, one transaction, one commit.

A handler that commits once per event spends most of a burst on what every event repeats: a
worker, a transaction, a commit, a statement per table. A ``batch_event_handler`` is given the
events that arrived while its previous batch was being handled (group commit): a quiet queue
still sees each event at once, as a batch of one, and a burst is taken up to ``max_batch`` at a
time, so the handler can write a batch with one statement per table.

Delivery stays at least once and per event: every message is acknowledged, retried or
dead-lettered on its own. If a batch's transaction fails, each of its events is handled again
in a transaction of its own, so one bad event is retried or parked alone while the rest commit.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import eventlet
from nameko.events import SERVICE_POOL
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer

from .entrypoints import AnswersUndecodable, ReliableEventHandler, envelope_of
from .errors import CONTRACT_ERRORS
from .events import Event
from .federation import declare_peers_route, peers_queue
from .kernel import outcome_of

MAX_BATCH = 100


class BatchQueueConsumer(AnswersUndecodable, QueueConsumer):
    """nameko's queue consumer for batch handlers, on a connection of its own.

    Its prefetch is twice the largest batch, so the next batch arrives while one is handled
    (nameko's would be ``max_workers``, capping a batch at ten), and it hands each message to
    its handler directly: the handler only queues it, so a greenthread per message would be
    spent for nothing.
    """

    @property
    def prefetch_count(self) -> int:
        return 2 * max((p.max_batch for p in self._providers), default=MAX_BATCH)

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        # On every (re)connection, as nameko declares the queues themselves.
        for provider in self._providers:
            if provider.peers_only:
                declare_peers_route(
                    channel, provider.source_service, provider.event_type, provider.queue
                )
        return super().get_consumers(consumer_cls, channel)

    def handle_message(self, provider: Any, body: Any, message: Any) -> None:
        provider.handle_message(body, message)


@dataclass
class BatchOutcome:
    """What a batch worker returns: the events that failed, by position in the batch."""

    failed: dict[int, Any] = field(default_factory=dict)


class BatchEventHandler(ReliableEventHandler):
    """An event handler whose worker receives a list of message bodies.

    One batch is handled at a time per handler and process; messages arriving meanwhile wait,
    unacknowledged, for the next. Stopping requeues those still waiting.
    """

    queue_consumer = BatchQueueConsumer()

    def __init__(
        self,
        source_service: str,
        event_type: str,
        max_batch: int = MAX_BATCH,
        linger_s: float = 0.0,
        peers_only: bool = False,
        **kwargs: Any,
    ) -> None:
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.peers_only = peers_only
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        super().setup()
        if self.peers_only:
            self.queue = peers_queue(self.queue.name, self.source_service)
        self._waiting: list[tuple[Any, Any]] = []
        self._busy = False
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        super().stop()
        self._requeue_waiting()

    def handle_message(self, body: Any, message: Any) -> None:
        # Forged and misrouted messages are parked, and federated copies of own events (more
        # than one hop) acknowledged, before they join a batch (``ReliableEventHandler``).
        if self.screened(body, message):
            return
        self._waiting.append((body, message))
        if not self._busy:
            self._schedule()

    def _schedule(self) -> None:
        """Start the next batch (after ``linger_s``) in a thread of its own."""
        self._busy = True
        self.container.spawn_managed_thread(self._linger, identifier=self.method_name)

    def _linger(self) -> None:
        # Under a steady trickle a batch would hold one or two events; waiting ``linger_s``
        # lets a few more join it (for handlers whose readers tolerate the delay). A full batch
        # goes at once: lingering then would only cap a burst at max_batch per linger.
        if self.linger_s and len(self._waiting) < self.max_batch:
            eventlet.sleep(self.linger_s)
        self._start_batch()

    def _requeue(self, pairs: list[tuple[Any, Any]]) -> None:
        for _, message in pairs:
            self.queue_consumer.requeue_message(message)

    def _requeue_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._requeue(waiting)

    def _start_batch(self) -> None:
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        if not batch or self._stopping:
            self._busy = False
            self._requeue(batch)
            return
        try:
            self.container.spawn_worker(
                self,
                ([body for body, _ in batch],),
                {},
                # The first message's headers (call id stack, auth) stand for the batch.
                context_data=self.unpack_message_headers(batch[0][1]),
                handle_result=functools.partial(self.handle_batch_result, batch),
            )
        except ContainerBeingKilled:
            self._busy = False
            self._requeue(batch)
            self._requeue_waiting()

    def handle_batch_result(
        self,
        batch: list[tuple[Any, Any]],
        worker_ctx: Any,
        result: Any = None,
        exc_info: Any = None,
    ) -> tuple[Any, Any]:
        """Settle every message of the batch on its own, then start the next batch."""
        failed = result.failed if exc_info is None and isinstance(result, BatchOutcome) else {}
        for position, (_, message) in enumerate(batch):
            self.handle_result(message, worker_ctx, None, exc_info or failed.get(position))
        self._busy = False
        if self._waiting:
            self._schedule()
        return result, exc_info


def batch_event_handler(
    source_service: str,
    event_type: str,
    skip: Callable[[Any, Event], bool] | None = None,
    max_batch: int = MAX_BATCH,
    linger_s: float = 0.0,
    peers_only: bool = False,
) -> Callable[[Callable[..., Any]], Any]:
    """Handle ``event_type`` from ``source_service`` in batches: ``fn(self, uow, events)``.

    ``events`` are first-time events only (each event id is recorded as processed for this
    handler in the same transaction), in arrival order. ``fn`` may return one outcome per event
    (``None`` meaning ``ok``; e.g. ``ignored``, ``duplicate``) for the metrics and the log.
    ``skip(self, event)`` is asked first, as for ``event_handler``. ``linger_s`` holds a batch
    back that long after its first event, so that a steady trickle is still taken several at a
    time (each event then waits up to ``linger_s`` more). ``peers_only`` binds the handler's
    queue to federated peers' copies only (``pioneer.federation``): for a handler of a
    service's own event type, which its own events would otherwise flood; a copy of an event
    whose ``origin_city`` this deployment serves is acknowledged unparsed (``skipped``).
    """

    def decorator(fn: Callable[..., Any]) -> Any:
        handler = fn.__name__

        def handle(self: Any, events: list[Event], tally: Counter[str]) -> None:
            with self.ctx.uow() as uow:
                fresh = uow.first_times([event.event_id for event in events], handler)
                todo = []
                for event in events:
                    if event.event_id in fresh:
                        fresh.discard(event.event_id)  # a repeat inside the batch is a duplicate
                        todo.append(event)
                    else:
                        tally["duplicate"] += 1
                outcomes: Sequence[str | None] | None = fn(self, uow, todo) if todo else None
            for outcome in outcomes or [None] * len(todo):
                tally[outcome or "ok"] += 1

        @functools.wraps(fn)
        def entry(self: Any, payloads: list[Any]) -> BatchOutcome:
            context = self.ctx
            context.tally = tally = Counter()
            result = BatchOutcome()
            events: list[tuple[int, Event]] = []
            for position, payload in enumerate(payloads):
                try:
                    event = envelope_of(payload)
                except Exception:
                    result.failed[position] = sys.exc_info()
                    continue
                if skip is not None and skip(self, event):
                    tally["skipped"] += 1
                else:
                    events.append((position, event))
            context.bind(events=len(payloads))
            if not events:
                return _counted(result, tally)
            try:
                handle(self, [event for _, event in events], tally)
            except Exception:
                if len(events) == 1:
                    result.failed[events[0][0]] = sys.exc_info()
                    return _counted(result, tally)
                # Nothing of the batch was written: each event again, on its own.
                tally.clear()
                tally["skipped"] = len(payloads) - len(events) - len(result.failed)
                for position, event in events:
                    try:
                        handle(self, [event], tally)
                    except Exception:
                        result.failed[position] = sys.exc_info()
            return _counted(result, tally)

        return BatchEventHandler.decorator(
            source_service,
            event_type,
            max_batch=max_batch,
            linger_s=linger_s,
            peers_only=peers_only,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            expected_exceptions=CONTRACT_ERRORS,
        )(entry)

    return decorator


def _counted(result: BatchOutcome, tally: Counter[str]) -> BatchOutcome:
    for exc_info in result.failed.values():
        tally[outcome_of(exc_info)] += 1
    if not tally["skipped"]:
        del tally["skipped"]
    return result


__all__ = ["BatchEventHandler", "BatchOutcome", "batch_event_handler"]
