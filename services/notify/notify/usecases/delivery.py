"""Push deliveries: the timer's send of what is due (claimed under a lease, sent concurrently
outside any transaction, each outcome recorded: sent, retried with backoff, or dead-lettered),
and the dead letters' listing and replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import eventlet

from pioneer import clock
from pioneer.backoff import backoff_s
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..channels import Channel, DeliveryError
from ..schemas import DeliveryOut, ReplayedOut
from ..settings import NotifySettings

# ``count(channel, outcome)``: one delivery attempt's outcome (sent, retry, failed), for metrics.
Count = Callable[[str, str], None]


def send_due(
    uow: Any, settings: NotifySettings, channels: dict[str, Channel], count: Count, log: Any
) -> int:
    """Push the deliveries that are due (new, released from quiet hours, or retried): claim a
    batch, send it concurrently outside any transaction, record each outcome. How many sent."""
    now = clock.utcnow()
    with uow.reading() as store:
        due = store.due_deliveries(now, settings.DELIVERY_BATCH)
    if not due:
        return 0
    lease_until = now + timedelta(seconds=settings.delivery_lease_s)
    with uow:
        claimed = uow.store.claim_deliveries(due, now, lease_until)
        hooks = uow.store.webhook_targets(r.recipient_id for r in claimed if r.channel == "webhook")

    def attempt(row: Any) -> tuple[Any, DeliveryError | None]:
        try:
            channels[row.channel].send(presenters.delivery(row, hooks.get(row.recipient_id)))
        except DeliveryError as exc:
            return row, exc
        except Exception as exc:  # an adapter's bug must not stop the batch: retried
            log.warning(
                "delivery_adapter_error",
                notification_id=row.id,
                channel=row.channel,
                error=type(exc).__name__,
            )
            return row, DeliveryError(domain.ADAPTER_ERROR, True, type(exc).__name__)
        return row, None

    pool = eventlet.GreenPool(settings.DELIVERY_CONCURRENCY)
    outcomes = list(pool.imap(attempt, claimed))
    return record_outcomes(uow, settings, outcomes, count, log)


def record_outcomes(
    uow: Any,
    settings: NotifySettings,
    outcomes: list[tuple[Any, DeliveryError | None]],
    count: Count,
    log: Any,
) -> int:
    """Record what each claimed attempt came to, in one transaction; how many were sent. Only
    the attempt this sender claimed is changed (a replay meanwhile starts afresh). A failure is
    recorded by its coarse reason only (``domain.FAILURE_REASONS``)."""
    now = clock.utcnow()
    sent = 0
    with uow:
        for row, error in outcomes:
            if error is None:
                if uow.store.mark_sent(row, now):
                    sent += 1
                    uow.emit("notification_sent", row.city, presenters.delivery_event(row))
                count(row.channel, "sent")
                continue
            step = domain.next_step(row.attempts, error.retryable, settings.DELIVERY_MAX_ATTEMPTS)
            if step == "retry":
                delay = backoff_s(
                    row.attempts, settings.DELIVERY_BACKOFF_S, settings.DELIVERY_BACKOFF_MAX_S
                )
                uow.store.retry_later(row, now + timedelta(seconds=delay), error.reason)
                count(row.channel, "retry")
                continue
            if uow.store.dead_letter(row, error.reason):
                failed = presenters.delivery_event(row, error=error.reason)
                uow.emit("notification_failed", row.city, failed)
            log.warning(
                "delivery_dead_lettered",
                notification_id=row.id,
                channel=row.channel,
                attempts=row.attempts,
                error=error.reason,
                detail=error.detail,
            )
            count(row.channel, "failed")
    return sent


def failed_deliveries(uow: Any, city: str, limit: int, cursor: str | None) -> Page[DeliveryOut]:
    """Dead-lettered push deliveries of a city, in id order."""
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.failed_page(city, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[DeliveryOut](
        items=[presenters.delivery_out(row) for row in items], next_cursor=next_cursor
    )


def replay_deliveries(uow: Any, city: str, notification_ids: list[str], log: Any) -> ReplayedOut:
    """Send dead-lettered deliveries of a city again from the first attempt."""
    with uow:
        replayed = uow.store.replay(city, notification_ids, clock.utcnow())
    if replayed:
        log.info("deliveries_replayed", city=city, count=len(replayed))
    return ReplayedOut(replayed=sorted(replayed))
