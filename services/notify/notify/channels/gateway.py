"""SMS and WeChat through an HTTP gateway (one adapter, configured per channel).

Addressed by ``recipient_id``: the gateway (the city's SMS platform or WeChat mini-program
backend) resolves it to a phone number or an openid, so notify never stores either. The URL is
the operator's, checked at start-up (``https``, no credentials); its host may be inside the
city's network, so its addresses are not checked, but a redirect is never followed.
"""

from __future__ import annotations

from .base import Delivery, encode
from .transport import HttpClient

KEY_HEADER = "X-Api-Key"


class GatewayChannel:
    """POST ``{id, recipient_id, kind, subject_id, title, body, channel, created_at}`` to the
    gateway URL with the key in ``X-Api-Key`` and the delivery id as ``Idempotency-Key``."""

    def __init__(self, name: str, url: str, key: str, http: HttpClient) -> None:
        self.name = name
        self._url = url
        self._key = key
        self._http = http

    def send(self, delivery: Delivery) -> None:
        """Hand ``delivery`` to the gateway; ``DeliveryError`` if it does not accept it."""
        self._http.post(
            self._url,
            encode(delivery.message()),
            {
                KEY_HEADER: self._key,
                "Idempotency-Key": delivery.notification_id,
                "User-Agent": "pioneer-notify/1",
            },
        )
