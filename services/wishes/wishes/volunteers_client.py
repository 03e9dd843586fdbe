"""The volunteers service as wishes calls it: a nameko dependency (``VolunteersClient``).

Calls are made as this service, whoever the current caller is (a short-lived ``system`` token
of the volunteer's city), and bounded by ``RPC_TIMEOUT_S``: nameko's in-service ``RpcProxy``
has none, and a complaint must not hold a worker while volunteers is down. Every failure is a
``DeliveryFailed`` saying why, after a warning in the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
from nameko.rpc import RpcProxy

from pioneer import auth, ids
from pioneer.kernel import Kernel

from .usecases.complaints import DeliveryFailed

SERVICE_TOKEN_TTL_S = 300


class Volunteers:
    """One worker's view of volunteers' RPC methods (``usecases.complaints.Volunteers``)."""

    def __init__(self, proxy: Any, worker_ctx: Any, kernel: Kernel) -> None:
        self._proxy = proxy
        self._worker_ctx = worker_ctx
        self._kernel = kernel

    @property
    def time_limit_s(self) -> float:
        """No call to volunteers takes longer (``RPC_TIMEOUT_S``)."""
        return self._kernel.settings.RPC_TIMEOUT_S

    def record_complaint(
        self, volunteer_id: str, complaint: dict[str, str], complaint_id: str
    ) -> None:
        """``volunteers.record_complaint`` (idempotent by ``complaint_id``); ``DeliveryFailed``
        if volunteers did not answer in time, is unreachable or refused it."""
        timeout_s = self.time_limit_s
        try:
            with self._as_service(ids.city_of(volunteer_id)), eventlet.Timeout(timeout_s):
                self._proxy.record_complaint(volunteer_id, complaint, complaint_id=complaint_id)
        except eventlet.Timeout:
            error = f"volunteers did not answer within {timeout_s} s"
        except Exception as exc:  # the broker, volunteers down, or its refusal: retried later
            error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            return
        self._kernel.log.warning(
            "complaint_delivery_failed", complaint_id=complaint_id, error=error
        )
        raise DeliveryFailed(error)

    @contextmanager
    def _as_service(self, city: str) -> Iterator[None]:
        """For the block, outgoing calls carry this service's token instead of the caller's."""
        token = auth.issue_token(
            self._kernel.settings.JWT_SECRET,
            f"service:{self._worker_ctx.container.service_name}",
            city,
            [auth.SYSTEM],
            SERVICE_TOKEN_TTL_S,
            self._kernel.settings.DEPLOYMENT,
        )
        context = self._worker_ctx.data  # what outgoing calls carry (context_data is a copy)
        caller = context.get("authorization")
        context["authorization"] = f"Bearer {token}"
        try:
            yield
        finally:
            if caller is None:
                context.pop("authorization", None)
            else:
                context["authorization"] = caller


class VolunteersClient(RpcProxy):
    """``RpcProxy("volunteers")`` that hands workers a ``Volunteers``."""

    kernel = Kernel()

    def __init__(self) -> None:
        super().__init__("volunteers")

    def get_dependency(self, worker_ctx: Any) -> Volunteers:
        """The worker's ``Volunteers``, over nameko's proxy for this worker."""
        return Volunteers(super().get_dependency(worker_ctx), worker_ctx, self.kernel)
