"""The interface every push channel adapter implements, and the HTTP POST they share."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import eventlet

from .. import domain


@dataclass(frozen=True)
class Delivery:
    """One stored notification on a push channel, as an adapter sends it. ``webhook_url`` is the
    recipient's configured URL (webhook channel only)."""

    notification_id: str
    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    channel: str
    created_at: str
    webhook_url: str | None = None

    def message(self) -> dict[str, Any]:
        """The JSON body pushed out: the notification, never the receiver's address."""
        data = asdict(self)
        data.pop("webhook_url")
        data["id"] = data.pop("notification_id")
        return data


class DeliveryError(Exception):
    """A push that did not arrive. ``retryable``: a 5xx, 408/429, a connection error or a
    timeout (tried again later); otherwise final (dead-lettered at once)."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    """A push channel: ``send`` returns when the receiver accepted the delivery and raises
    ``DeliveryError`` otherwise, within the adapter's time limit."""

    name: str

    def send(self, delivery: Delivery) -> None: ...


# Deliveries go straight to the receiver: no environment proxy, no redirects followed for POST.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def encode(message: dict[str, Any]) -> bytes:
    """The raw JSON body (what is signed and sent)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to ``url``; the 2xx status, else ``DeliveryError``.

    Green under eventlet's patch; ``eventlet.Timeout`` bounds the whole exchange (the socket
    timeout alone bounds each read), so a slow receiver costs at most ``timeout_s``.
    """
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )
    try:
        with (
            eventlet.Timeout(timeout_s, TimeoutError("timed out")),
            _OPENER.open(request, timeout=timeout_s) as response,
        ):
            response.read(4096)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout_s} s", retryable=True) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"connection failed: {reason}"[:300], retryable=True) from None
    if 200 <= status < 300:
        return status
    raise DeliveryError(f"HTTP {status}", retryable=domain.retryable_status(status))
