"""The notify database: notifications (one row per source event, recipient and channel),
preferences and the offers notify has told volunteers of.

The volunteer directory is the kernel's ``volunteer_replica`` and its per-skill geo index
(``pioneer.replica_skills``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pioneer.db import NAMING_CONVENTION, UtcDateTime

from . import domain


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a check that ``column`` holds one of the domain's ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Notification(Base):
    """One notification on one channel. ``inbox`` rows are ``stored`` and carry the read state;
    push rows (``webhook``, ``sms``, ``wechat``) are ``pending`` until ``due_at`` (now, the end
    of quiet hours, or the next retry), then ``sent`` or ``failed`` (dead-lettered).

    The unique key (source event, recipient, channel) makes "one event reaches one recipient on
    one channel at most once" true: every insert is ``ON CONFLICT DO NOTHING`` against it.
    """

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000))
    channel: Mapped[str] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    read: Mapped[bool] = mapped_column(Boolean)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    held_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("source_event_id", "recipient_id", "channel"),
        CheckConstraint(
            _one_of("channel", (domain.INBOX, *domain.PUSH_CHANNELS)), name="known_channel"
        ),
        CheckConstraint(_one_of("status", domain.STATUSES), name="known_status"),
        # inbox(recipient_id): newest first, keyset on id (ids sort by time within a recipient).
        Index("ix_notifications_inbox", "recipient_id", "channel", "id"),
        # inbox(recipient_id, unread_only=True) and mark_read's unread count.
        Index("ix_notifications_unread", "recipient_id", "channel", "read", "id"),
        # The delivery timer: pending push deliveries in due order.
        Index("ix_notifications_status_due", "status", "due_at"),
        # failed_deliveries(city): dead letters of a city in id order.
        Index("ix_notifications_status_city_id", "status", "city", "id"),
    )


class Preferences(Base):
    """A recipient's channels, quiet hours (local ``HH:MM``, Asia/Shanghai), webhook URL and the
    secret its deliveries are signed with (``whsec_...``, made with the URL, shown once)."""

    __tablename__ = "preferences"

    recipient_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    channels: Mapped[list[str]] = mapped_column(JSON)
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OfferHold(Base):
    """A dispatch offer notify told a volunteer of, until it ends: who lost an offer (timed out,
    withdrawn, taken by another) is read from the request's later events against these rows.
    ``offered_version`` is the request version of the ``request_dispatched`` that made it."""

    __tablename__ = "offer_holds"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    offered_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
