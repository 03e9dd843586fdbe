"""SMS and WeChat through an HTTP gateway (one adapter, configured per channel).

Addressed by ``recipient_id``: the gateway (the city's SMS platform or WeChat mini-program
backend) resolves it to a phone number or an openid, so notify never stores either.
"""

from __future__ import annotations

from .base import Delivery, encode, post_json

KEY_HEADER = "X-Api-Key"


class GatewayChannel:
    """POST ``{id, recipient_id, kind, subject_id, title, body, channel, created_at}`` to the
    gateway URL with the key in ``X-Api-Key`` and the delivery id as ``Idempotency-Key``."""

    def __init__(self, name: str, url: str, key: str, timeout_s: float) -> None:
        self.name = name
        self._url = url
        self._key = key
        self._timeout_s = timeout_s

    def send(self, delivery: Delivery) -> None:
        """Hand ``delivery`` to the gateway; ``DeliveryError`` if it does not accept it."""
        post_json(
            self._url,
            encode(delivery.message()),
            {
                KEY_HEADER: self._key,
                "Idempotency-Key": delivery.notification_id,
                "User-Agent": "pioneer-notify/1",
            },
            self._timeout_s,
        )
