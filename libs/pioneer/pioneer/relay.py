"""The outbox relay: publishes committed events to ``<service>.events`` with broker confirms.

Rows are read in commit order, published as nameko's ``EventDispatcher`` would (its exchange,
the event type as routing key, so ordinary ``@event_handler``s receive them) a batch at a time
with the confirms pipelined (``confirms``), and marked published only after the broker
confirmed all of them. A crash in between publishes a row twice, never loses it;
consumers are idempotent. On PostgreSQL, rows are locked ``FOR UPDATE SKIP LOCKED`` while in
flight so replicas of a service share the work instead of repeating it.

Between turns the relay also keeps the database tidy: published rows and old processed-event
records are deleted after their retention, and SQLite's planner statistics are refreshed hourly.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from nameko.standalone.events import get_event_exchange
from sqlalchemy import Engine, delete, func, select, update

from . import clock
from .backoff import backoff_s
from .confirms import OutgoingMessage, PipelinedPublisher
from .db import outbox, processed_events, refresh_statistics
from .metrics import ServiceMetrics

BATCH = 500
LINGER_S = 0.005
CLEANUP_EVERY_S = 60.0
STATISTICS_EVERY_S = 3600.0
PROCESSED_RETENTION = timedelta(days=30)


class OutboxRelay:
    """Publishes the outbox of one service database; ``run`` is its managed thread."""

    def __init__(
        self,
        service: str,
        engine: Engine,
        amqp_uri: str,
        metrics: ServiceMetrics,
        poll_s: float,
        retention_h: int,
        log: Any,
    ) -> None:
        self.service = service
        self.engine = engine
        self.metrics = metrics
        self.poll_s = poll_s
        self.retention = timedelta(hours=retention_h)
        self.log = log
        self.exchange = get_event_exchange(service, {})
        self.publisher = PipelinedPublisher(amqp_uri, self.exchange)
        self._wake: LightQueue = LightQueue(maxsize=1)
        self._running = False
        self._last_cleanup = 0.0
        self._last_statistics = float("-inf")  # at the first turn
        self.failures = 0

    def wake(self) -> None:
        """Ask the relay to publish now (called after a commit that wrote events)."""
        if self._wake.qsize() == 0:
            with contextlib.suppress(Full):  # a wake-up is already pending
                self._wake.put_nowait(True)

    def run(self, ready: Any = None) -> None:
        """Publish until stopped; back off while the broker is unreachable.

        ``ready`` (optional) is waited for first: the container's own consumers declare their
        queues before anything is published, so no event of this service is dropped unrouted.
        """
        self._running = True
        if ready is not None:
            ready()
        while self._running:
            try:
                self.drain()
                self.failures = 0
                self._maybe_cleanup()
            except Exception as exc:
                self.failures += 1
                self.metrics.outbox_errors.labels(self.service).inc()
                self.log.warning("outbox_relay_error", error=str(exc)[:300], failures=self.failures)
                with contextlib.suppress(Exception):  # the database may be what failed
                    self._update_backlog()
                eventlet.sleep(backoff_s(self.failures + 1, base_s=0.5, cap_s=30.0))
                continue
            try:
                self._wake.get(timeout=self.poll_s)
            except Empty:
                continue
            if self._running:
                # Commits of the next few milliseconds join this drain: one read, one producer
                # and one update for several events instead of each.
                eventlet.sleep(LINGER_S)

    def stop(self) -> None:
        """Publish what is pending, then end ``run``."""
        self._running = False
        self.wake()
        try:
            self.drain()
        except Exception as exc:
            self.log.warning("outbox_relay_stop_pending", error=str(exc)[:300])
        finally:
            self.publisher.close()

    def drain(self) -> int:
        """Publish every pending row; return how many were published."""
        total = 0
        while True:
            published = self._publish_batch()
            total += published
            if published < BATCH:
                break
        # The last read found fewer rows than it asked for: nothing was left (rows committed
        # since then have woken the relay again). Counted only when publishing fails.
        self.metrics.outbox_backlog.labels(self.service).set(0)
        return total

    def _publish_batch(self) -> int:
        pending = (
            select(outbox.c.seq, outbox.c.event_type, outbox.c.payload, outbox.c.headers)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(BATCH)
        )
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = conn.execute(pending.with_for_update(skip_locked=True)).all()
                self._publish(rows)
                self._mark(conn, [r.seq for r in rows])
            return len(rows)
        # SQLite: never hold a transaction across broker I/O (it would block other writers).
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            rows = conn.execute(pending).all()
            conn.rollback()
        self._publish(rows)
        if rows:
            with self.engine.begin() as conn:
                self._mark(conn, [r.seq for r in rows])
        return len(rows)

    def _publish(self, rows: list[Any]) -> None:
        if not rows:
            return
        # The whole batch, then one wait for all of its confirms.
        self.publisher.publish(
            OutgoingMessage(row.payload, row.event_type, row.headers or {}) for row in rows
        )

    def _mark(self, conn: Any, seqs: list[int]) -> None:
        if not seqs:
            return
        conn.execute(
            update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=clock.utcnow())
        )
        self.metrics.outbox_published.labels(self.service).inc(len(seqs))

    def _update_backlog(self) -> None:
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            backlog = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
            conn.rollback()
        self.metrics.outbox_backlog.labels(self.service).set(backlog)

    def _maybe_cleanup(self) -> None:
        now = eventlet.hubs.get_hub().clock()
        if now - self._last_statistics >= STATISTICS_EVERY_S:
            self._last_statistics = now
            refresh_statistics(self.engine)
        if now - self._last_cleanup < CLEANUP_EVERY_S:
            return
        self._last_cleanup = now
        cutoff = clock.utcnow() - self.retention
        with self.engine.begin() as conn:
            old = (
                select(outbox.c.seq)
                .where(outbox.c.published_at < cutoff)
                .limit(5000)
                .scalar_subquery()
            )
            conn.execute(delete(outbox).where(outbox.c.seq.in_(old)))
            conn.execute(
                delete(processed_events).where(
                    processed_events.c.processed_at < clock.utcnow() - PROCESSED_RETENTION
                )
            )
