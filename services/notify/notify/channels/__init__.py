"""Push channels behind one interface, and the registry the delivery timer uses.

The inbox is the always-on channel: it is the ``notifications`` table itself, written in bulk
when an event fans out. Every other channel pushes one stored delivery to the outside through an
adapter implementing ``Channel`` (``base``): ``webhook`` (the recipient's URL, signed), ``sms``
and ``wechat`` (an HTTP gateway, or the logging adapter in development).

``PushChannels`` gives the delivery timer its container's adapters and the counter of their
outcomes, built once per container.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nameko.extensions import DependencyProvider

from pioneer.kernel import Kernel

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


@dataclass(frozen=True)
class Pushing:
    """A container's push adapters by channel name, and ``count(channel, outcome)`` for
    ``pioneer_notify_deliveries_total``."""

    channels: dict[str, Channel]
    count: Callable[[str, str], None]


class PushChannels(DependencyProvider):
    """``Pushing`` for the workers of one container: adapters from its settings, the counter in
    its own metrics registry (several containers share a process in tests)."""

    kernel = Kernel()

    def setup(self) -> None:
        self._pushing: Pushing | None = None

    def get_dependency(self, worker_ctx: Any) -> Pushing:
        if self._pushing is None:  # built at the first worker: the kernel is set up by then
            kernel = self.kernel
            counter = kernel.metrics.counter(
                "pioneer_notify_deliveries_total",
                "Push delivery attempts by channel and outcome (sent, retry, failed)",
                ["channel", "outcome"],
            )

            def count(channel: str, outcome: str) -> None:
                counter.labels(kernel.metrics.service, channel, outcome).inc()

            self._pushing = Pushing(build_channels(kernel.settings, kernel.log), count)
        return self._pushing


__all__ = [
    "Channel",
    "Delivery",
    "DeliveryError",
    "PushChannels",
    "Pushing",
    "build_channels",
]
