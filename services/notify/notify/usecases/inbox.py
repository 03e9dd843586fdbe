"""The inbox and preferences: reading a recipient's notifications, marking them read, and the
channels, quiet hours and webhook URL (with its signing secret) that decide its push deliveries.

Who may act on which inbox is checked with the entrypoints, before these run."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pioneer import clock
from pioneer.errors import ValidationError
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters, webhook_rules
from ..schemas import MarkedOut, NotificationOut, PreferencesIn, PreferencesOut


def inbox(
    uow: Any, recipient_id: str, unread_only: bool, limit: int, cursor: str | None
) -> Page[NotificationOut]:
    """The recipient's inbox, newest first, keyset-paged on id."""
    before = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.inbox_page(recipient_id, unread_only, before, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[NotificationOut](
        items=[presenters.notification_out(row) for row in items], next_cursor=next_cursor
    )


def mark_read(uow: Any, recipient_id: str, notification_ids: list[str]) -> MarkedOut:
    """Mark inbox notifications of the recipient read (others' ids and read ones are skipped)."""
    with uow:
        marked = uow.store.mark_read(recipient_id, notification_ids, clock.utcnow())
        unread = uow.store.unread_count(recipient_id)
    return MarkedOut(recipient_id=recipient_id, marked=marked, unread=unread)


def set_preferences(
    uow: Any,
    recipient_id: str,
    preferences: PreferencesIn,
    plain_http_hosts: Collection[str] = (),
) -> PreferencesOut:
    """Replace the recipient's channels, quiet hours and webhook URL.

    The URL must pass ``webhook_rules.url_refusal`` (https, a public host, a usual port; plain http only
    for ``plain_http_hosts``). A new URL, or ``rotate_webhook_secret``, gets a new signing secret,
    returned in this answer only; the same URL again keeps the secret; no URL, no secret.
    """
    url = preferences.webhook_url
    if "webhook" in preferences.channels and url is None:
        raise ValidationError("preferences.webhook_url", "required when channels include webhook")
    problem = url and webhook_rules.url_refusal(url, plain_http_hosts)
    if problem:
        raise ValidationError("preferences.webhook_url", problem)
    quiet = preferences.quiet_hours
    values = {
        "recipient_id": recipient_id,
        "city": domain.recipient_city(recipient_id),
        "channels": domain.effective_channels(preferences.channels),
        "quiet_start": quiet.start if quiet else None,
        "quiet_end": quiet.end if quiet else None,
        "webhook_url": url,
        "updated_at": clock.utcnow(),
    }
    new_secret = None
    with uow:
        held = uow.store.preferences(recipient_id, for_update=True)
        keep = (
            url is not None
            and held is not None
            and held.webhook_url == url
            and held.webhook_secret
            and not preferences.rotate_webhook_secret
        )
        if keep:
            values["webhook_secret"] = held.webhook_secret
        else:
            new_secret = webhook_rules.new_webhook_secret() if url is not None else None
            values["webhook_secret"] = new_secret
        uow.store.put_preferences(values)
        row = uow.store.preferences(recipient_id)
    return presenters.preferences_out(row, new_secret)


def get_preferences(uow: Any, recipient_id: str) -> PreferencesOut:
    """The recipient's preferences, or the defaults (inbox only, no quiet hours)."""
    with uow.reading() as store:
        row = store.preferences(recipient_id)
    return presenters.preferences_out(row) if row else presenters.default_preferences(recipient_id)
