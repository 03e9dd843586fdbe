"""Entrypoint decorators every service uses: ``rpc``, ``event_handler`` and ``timer``.

``rpc`` makes a contract method out of a plain, type-annotated method: the guard checks the
token and roles first, then the arguments are bound (positionally or by name) to a pydantic
model built from the signature, so a wrong type, an unknown or missing argument is a
``ValidationError`` naming the field; then the rest of the method's declared access policy
(``auth.Policy``: city, acting for a volunteer, home deployment). The result (pydantic models)
goes out as JSON.

``event_handler`` receives an envelope at least once: inside one unit of work it records the
``event_id`` as processed for this handler (a repeat is skipped) and runs the handler, so the
effect and the record commit together. A handler whose work is too large for one transaction
commits it in parts (``UnitOfWork.checkpoint``): the record then commits with the last part, so
a redelivery after a crash does the rest. A failure is retried through the broker with backoff
and then parked in the dead-letter queue (see ``deadletter``).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_type_hints

import kombu
import kombu.pools
import kombu.serialization
from kombu.entity import TRANSIENT_DELIVERY_MODE
from kombu.exceptions import EncodeError
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
)
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import UnserializableValueError, serialize
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer
from pydantic import BaseModel, ConfigDict, create_model

from . import auth, ids
from .db import AlreadyProcessed
from .errors import CONTRACT_ERRORS, ValidationError
from .events import (
    FEDERATED_HEADER,
    Event,
    PoisonMessage,
    origin_problem,
    own_copy,
    parse_event,
)
from .kernel import Kernel
from .queues import QUORUM
from .schemas import validate


@dataclass(frozen=True)
class JsonResult:
    """An RPC result already encoded as JSON (by pydantic), sent as it is."""

    body: bytes


class ReplyPublisher:
    """Sends an RPC reply as nameko's ``Responder`` does, minus what it does not need.

    - No publisher confirms: a reply goes to the caller's own non-durable reply queue; if the
      broker loses it, the caller times out whether or not this worker waited for a confirm.
      For the same reason replies are transient (no persistence flag).
    - A producer from one kombu pool, looked up once and kept (nameko builds a connection
      object and looks its pool up for every message it publishes).
    - A model result is encoded once, by pydantic, straight to JSON bytes (``JsonResult``);
      other results are encoded by kombu, without nameko's trial serialisation first. A value
      that fails to encode is answered with nameko's ``UnserializableValueError``, as
      ``Responder`` would.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.exchange = get_rpc_exchange(config)
        connection = kombu.Connection(
            config["AMQP_URI"],
            transport_options=dict(DEFAULT_TRANSPORT_OPTIONS, confirm_publish=False),
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        self.producers = kombu.pools.producers[connection]

    def send(
        self,
        message: Any,
        result: Any,
        exc_info: Any,
        call_id: str | None = None,
        serializer: str | None = None,
    ) -> tuple[Any, Any]:
        """Reply to ``message`` with ``result`` or the error of ``exc_info`` (in ``serializer``,
        by default the encoding of the request). An error that is not one of the contract's
        keeps its type but not its text, which may carry data (a database error's statement);
        the text is in the service's log under ``call_id``."""
        properties = message.properties
        options = {
            "exchange": self.exchange,
            "routing_key": properties["reply_to"],
            "correlation_id": properties.get("correlation_id"),
        }
        if exc_info is not None:
            result = None
        elif isinstance(result, JsonResult):
            if properties["content_type"] == "application/json":
                body = b'{"result":' + result.body + b',"error":null}'
                self._publish(
                    body, content_type="application/json", content_encoding="utf-8", **options
                )
                return result, exc_info
            result = json.loads(result.body)  # the caller asked for another encoding
        error = None if exc_info is None else _reply_error(exc_info[1], call_id)
        # Answer in the encoding of the request, as nameko does; in JSON when the request's
        # content type names no serializer (nameko would raise, and the container with it).
        serializer = serializer or kombu.serialization.registry.type_to_name.get(
            properties.get("content_type"), "json"
        )
        try:
            self._publish({"result": result, "error": error}, serializer=serializer, **options)
        except EncodeError:
            exc_info = (UnserializableValueError, UnserializableValueError(result), None)
            error = _reply_error(exc_info[1], call_id)
            result = None
            self._publish({"result": None, "error": error}, serializer=serializer, **options)
        return result, exc_info

    def _publish(self, body: Any, **options: Any) -> None:
        with self.producers.acquire(block=True) as producer:
            producer.publish(
                body,
                delivery_mode=TRANSIENT_DELIVERY_MODE,
                retry=True,
                retry_policy=DEFAULT_RETRY_POLICY,
                **options,
            )


def _reply_error(exc: BaseException, call_id: str | None) -> dict[str, Any]:
    """The error as the caller sees it: a contract error whole; any other by its type only."""
    error = serialize(exc)
    if not isinstance(exc, CONTRACT_ERRORS):
        error["exc_args"] = []
        error["value"] = f"internal error; the service's log has it under call id {call_id}"
    return error


_log = logging.getLogger(__name__)


def request_problem(body: Any) -> str | None:
    """What makes ``body`` no RPC request (``{"args": [...], "kwargs": {...}}``), or None."""
    if not isinstance(body, dict):
        return "must be an object with args and kwargs"
    if not isinstance(body.get("args"), list):
        return "args must be a list"
    if not isinstance(body.get("kwargs"), dict):
        return "kwargs must be an object"
    return None


def _refusal(problem: str) -> tuple[type, ValidationError, None]:
    return (ValidationError, ValidationError("body", problem), None)


class AnswersUndecodable:
    """A queue consumer mixin for a message kombu cannot decode (not JSON, nested deeper than
    the decoder goes, a content type it refuses): an RPC request is answered with a
    ``ValidationError``, so its caller is not left waiting; anything else is acknowledged
    without effect. Either way one short log line, without the body."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Answer (an RPC request) and acknowledge a message kombu could not decode."""
        reply_to = (message.properties or {}).get("reply_to")
        exchange = (message.delivery_info or {}).get("exchange")
        config = self.container.config  # type: ignore[attr-defined]
        if reply_to and exchange == get_rpc_exchange(config).name:
            replies = getattr(self, "_replies", None)
            if replies is None:
                replies = self._replies = ReplyPublisher(config)
            try:
                problem = f"not a JSON request ({type(exc).__name__})"
                replies.send(message, None, _refusal(problem), serializer="json")
            except Exception as error:  # the reply is a courtesy; the ack below must happen
                _log.warning("undecodable request not answered: %s", type(error).__name__)
        _log.warning(
            "undecodable message acknowledged: %s (routing key %.100s, content type %.100s)",
            type(exc).__name__,
            (message.delivery_info or {}).get("routing_key"),
            message.content_type,
        )
        message.ack()


class ContractQueueConsumer(AnswersUndecodable, QueueConsumer):
    """nameko's queue consumer for RPC and event handlers, with ``AnswersUndecodable``."""


class ContractRpcConsumer(RpcConsumer):
    """nameko's RPC consumer, replying through one ``ReplyPublisher``; a body that is no
    request (nameko would answer ``MalformedRequest`` or a ``TypeError``) is refused with a
    ``ValidationError``."""

    queue_consumer = ContractQueueConsumer()
    replies: ReplyPublisher | None = None

    def handle_message(self, body: Any, message: Any) -> None:
        """Refuse a body that is no request; hand the rest to nameko."""
        problem = request_problem(body)
        if problem is not None:
            self.handle_result(message, None, _refusal(problem))
            return
        super().handle_message(body, message)

    def handle_result(
        self, message: Any, result: Any, exc_info: Any, call_id: str | None = None
    ) -> tuple[Any, Any]:
        if self.replies is None:
            self.replies = ReplyPublisher(self.container.config)
        result, exc_info = self.replies.send(message, result, exc_info, call_id)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class ContractRpc(Rpc):
    """nameko's RPC entrypoint, with argument checking moved inside the worker.

    nameko would answer a wrong signature with ``IncorrectSignature``; the contract allows only
    its own errors, so the arguments are bound and validated by the method's model instead.
    """

    rpc_consumer = ContractRpcConsumer()

    def check_signature(self, args: Any, kwargs: Any) -> None:
        return None

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any, exc_info: Any
    ) -> tuple[Any, Any]:
        return self.rpc_consumer.handle_result(message, result, exc_info, worker_ctx.call_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class _ArgsBase(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=False)


def arguments_model(fn: Callable[..., Any]) -> tuple[type[BaseModel], list[str]]:
    """A pydantic model of ``fn``'s parameters (after ``self``), and their order."""
    hints = get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise TypeError(f"{fn.__name__}: contract methods take named parameters only")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    model = create_model(f"{fn.__name__}_arguments", __base__=_ArgsBase, **fields)
    return model, [p.name for p in params]


def bind_arguments(
    model: type[BaseModel], names: list[str], args: tuple, kwargs: dict
) -> BaseModel:
    """Bind a call's positional and keyword arguments to ``model``; errors name the argument."""
    if len(args) > len(names):
        raise ValidationError(
            "arguments", f"takes at most {len(names)} positional arguments, got {len(args)}"
        )
    data = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise ValidationError("arguments", "argument names must be strings")
        if key in data:
            raise ValidationError(key, "given twice")
        data[key] = value
    return validate(model, data)


def _city_hint(names: list[str], values: BaseModel) -> str | None:
    city = getattr(values, "city", None)
    if isinstance(city, str):
        return city
    for name in names:
        value = getattr(values, name, None)
        if isinstance(value, str) and name.endswith("_id") and ids.is_valid(value):
            return ids.city_of(value)
    return None


def rpc(
    roles: Iterable[str] | None,
    sensitive: tuple[str, ...] = (),
    *,
    city: str | None = None,
    acting_for: str | None = None,
    staff: Iterable[str] = auth.ACTS_FOR_VOLUNTEERS,
    home: tuple[str, str] | tuple[tuple[str, str], ...] | None = None,
    city_of: Callable[[Any], str | None] = auth.city_in,
    volunteers: str | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """A contract RPC method and its access policy (``auth.Policy``, checked by the guard).

    ``roles=None`` means no token is needed (``ping`` only). ``city``, ``acting_for`` and
    ``home`` name arguments (dotted paths into them): the city the caller must cover, the
    volunteer a token acts for (``staff`` may act for their city's volunteers), and the record
    that must live in this deployment, as ``(argument, what it is)``; ``city_of`` reads the
    city an argument names (``auth.city_in`` by default); ``volunteers`` what a volunteer's
    token reaches when the record decides it (the use case applies it).
    """
    allowed = None if roles is None else frozenset(roles)
    policy = auth.Policy(allowed, city, acting_for, frozenset(staff), home, city_of, volunteers)

    def decorator(fn: Callable[..., Any]) -> Any:
        model_and_names: list[Any] = []

        @functools.wraps(fn)
        def entry(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not model_and_names:  # resolved lazily: annotations may refer to later names
                model_and_names.extend(arguments_model(fn))
            model, names = model_and_names
            context = self.ctx
            if allowed is not None:
                context.authenticate(allowed)
            values = bind_arguments(model, names, args, kwargs)
            hint = _city_hint(names, values)
            if hint:
                context.bind(city=hint)
            if allowed is not None:
                policy.check(context.caller, values, context.serves)
            result = fn(self, **{name: getattr(values, name) for name in names})
            if isinstance(result, BaseModel):
                return JsonResult(result.__pydantic_serializer__.to_json(result))
            return _jsonable(result)

        entry.contract_roles = allowed  # type: ignore[attr-defined]
        entry.contract_policy = policy  # type: ignore[attr-defined]
        entry.contract_arguments = lambda: arguments_model(fn)  # type: ignore[attr-defined]
        return ContractRpc.decorator(
            expected_exceptions=CONTRACT_ERRORS, sensitive_arguments=sensitive
        )(entry)

    return decorator


class ReliableEventHandler(EventHandler):
    """nameko's event handler with bounded retries and a dead-letter queue instead of loss.

    Before a worker is spent on a message, its origin is checked against the way it came
    (``events.origin_problem``): a forged or misrouted one is parked at once, and a federated
    copy of this deployment's own event is acknowledged unread (``skipped``).
    """

    kernel = Kernel()
    queue_consumer = ContractQueueConsumer()

    def setup(self) -> None:
        super().setup()
        # A quorum queue, as the broker's definitions declare it (``pioneer.queues``).
        self.queue.queue_arguments = {**(self.queue.queue_arguments or {}), **QUORUM}

    def handle_message(self, body: Any, message: Any) -> None:
        if not self.screened(body, message):
            super().handle_message(body, message)

    def screened(self, body: Any, message: Any) -> bool:
        """Settle ``message`` now if its envelope cannot be what it says; whether it did."""
        federated = FEDERATED_HEADER in (message.headers or {})
        cities = self.kernel.settings.CITIES
        if own_copy(body, federated, cities):
            self.queue_consumer.ack_message(message)
            self.kernel.metrics.events_handled.labels(
                self.container.service_name, self.method_name, "skipped"
            ).inc()
            return True
        problem = origin_problem(body, federated, cities, self.event_type)
        if problem is None:
            return False
        try:
            raise PoisonMessage(problem)
        except PoisonMessage:
            self.handle_result(message, None, None, sys.exc_info())
        # Counted as every event is, by outcome: no worker ran to count it.
        self.kernel.metrics.events_handled.labels(
            self.container.service_name, self.method_name, "refused"
        ).inc()
        return True

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any = None, exc_info: Any = None
    ) -> Any:
        if exc_info is not None:
            try:
                action = self.kernel.dead_letters.handle_failure(
                    message,
                    self.queue.name,
                    f"{self.container.service_name}.{self.method_name}",
                    exc_info,
                )
            except Exception as exc:
                self.kernel.log.error("event_retry_publish_failed", error=str(exc)[:300])
                self.queue_consumer.requeue_message(message)
                return result, exc_info
            self.kernel.metrics.events_failed.labels(
                self.container.service_name, self.method_name, action
            ).inc()
            self.kernel.log.warning(
                "event_failed",
                handler=self.method_name,
                action=action,
                error=str(exc_info[1])[:300],
            )
        self.queue_consumer.ack_message(message)
        return result, exc_info


def envelope_of(payload: Any) -> Event:
    """The event in a message body; ``PoisonMessage`` (no retry can fix it) if it is none."""
    try:
        return parse_event(payload)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PoisonMessage(f"not an event envelope: {where}: {first['msg']}") from None


def event_handler(
    source_service: str,
    event_type: str,
    skip: Callable[[Any, Event], bool] | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Handle ``event_type`` from ``source_service`` once per event id: ``fn(self, uow, event)``.

    ``skip(self, event)``, if given, is asked first: an event it says true for is acknowledged
    without a transaction (outcome ``skipped``) — for handlers that ignore most of what they
    receive, such as a service's own events coming back on its exchange.

    ``fn`` may commit its work in parts with ``uow.checkpoint()`` (each part's writes must be
    idempotent: see ``UnitOfWork.checkpoint``); the event is recorded as processed with the
    last part only. If another worker finishes the same event meanwhile, the rest is left to
    it (outcome ``duplicate``).
    """

    def decorator(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def entry(self: Any, payload: Any) -> None:
            event = envelope_of(payload)
            context = self.ctx
            context.bind(city=event.city, event_id=event.event_id, event_type=event.type)
            if skip is not None and skip(self, event):
                context.outcome = "skipped"
                return
            try:
                with context.uow() as uow:
                    if not uow.first_time(event.event_id, fn.__name__):
                        context.outcome = "duplicate"
                        return
                    fn(self, uow, event)
            except AlreadyProcessed:
                context.outcome = "duplicate"

        return ReliableEventHandler.decorator(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            expected_exceptions=CONTRACT_ERRORS,
        )(entry)

    return decorator


def timer(interval: float) -> Callable[[Callable[..., Any]], Any]:
    """A periodic task (nameko's timer); counted and logged like every entrypoint."""
    return Timer.decorator(interval=interval, expected_exceptions=CONTRACT_ERRORS)


__all__ = ["ContractRpc", "Event", "ReliableEventHandler", "event_handler", "rpc", "timer"]
