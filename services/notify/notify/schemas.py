"""Notify's contract shapes: preferences in, notifications and preferences out."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from pioneer import ids
from pioneer.schemas import HHMM, Input, LocalTime, Output

from . import domain

# A volunteer's id, or ``admins:<city>`` (the shared inbox of a city's admins).
RecipientId = Annotated[str, StringConstraints(pattern=domain.RECIPIENT_PATTERN)]
ChannelName = Literal[(domain.INBOX, *domain.PUSH_CHANNELS)]


def _check_url(value: str) -> str:
    # The shape only; the deployment's rules (https, hosts, addresses, ports) are checked by
    # ``set_preferences`` with ``webhook_rules.url_refusal``, which knows the configured test hosts.
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be an http(s) URL with a host") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials")
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=500, pattern=r"^https?://[^\s]+$"),
    AfterValidator(_check_url),
]


def _unique(channels: list[str]) -> list[str]:
    if len(set(channels)) != len(channels):
        raise ValueError("channels must be unique")
    return channels


class QuietHours(Input):
    """Local times (Asia/Shanghai); ``start > end`` wraps past midnight (22:00-07:00)."""

    start: HHMM
    end: HHMM

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class PreferencesIn(Input):
    """``channels`` to push on besides the always-on inbox; ``quiet_hours`` or null;
    ``webhook_url`` (required when ``webhook`` is chosen): ``https``, a public host, port 443 or
    1024 and up. A new URL gets a new signing secret, returned once as ``webhook_secret``;
    ``rotate_webhook_secret`` gets a new one for the same URL."""

    channels: Annotated[list[ChannelName], Field(max_length=4), AfterValidator(_unique)]
    quiet_hours: QuietHours | None = None
    webhook_url: WebhookUrl | None = None
    rotate_webhook_secret: bool = False


NotificationIds = Annotated[
    list[Annotated[str, StringConstraints(pattern=ids.ID_PATTERN)]],
    Field(min_length=1, max_length=500),
]


class QuietHoursOut(Output):
    start: str
    end: str


class PreferencesOut(Output):
    """A recipient's preferences. ``webhook_secret`` (``whsec_...``) only in the answer to the
    ``set_preferences`` that made it (a new URL, or a rotation): the key the recipient verifies
    ``webhook-signature`` with; it is never shown again."""

    recipient_id: str
    channels: list[str]
    quiet_hours: QuietHoursOut | None
    webhook_url: str | None
    updated_at: LocalTime | None
    webhook_secret: str | None = None


class NotificationOut(Output):
    """The contract's notification."""

    id: str
    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    channel: str
    created_at: LocalTime
    read: bool


class DeliveryOut(NotificationOut):
    """A push delivery with its state (``failed_deliveries``)."""

    status: str
    attempts: int
    last_error: str | None
    due_at: LocalTime | None
    held_until: LocalTime | None


class MarkedOut(Output):
    recipient_id: str
    marked: int
    unread: int


class ReplayedOut(Output):
    replayed: list[str]


__all__ = [
    "DeliveryOut",
    "MarkedOut",
    "NotificationIds",
    "NotificationOut",
    "PreferencesIn",
    "PreferencesOut",
    "QuietHours",
    "RecipientId",
    "ReplayedOut",
]
