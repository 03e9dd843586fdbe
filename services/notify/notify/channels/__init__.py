"""Push channels behind one interface, and the registry the delivery timer uses.

The inbox is the always-on channel: it is the ``notifications`` table itself, written in bulk
when an event fans out. Every other channel pushes one stored delivery to the outside through an
adapter implementing ``Channel`` (``base``): ``webhook`` (the recipient's URL, signed), ``sms``
and ``wechat`` (an HTTP gateway, or the logging adapter in development).
"""

from __future__ import annotations

from typing import Any

from .base import Channel, Delivery, DeliveryError
from .gateway import GatewayChannel
from .log import LoggingChannel
from .webhook import WebhookChannel


def build_channels(settings: Any, log: Any) -> dict[str, Channel]:
    """The push adapters this deployment's settings select, by channel name."""
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(settings.WEBHOOK_SECRET, settings.WEBHOOK_TIMEOUT_S)
    }
    for name, prefix in (("sms", "SMS"), ("wechat", "WECHAT")):
        if getattr(settings, f"{prefix}_ADAPTER") == "http":
            channels[name] = GatewayChannel(
                name,
                getattr(settings, f"{prefix}_GATEWAY_URL"),
                getattr(settings, f"{prefix}_GATEWAY_KEY"),
                settings.WEBHOOK_TIMEOUT_S,
            )
        else:
            channels[name] = LoggingChannel(name, log)
    return channels


__all__ = ["Channel", "Delivery", "DeliveryError", "build_channels"]
