"""The webhook channel: the notification as JSON, POSTed to the recipient's configured URL and
signed with the recipient's own secret in the Standard Webhooks shape, through the container's
checked client (``transport``)."""

from __future__ import annotations

from collections.abc import Collection

from pioneer import clock

from .. import domain, webhook_rules
from .base import Delivery, DeliveryError, encode
from .transport import HttpClient

IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookChannel:
    """POST with ``webhook-id`` (the notification id), ``webhook-timestamp`` (this attempt, Unix
    seconds), ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the
    recipient's secret, and ``Idempotency-Key: <notification id>`` (the same on every retry, so
    the receiver can drop a repeat). The URL's rules are checked again before each send (a URL
    stored under older rules is refused), the host's addresses by ``http``'s guard."""

    name = "webhook"

    def __init__(self, http: HttpClient, plain_http_hosts: Collection[str] = ()) -> None:
        self._http = http
        self._plain_http_hosts = tuple(plain_http_hosts)

    def send(self, delivery: Delivery) -> None:
        """Push ``delivery`` to its ``webhook_url``; ``DeliveryError`` if not accepted."""
        url, secret = delivery.webhook_url, delivery.webhook_secret
        if not url:
            raise DeliveryError(domain.NO_WEBHOOK_URL, retryable=False)
        if not secret:
            raise DeliveryError(domain.NO_WEBHOOK_SECRET, retryable=False)
        if webhook_rules.url_refusal(url, self._plain_http_hosts):
            raise DeliveryError(domain.REFUSED_URL, retryable=False)
        body = encode(delivery.message())
        headers = webhook_rules.webhook_headers(
            secret, delivery.notification_id, body, clock.utcnow()
        )
        headers.update(
            {
                IDEMPOTENCY_HEADER: delivery.notification_id,
                "X-Pioneer-Kind": delivery.kind,
                "User-Agent": "pioneer-notify/1",
            }
        )
        self._http.post(url, body, headers)
