"""Push channels behind one interface, and the registry the delivery timer uses.

The inbox is the always-on channel: it is the ``notifications`` table itself, written in bulk
when an event fans out. Every other channel pushes one stored delivery to the outside through an
adapter implementing ``Channel`` (``base``): ``webhook`` (the recipient's URL, signed with the
recipient's secret), ``sms`` and ``wechat`` (an HTTP gateway, or the logging adapter in
development). The HTTP adapters share pooled clients (``transport``): one for webhooks, whose
every connection is checked against the refused addresses, one for the operator's gateways.

``PushChannels`` gives the delivery timer its container's adapters, their clients and the
counter of their outcomes, built once per container and closed when it stops.
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
from .transport import AddressGuard, HttpClient
from .webhook import WebhookChannel


def http_clients(settings: Any) -> dict[str, HttpClient]:
    """The pooled HTTP clients of one container: ``webhook`` (every connection checked; the
    configured plain-http test hosts trusted) and ``gateway`` (the operator's URLs)."""
    pool = settings.DELIVERY_CONCURRENCY
    guard = AddressGuard(settings.WEBHOOK_PLAIN_HTTP_HOSTS)
    return {
        "webhook": HttpClient(settings.WEBHOOK_TIMEOUT_S, pool, guard),
        "gateway": HttpClient(settings.WEBHOOK_TIMEOUT_S, pool),
    }


def build_channels(
    settings: Any, log: Any, clients: dict[str, HttpClient] | None = None
) -> dict[str, Channel]:
    """The push adapters this deployment's settings select, by channel name, over ``clients``
    (``http_clients``, built here if not given)."""
    clients = clients or http_clients(settings)
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(clients["webhook"], settings.WEBHOOK_PLAIN_HTTP_HOSTS)
    }
    for name, prefix in (("sms", "SMS"), ("wechat", "WECHAT")):
        if getattr(settings, f"{prefix}_ADAPTER") == "http":
            channels[name] = GatewayChannel(
                name,
                getattr(settings, f"{prefix}_GATEWAY_URL"),
                getattr(settings, f"{prefix}_GATEWAY_KEY"),
                clients["gateway"],
            )
        else:
            channels[name] = LoggingChannel(name, log)
    return channels


@dataclass(frozen=True)
class Pushing:
    """A container's push adapters by channel name, the HTTP clients they share, and
    ``count(channel, outcome)`` for ``pioneer_notify_deliveries_total``."""

    channels: dict[str, Channel]
    count: Callable[[str, str], None]
    clients: dict[str, HttpClient]

    def close(self) -> None:
        """Close every client's pooled connections."""
        for client in self.clients.values():
            client.close()


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

            clients = http_clients(kernel.settings)
            channels = build_channels(kernel.settings, kernel.log, clients)
            self._pushing = Pushing(channels, count, clients)
        return self._pushing

    def stop(self) -> None:
        """Close the pooled connections when the container stops."""
        if self._pushing is not None:
            self._pushing.close()
            self._pushing = None


__all__ = [
    "Channel",
    "Delivery",
    "DeliveryError",
    "HttpClient",
    "PushChannels",
    "Pushing",
    "build_channels",
    "http_clients",
]
