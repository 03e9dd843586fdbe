"""The interface every push channel adapter implements, what it is handed, and how it fails."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .. import domain


@dataclass(frozen=True)
class Delivery:
    """One stored notification on a push channel, as an adapter sends it. ``webhook_url`` and
    ``webhook_secret`` are the recipient's (webhook channel only); neither is ever sent."""

    notification_id: str
    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    channel: str
    created_at: str
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)

    def message(self) -> dict[str, Any]:
        """The JSON body pushed out: the notification, never the receiver's address or key."""
        data = asdict(self)
        data.pop("webhook_url")
        data.pop("webhook_secret")
        data["id"] = data.pop("notification_id")
        return data


class DeliveryError(Exception):
    """A push that did not arrive. ``reason`` is one of ``domain.FAILURE_REASONS`` (what
    ``last_error`` records: never a socket's or a receiver's own words); ``retryable``: a 5xx,
    408/429, a connection error or a timeout (tried again later), otherwise final
    (dead-lettered at once); ``detail`` is for the log only (an exception's type, a status)."""

    def __init__(self, reason: str, retryable: bool, detail: str | None = None) -> None:
        if reason not in domain.FAILURE_REASONS:
            raise ValueError(f"not a delivery failure reason: {reason[:40]!r}")
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.detail = detail


class Channel(Protocol):
    """A push channel: ``send`` returns when the receiver accepted the delivery and raises
    ``DeliveryError`` otherwise, within the adapter's time limit."""

    name: str

    def send(self, delivery: Delivery) -> None: ...


def encode(message: dict[str, Any]) -> bytes:
    """The raw JSON body (what is signed and sent)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
