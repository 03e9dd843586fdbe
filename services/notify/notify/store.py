"""Writing notifications: one row per (source event, recipient, channel), inserted in bulk with
``ON CONFLICT DO NOTHING`` on that unique key, so a repeated event adds nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pioneer import ids
from pioneer.db import conflict_insert
from pioneer.events import NotificationDelivered

from . import domain
from .models import Notification, Preferences

notifications_t = Notification.__table__
preferences_t = Preferences.__table__
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Notice:
    """What one recipient is told about one event (before channels are chosen)."""

    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    urgent: bool = False


@dataclass(frozen=True)
class Prefs:
    """The part of a recipient's preferences that decides its deliveries."""

    channels: list[str]
    quiet_start: str | None = None
    quiet_end: str | None = None


def preferences_of(session: Any, recipient_ids: Iterable[str]) -> dict[str, Prefs]:
    """Stored preferences of these recipients (primary-key lookups, in chunks)."""
    wanted = list(dict.fromkeys(recipient_ids))
    found: dict[str, Prefs] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        for row in session.execute(
            select(
                preferences_t.c.recipient_id,
                preferences_t.c.channels,
                preferences_t.c.quiet_start,
                preferences_t.c.quiet_end,
            ).where(preferences_t.c.recipient_id.in_(chunk))
        ):
            found[row.recipient_id] = Prefs(
                list(row.channels or []), row.quiet_start, row.quiet_end
            )
    return found


def rows_for(
    source_event_id: str, notices: Iterable[Notice], prefs: dict[str, Prefs], now: datetime
) -> list[dict[str, Any]]:
    """One row per notice and channel: the inbox stored at once, push channels due now or held
    to the end of the recipient's quiet hours (unless urgent)."""
    rows: list[dict[str, Any]] = []
    for notice in notices:
        chosen = prefs.get(notice.recipient_id)
        city = domain.recipient_city(notice.recipient_id)
        for channel in domain.effective_channels(chosen.channels if chosen else None):
            due_at, held_until = None, None
            status = domain.STORED
            if channel != domain.INBOX and chosen is not None:
                status = domain.PENDING
                due_at, held_until = domain.schedule(
                    now, notice.urgent, chosen.quiet_start, chosen.quiet_end
                )
            rows.append(
                {
                    "id": ids.new_id(city, "ntf"),
                    "source_event_id": source_event_id,
                    "recipient_id": notice.recipient_id,
                    "city": city,
                    "kind": notice.kind,
                    "subject_id": notice.subject_id[:80],
                    "title": notice.title,
                    "body": notice.body,
                    "channel": channel,
                    "urgent": notice.urgent,
                    "status": status,
                    "read": False,
                    "read_at": None,
                    "created_at": now,
                    "due_at": due_at,
                    "held_until": held_until,
                    "attempts": 0,
                    "last_error": None,
                    "sent_at": None,
                }
            )
    return rows


def insert_new(session: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """Insert the rows whose (source event, recipient, channel) is new; the inserted ones'
    ``(id, recipient_id, channel, kind)``. Duplicates are skipped by the database."""
    if not rows:
        return []
    statement = (
        conflict_insert(session, notifications_t)
        .on_conflict_do_nothing(index_elements=["source_event_id", "recipient_id", "channel"])
        .returning(
            notifications_t.c.id,
            notifications_t.c.recipient_id,
            notifications_t.c.channel,
            notifications_t.c.kind,
        )
    )
    # One executemany: SQLAlchemy sends it as multi-row INSERTs of up to 1,000 rows each.
    return session.execute(statement, rows).all()


def notify(
    uow: Any,
    source_event_id: str,
    city: str,
    notices: list[Notice],
    now: datetime,
    prefs: dict[str, Prefs] | None = None,
) -> int:
    """Store ``notices`` for one source event on every chosen channel, once; emit one
    ``notification_sent`` per kind for the inbox rows stored. How many rows were new."""
    # A recipient id that is neither a record id nor ``admins:<city>`` (a foreign producer's
    # mistake) could never read its inbox: it is skipped, not stored.
    notices = [n for n in notices if domain.valid_recipient(n.recipient_id)]
    if not notices:
        return 0
    if prefs is None:
        prefs = preferences_of(uow.session, (n.recipient_id for n in notices))
    inserted = insert_new(uow.session, rows_for(source_event_id, notices, prefs, now))
    stored = [row for row in inserted if row.channel == domain.INBOX]
    by_kind = Counter(row.kind for row in stored)
    subjects = {n.kind: n.subject_id[:80] for n in notices}
    for kind, count in by_kind.items():
        only = next(row for row in stored if row.kind == kind) if count == 1 else None
        uow.emit(
            "notification_sent",
            city,
            NotificationDelivered(
                source_event_id=source_event_id,
                city=city,
                kind=kind,
                subject_id=subjects[kind],
                channel=domain.INBOX,
                count=count,
                notification_id=only.id if only else None,
                recipient_id=only.recipient_id if only else None,
            ),
        )
    return len(inserted)
