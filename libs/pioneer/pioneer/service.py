"""The base every Pioneer service class extends: ``ping``, ``/metrics`` and ``/health``."""

from __future__ import annotations

import json
from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Response

from . import __version__
from .config import KernelSettings
from .entrypoints import rpc
from .kernel import RequestScope


class PioneerService:
    """Subclass with ``name``, ``settings_model``, ``migrations`` (alembic folder) and
    ``store_class`` (the class holding the service's SQL, built over a session or a
    connection: ``ctx.uow().store``)."""

    name: str
    settings_model: type[KernelSettings] = KernelSettings
    migrations: str | None = None
    store_class: Any = None

    ctx = RequestScope()

    @rpc(roles=None)
    def ping(self) -> dict[str, Any]:
        """``{"service", "cities", "version"}``: the service is up and consuming."""
        return {
            "service": self.name,
            "cities": self.ctx.cities,
            "version": __version__,
            "deployment": self.ctx.settings.DEPLOYMENT,
        }

    @http("GET", "/metrics")
    def metrics(self, request: Any) -> Response:
        """Prometheus text exposition of this service's registry."""
        body, content_type = self.ctx.kernel.metrics.render()
        return Response(body, status=200, content_type=content_type)

    @http("GET", "/health")
    def health(self, request: Any) -> Response:
        """200 with the checks when healthy, 503 when the database or the relay is failing."""
        report = self.ctx.kernel.health()
        status = 200 if report["status"] == "ok" else 503
        return Response(json.dumps(report), status=status, content_type="application/json")
