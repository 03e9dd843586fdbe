"""Prometheus metrics, one registry per service container.

RED for every entrypoint (rate, errors by outcome, duration), the outbox backlog, event
handling and dead letters. Labels never carry personal data or record ids: only the service,
the method or handler, and the outcome (``ok`` or the contract error's name, ``error`` for a
crash).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The kernel's metrics for one service, in the container's own registry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rpc_requests = Counter(
            "pioneer_rpc_requests_total",
            "RPC calls by method and outcome",
            ["service", "method", "outcome"],
            registry=r,
        )
        self.rpc_duration = Histogram(
            "pioneer_rpc_duration_seconds",
            "RPC handling time",
            ["service", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events_handled = Counter(
            "pioneer_events_handled_total",
            "Events handled by handler and outcome",
            ["service", "handler", "outcome"],
            registry=r,
        )
        self.events_failed = Counter(
            "pioneer_events_failed_total",
            "Failed event handling by what happened next (retry, dead_letter)",
            ["service", "handler", "action"],
            registry=r,
        )
        self.event_duration = Histogram(
            "pioneer_event_handler_duration_seconds",
            "Event handling time",
            ["service", "handler"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.uow_checkpoints = Counter(
            "pioneer_uow_checkpoints_total",
            "Transactions a unit of work committed before its last (work committed in parts)",
            ["service", "entrypoint"],
            registry=r,
        )
        self.timer_runs = Counter(
            "pioneer_timer_runs_total",
            "Timer runs by outcome",
            ["service", "timer", "outcome"],
            registry=r,
        )
        self.http_requests = Counter(
            "pioneer_http_requests_total",
            "HTTP requests by route and outcome",
            ["service", "route", "outcome"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "pioneer_outbox_backlog",
            "Outbox events not yet confirmed by the broker",
            ["service"],
            registry=r,
        )
        self.outbox_published = Counter(
            "pioneer_outbox_published_total",
            "Outbox events published with a broker confirm",
            ["service"],
            registry=r,
        )
        self.outbox_errors = Counter(
            "pioneer_outbox_publish_errors_total",
            "Failed outbox publish attempts",
            ["service"],
            registry=r,
        )
        self.outbox_backlog.labels(service).set(0)
        self._owned: dict[str, Any] = {}

    def gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Gauge:
        """A service-specific gauge in this registry (``labels`` always include ``service``);
        the same one however often it is asked for."""
        return self._own(Gauge, name, doc, labels)

    def counter(self, name: str, doc: str, labels: list[str] | None = None) -> Counter:
        """A service-specific counter in this registry; the same one however often it is
        asked for."""
        return self._own(Counter, name, doc, labels)

    def _own(self, kind: type, name: str, doc: str, labels: list[str] | None) -> Any:
        known = self._owned.get(name)
        if known is None:
            known = kind(name, doc, ["service", *(labels or [])], registry=self.registry)
            self._owned[name] = known
        return known

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, with its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
