"""The service's own metrics, in the container's registry beside the kernel's RED metrics: a
nameko dependency (``WishesMetrics``), so each container has its own."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from pioneer.kernel import Kernel


class WishesMetrics(DependencyProvider):
    """``pioneer_requests_unassigned_total{service, city}``: requests left without a volunteer,
    each also a warning in the log."""

    kernel = Kernel()

    def setup(self) -> None:
        """No counter yet: it is made in the kernel's registry on first use."""
        self._unassigned: Any = None

    def get_dependency(self, worker_ctx: Any) -> WishesMetrics:
        """The metrics themselves: they hold nothing per worker."""
        if self._unassigned is None:  # the kernel's registry exists once its setup has run
            self._unassigned = self.kernel.metrics.counter(
                "pioneer_requests_unassigned_total",
                "Service requests left unassigned: no eligible volunteer left in the service"
                " circle",
                ["city"],
            )
        return self

    def request_unassigned(self, request_id: str, city: str) -> None:
        """Count a request left without a volunteer (``usecases.requests.Dispatch``)."""
        self._unassigned.labels(self.kernel.metrics.service, city).inc()
        self.kernel.log.warning("request_unassigned", request_id=request_id, city=city)
