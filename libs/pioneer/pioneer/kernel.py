"""The kernel as nameko extensions.

``Kernel`` is a shared extension, one per service container: validated settings, the database
engine (migrated at start-up), the metrics registry, the catalog, the outbox relay and the
dead-letter router. ``RequestScope`` is the dependency every service declares (as ``ctx``): per
worker it provides the caller, units of work and a bound logger, and around every worker it
times the call, counts it by outcome and writes one JSON log line.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import eventlet
import structlog
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from sqlalchemy import Connection, text

from . import __version__, auth, ids, logs
from .catalog import Catalog
from .config import KernelSettings, validate_settings
from .db import UnitOfWork, make_engine, migrate, read_engine, reading
from .deadletter import DeadLetters
from .errors import CONTRACT_ERRORS, WrongCity
from .metrics import ServiceMetrics
from .relay import OutboxRelay


class Kernel(SharedExtension):
    """Per-container resources shared by the service's dependencies and entrypoints."""

    settings: KernelSettings
    metrics: ServiceMetrics
    catalog: Catalog
    relay: OutboxRelay
    dead_letters: DeadLetters

    def setup(self) -> None:
        if getattr(self, "_ready", False):
            return
        service_cls = self.container.service_cls
        name = self.container.service_name
        model = getattr(service_cls, "settings_model", KernelSettings)
        self.settings = validate_settings(model, self.container.config, name)
        logs.configure(self.settings.LOG_LEVEL)
        self.log = logs.get_logger(service=name, deployment=self.settings.DEPLOYMENT)
        self.metrics = ServiceMetrics(name)
        self.catalog = Catalog(
            {
                city: {code: info.model_dump() for code, info in codes.items()}
                for city, codes in self.settings.SERVICE_CODES.items()
            }
        )
        self.engine = make_engine(self.settings.DATABASE_URL, self.settings.pool_size)
        self.read_engine = read_engine(self.engine)
        self.tokens = auth.TokenCache(
            self.settings.JWT_SECRET, self.settings.JWT_LEEWAY_S, rules=self.settings.token_rules
        )
        migrations = getattr(service_cls, "migrations", None)
        if migrations:
            migrate(self.engine, Path(migrations))
        self.relay = OutboxRelay(
            name,
            self.engine,
            self.settings.AMQP_URI,
            self.metrics,
            self.settings.OUTBOX_POLL_S,
            self.settings.OUTBOX_RETENTION_H,
            self.log,
        )
        self.dead_letters = DeadLetters(
            name, self.settings.AMQP_URI, self.settings.EVENT_RETRY_DELAYS_S
        )
        self._ready = True
        self.log.info(
            "service_setup",
            cities=self.settings.CITIES,
            database=self.engine.dialect.name,
            version=__version__,
        )

    def start(self) -> None:
        self.container.spawn_managed_thread(
            lambda: self.relay.run(ready=self._consumers_declared), identifier="outbox_relay"
        )

    def _consumers_declared(self) -> None:
        from nameko.messaging import QueueConsumer

        for extension in self.container.extensions:
            if isinstance(extension, QueueConsumer):
                with eventlet.Timeout(30, False):
                    extension._consumers_ready.wait()

    def stop(self) -> None:
        self.relay.stop()
        self.engine.dispose()

    def kill(self) -> None:
        self.engine.dispose()

    @property
    def cities(self) -> list[str]:
        return self.settings.CITIES

    def health(self) -> dict[str, Any]:
        """Database and relay state for ``GET /health``."""
        checks: dict[str, str] = {}
        try:
            with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
                conn.execute(text("SELECT 1"))
                conn.rollback()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {str(exc)[:120]}"
        checks["outbox_relay"] = (
            "ok" if self.relay.failures == 0 else f"failing ({self.relay.failures})"
        )
        ok = all(v == "ok" for v in checks.values())
        return {
            "service": self.container.service_name,
            "deployment": self.settings.DEPLOYMENT,
            "cities": self.cities,
            "version": __version__,
            "status": "ok" if ok else "degraded",
            "checks": checks,
        }


class RequestContext:
    """What a worker sees as ``self.ctx``: the caller, units of work, settings and a logger."""

    def __init__(self, kernel: Kernel, worker_ctx: Any) -> None:
        self.kernel = kernel
        self.worker_ctx = worker_ctx
        self.caller: auth.Caller = auth.service_identity(worker_ctx.container.service_name)
        self.outcome: str | None = None
        # Outcomes by event, for a batch handler's worker (see ``batching``).
        self.tally: Counter[str] | None = None
        self.checkpoints = 0  # transactions its units of work committed before their last

    @property
    def settings(self) -> Any:
        return self.kernel.settings

    @property
    def catalog(self) -> Catalog:
        return self.kernel.catalog

    @property
    def cities(self) -> list[str]:
        return self.kernel.settings.CITIES

    @property
    def log(self) -> Any:
        return self.kernel.log

    def serves(self, city: str) -> bool:
        """Whether ``city`` is one of this deployment's cities."""
        return city in self.kernel.settings.CITIES

    def require_served(self, city: str, what: str = "record") -> None:
        """``WrongCity`` unless this deployment serves ``city`` (writes go to the home deployment)."""
        if city not in self.kernel.settings.CITIES:
            raise WrongCity(city, what)

    def require_home(self, record_id: str, what: str = "record") -> None:
        """``WrongCity`` unless the record id's city is served here."""
        self.require_served(ids.city_of(record_id), what)

    def authenticate(self, roles: Iterable[str] | None) -> auth.Caller:
        """The guard: decode the bearer token and check the entrypoint's roles."""
        authorization = self.worker_ctx.context_data.get("authorization")
        caller = self.kernel.tokens.decode(authorization)
        if roles is not None:
            auth.require_roles(caller, roles)
        self.caller = caller
        structlog.contextvars.bind_contextvars(caller=caller.sub, caller_city=caller.city)
        return caller

    def uow(self, readonly: bool = False) -> UnitOfWork:
        """A unit of work over the service's store (``store_class``); events it emits carry
        this call's id stack. Its checkpoints (``UnitOfWork.checkpoint``) are counted in
        ``pioneer_uow_checkpoints_total`` and in the call's log line."""
        headers = {"nameko.call_id_stack": list(self.worker_ctx.call_id_stack)}
        return UnitOfWork(
            self.kernel.engine,
            self.kernel.settings.CITIES,
            headers=headers,
            on_commit=self.kernel.relay.wake,
            readonly=readonly,
            store=getattr(self.worker_ctx.container.service_cls, "store_class", None),
            reads=self.kernel.read_engine,
            on_checkpoint=self._checkpointed,
        )

    def _checkpointed(self) -> None:
        self.checkpoints += 1
        self.kernel.metrics.uow_checkpoints.labels(
            self.worker_ctx.container.service_name, self.worker_ctx.entrypoint.method_name
        ).inc()

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for Core reads only (cheaper than a unit of work; writes nothing)."""
        return reading(self.kernel.read_engine)

    def bind(self, **values: Any) -> None:
        """Add values (``city``, record ids) to every log line of this call."""
        structlog.contextvars.bind_contextvars(**values)


def _kind(entrypoint: Any) -> str:
    if isinstance(entrypoint, Rpc):
        return "rpc"
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, Timer):
        return "timer"
    if isinstance(entrypoint, HttpRequestHandler):
        return "http"
    return "other"


# Outcomes of an event that was dealt with (anything else failed and is retried or parked).
_HANDLED = frozenset({"ok", "duplicate", "skipped", "ignored"})


def outcome_of(exc_info: Any) -> str:
    """``ok``, the contract error's name, or ``error`` for anything else."""
    if exc_info is None:
        return "ok"
    exc = exc_info[1]
    if isinstance(exc, CONTRACT_ERRORS):
        return type(exc).__name__
    return "error"


class RequestScope(DependencyProvider):
    """Per-worker context plus RED metrics and a log line for every entrypoint."""

    kernel = Kernel()

    def __init__(self) -> None:
        self._started: WeakKeyDictionary[Any, tuple[float, RequestContext]] = WeakKeyDictionary()

    def get_dependency(self, worker_ctx: Any) -> RequestContext:
        context = RequestContext(self.kernel, worker_ctx)
        self._started[worker_ctx] = (time.perf_counter(), context)
        return context

    def worker_setup(self, worker_ctx: Any) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            call_id=worker_ctx.call_id,
            service=worker_ctx.container.service_name,
            entrypoint=worker_ctx.entrypoint.method_name,
        )

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started, context = self._started.pop(worker_ctx, (time.perf_counter(), None))
        elapsed = time.perf_counter() - started
        outcome = (
            context.outcome if context and context.outcome and exc_info is None else None
        ) or outcome_of(exc_info)
        metrics, service = self.kernel.metrics, worker_ctx.container.service_name
        name = worker_ctx.entrypoint.method_name
        kind = _kind(worker_ctx.entrypoint)
        if kind == "rpc":
            metrics.rpc_requests.labels(service, name, outcome).inc()
            metrics.rpc_duration.labels(service, name).observe(elapsed)
        elif kind == "event":
            tally = context.tally if context is not None and exc_info is None else None
            if tally:
                for event_outcome, count in tally.items():
                    metrics.events_handled.labels(service, name, event_outcome).inc(count)
                if any(o not in _HANDLED for o in tally):
                    outcome = "partial"
            else:
                metrics.events_handled.labels(service, name, outcome).inc()
            metrics.event_duration.labels(service, name).observe(elapsed)
        elif kind == "timer":
            metrics.timer_runs.labels(service, name, outcome).inc()
        elif kind == "http":
            metrics.http_requests.labels(service, name, outcome).inc()
        fields: dict[str, Any] = {
            "kind": kind,
            "outcome": outcome,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if exc_info is not None:
            fields["error"] = str(exc_info[1])[:300]
        if context is not None and context.tally is not None:
            fields["events"] = dict(context.tally)
        if context is not None and context.checkpoints:
            fields["transactions"] = context.checkpoints + 1
        if kind == "http":
            return  # scrapes and health probes would drown the log
        if outcome == "error":
            self.kernel.log.error("call", **fields)
        elif outcome == "partial":  # some events of a batch failed (each is retried alone)
            self.kernel.log.warning("call", **fields)
        elif kind == "timer" and outcome == "ok":
            self.kernel.log.debug("call", **fields)
        else:
            self.kernel.log.info("call", **fields)

    def worker_teardown(self, worker_ctx: Any) -> None:
        structlog.contextvars.clear_contextvars()
