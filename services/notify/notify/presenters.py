"""Rows as the contract's results and events: what a reader sees of a notification, a delivery
and preferences; what a push adapter is handed; what notify's events say."""

from __future__ import annotations

from typing import Any

from pioneer import clock
from pioneer.event_contract import NotificationDelivered
from pioneer.schemas import from_row

from . import domain
from .channels import Delivery
from .schemas import DeliveryOut, NotificationOut, PreferencesOut


def notification_out(row: Any) -> NotificationOut:
    """An inbox notification."""
    return from_row(NotificationOut, row)


def delivery_out(row: Any) -> DeliveryOut:
    """A push delivery with its state (``failed_deliveries``)."""
    return from_row(DeliveryOut, row)


def preferences_out(row: Any, new_secret: str | None = None) -> PreferencesOut:
    """A recipient's stored preferences (the inbox always listed first); ``new_secret`` only in
    the answer to the change that made it (the stored secret is never read back out)."""
    quiet = {"start": row.quiet_start, "end": row.quiet_end} if row.quiet_start else None
    return PreferencesOut.model_validate(
        {
            "recipient_id": row.recipient_id,
            "channels": domain.effective_channels(row.channels),
            "quiet_hours": quiet,
            "webhook_url": row.webhook_url,
            "updated_at": row.updated_at,
            "webhook_secret": new_secret,
        }
    )


def default_preferences(recipient_id: str) -> PreferencesOut:
    """What a recipient who never chose gets: the inbox only, no quiet hours."""
    return PreferencesOut(
        recipient_id=recipient_id,
        channels=[domain.INBOX],
        quiet_hours=None,
        webhook_url=None,
        updated_at=None,
    )


def delivery(row: Any, webhook: tuple[str | None, str | None] | None = None) -> Delivery:
    """A claimed push row as its adapter sends it; ``webhook`` is the recipient's
    ``(webhook_url, webhook_secret)``."""
    webhook_url, webhook_secret = webhook or (None, None)
    return Delivery(
        notification_id=row.id,
        recipient_id=row.recipient_id,
        kind=row.kind,
        subject_id=row.subject_id,
        title=row.title,
        body=row.body,
        channel=row.channel,
        created_at=clock.iso(row.created_at) or "",
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )


def inbox_stored_event(
    source_event_id: str, city: str, kind: str, subject_id: str, rows: list[Any]
) -> NotificationDelivered:
    """``notification_sent`` for the inbox rows of one kind stored for one source event: their
    count, and the row's ids when there is only one."""
    only = rows[0] if len(rows) == 1 else None
    return NotificationDelivered(
        source_event_id=source_event_id,
        city=city,
        kind=kind,
        subject_id=subject_id,
        channel=domain.INBOX,
        count=len(rows),
        notification_id=only.id if only else None,
        recipient_id=only.recipient_id if only else None,
    )


def delivery_event(row: Any, error: str | None = None) -> NotificationDelivered:
    """``notification_sent`` (no ``error``) or ``notification_failed`` for one push delivery."""
    failed = {} if error is None else {"error": error}
    return from_row(NotificationDelivered, row, notification_id=row.id, **failed)
