"""The webhook channel: the notification as JSON, POSTed to the recipient's configured URL,
signed with HMAC-SHA256 and carrying the delivery id as its idempotency key."""

from __future__ import annotations

from .. import domain
from .base import Delivery, DeliveryError, encode, post_json

SIGNATURE_HEADER = "X-Pioneer-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookChannel:
    """POST with ``X-Pioneer-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>`` and
    ``Idempotency-Key: <notification id>`` (a retried delivery repeats the same key, so the
    receiver can drop a repeat)."""

    name = "webhook"

    def __init__(self, secret: str, timeout_s: float) -> None:
        self._secret = secret
        self._timeout_s = timeout_s

    def send(self, delivery: Delivery) -> None:
        """Push ``delivery`` to its ``webhook_url``; ``DeliveryError`` if not accepted."""
        if not delivery.webhook_url:
            raise DeliveryError("the recipient has no webhook_url any more", retryable=False)
        body = encode(delivery.message())
        post_json(
            delivery.webhook_url,
            body,
            {
                SIGNATURE_HEADER: domain.signature(self._secret, body),
                IDEMPOTENCY_HEADER: delivery.notification_id,
                "X-Pioneer-Kind": delivery.kind,
                "User-Agent": "pioneer-notify/1",
            },
            self._timeout_s,
        )
