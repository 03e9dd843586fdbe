"""The hostile-input suite: what a careless or hostile caller or peer sends, generated.

Every service's ``tests/service/test_hostile.py`` runs it against the service in a container
on the real broker:

- RPC: for every method, arguments generated from its argument model's JSON schema
  (``contract_arguments``; hypothesis-jsonschema for the valid-shaped values) with text biased
  to injection strings, control characters, NaN-like and huge numbers, deep nesting and wrong
  types; then raw bodies no client library would send (oversized, deeply nested, wrongly
  typed, not JSON). Each call must answer within a bound with a result or one of the
  contract's errors, and a refused call must leave the database as it was.
- Events: for every event consumer, forged and malformed envelopes (not an envelope, missing
  fields, wrong types, huge strings, versions and counts out of range, unknown types, another
  city's origin) published to the consumer's exchange, plus data generated from the event
  type's contract model. Each must be parked in ``<service>.dlq`` or acknowledged without
  effect, never applied.

After each batch the service must still answer ``ping``. ``SUMMARY`` collects how many cases
ran, which the ``pioneer`` pytest plugin prints at the end of the session.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..errors import CONTRACT_ERRORS
from ..event_contract import DATA_OF

CONTRACT = frozenset(cls.__name__ for cls in CONTRACT_ERRORS)
# How long one call may take, including the broker's round trip.
CALL_BOUND_S = 2.0
# What the suite adds up across the session: ``(service, what, backend) -> cases``.
SUMMARY: dict[tuple[str, str, str], int] = {}


def record(service: str, what: str, backend: str, cases: int) -> str:
    """Add ``cases`` to the session's summary; the line a test prints."""
    key = (service, what, backend)
    SUMMARY[key] = SUMMARY.get(key, 0) + cases
    return f"hostile input: {service} {what} [{backend}]: {cases} cases"


# --- raw RPC --------------------------------------------------------------------------------


@dataclass
class Reply:
    """An RPC reply as the caller sees it: a result, or an error's type and message."""

    result: Any = None
    exc_type: str | None = None
    message: str = ""
    seconds: float = 0.0
    timed_out: bool = False


def suite_settings(examples: int) -> Any:
    """hypothesis's settings for the suite: ``examples`` cases, the same on every run, no
    shrinking (a failing case is reported as it was sent: shrinking would replay calls against
    a database the earlier cases already changed)."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


class RawRpc:
    """An RPC caller that can send any body: the bytes or the JSON a hostile client would.

    It speaks nameko's wire protocol directly (``nameko-rpc`` exchange, routing key
    ``service.method``, a reply queue, correlation ids, ``nameko.``-prefixed context headers),
    so it can send what ``ClusterRpcProxy`` never would, and it times every call.
    """

    def __init__(self, amqp_uri: str) -> None:
        self._connection = Connection(amqp_uri)
        self._channel = self._connection.channel()
        self._exchange = Exchange("nameko-rpc", type="topic", durable=True)
        self._reply_to = f"hostile-{uuid.uuid4().hex}"
        queue = Queue(
            self._reply_to,
            exchange=self._exchange,
            routing_key=self._reply_to,
            exclusive=True,
            auto_delete=True,
        )
        self._exchange(self._channel).declare()
        self._replies: dict[str, Any] = {}
        self._consumer = Consumer(
            self._channel,
            [queue],
            callbacks=[self._on_reply],
            on_decode_error=self._on_undecodable,
            accept=["json"],
            no_ack=True,
        )
        self._consumer.consume()
        self._producer = Producer(self._channel)

    def _on_reply(self, body: Any, message: Any) -> None:
        self._replies[message.properties.get("correlation_id")] = body

    def _on_undecodable(self, message: Any, exc: Exception) -> None:
        # A reply in anything but JSON is itself a fault the caller must see.
        error = {"exc_type": f"<reply in {message.content_type}>", "value": str(exc)[:200]}
        self._replies[message.properties.get("correlation_id")] = {"error": error}

    def send(
        self,
        service: str,
        method: str,
        body: Any,
        authorization: str | None = None,
        raw: bool = False,
        content_type: str = "application/json",
        timeout: float = CALL_BOUND_S,
    ) -> Reply:
        """Send ``body`` (JSON-encoded, or bytes as they are if ``raw``) and wait for the reply.

        A reply that does not come within ``timeout`` is ``Reply(timed_out=True)``.
        """
        correlation_id = uuid.uuid4().hex
        headers = {"nameko.authorization": authorization} if authorization else {}
        options: dict[str, Any] = {
            "exchange": self._exchange,
            "routing_key": f"{service}.{method}",
            "reply_to": self._reply_to,
            "correlation_id": correlation_id,
            "headers": headers,
        }
        if raw:
            payload = body if isinstance(body, bytes) else str(body).encode()
            options.update(content_type=content_type, content_encoding="binary")
        else:
            payload = json.dumps(body, allow_nan=True)
            options.update(content_type="application/json", content_encoding="utf-8")
        began = time.monotonic()
        self._producer.publish(payload, **options)
        while correlation_id not in self._replies:
            left = timeout - (time.monotonic() - began)
            if left <= 0:
                return Reply(seconds=time.monotonic() - began, timed_out=True)
            try:
                self._connection.drain_events(timeout=min(left, 0.5))
            except TimeoutError:
                continue
        seconds = time.monotonic() - began
        reply = self._replies.pop(correlation_id)
        error = reply.get("error") if isinstance(reply, dict) else None
        if error:
            return Reply(
                exc_type=error.get("exc_type"), message=str(error.get("value")), seconds=seconds
            )
        return Reply(result=reply.get("result"), seconds=seconds)

    def call(
        self, service: str, method: str, kwargs: Mapping[str, Any], authorization: str | None
    ) -> Reply:
        """A well-formed call: ``{"args": [], "kwargs": kwargs}``."""
        return self.send(service, method, {"args": [], "kwargs": dict(kwargs)}, authorization)

    def close(self) -> None:
        """Close the connection (the reply queue goes with it)."""
        try:
            self._channel.close()
        finally:
            self._connection.close()


# --- hostile values -------------------------------------------------------------------------

INJECTIONS = [
    "'; DROP TABLE stations; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; SELECT pg_sleep(10)",
    "%' AND 1=1 --",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "%s%s%s%n",
    "$where",
    "*",
    "%",
    "_",
    "\\",
]
CONTROL = [
    "a\x00b",
    "\x00",
    "\x07\x08\x1b[2J",
    "line\r\nInjected: header",
    "\x7f",
    "\u0085",
    "\u2028",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\ud800",  # a lone surrogate: valid JSON, no valid UTF-8
]
NAN_LIKE = ["NaN", "nan", "Infinity", "-Infinity", "1e309", "-0", "0x7fffffff", "9" * 400, "null"]
ODD_TEXT = [
    "",
    " ",
    "   cixi   ",
    "ＣＩＸＩ",
    "cixi\n",
    "１２３",
    "𝟙𝟚𝟛",
    "😀" * 3,
    "志" * 3,
    "true",
]
HOSTILE_TEXTS = INJECTIONS + CONTROL + NAN_LIKE + ODD_TEXT
HUGE_INTS = [2**31 - 1, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30]
ODD_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324]
# Characters that break parsers, logs and terminals, for generated text.
NASTY_CHARS = "'\";\\%_*<>{}$`\x00\x01\x1b\x7f\u202e\u200b\ufeff志\U0001f600 \t\n"


def nested(depth: int, leaf: Any = "x") -> Any:
    """``depth`` lists inside each other around ``leaf``."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


WRONG_TYPES: list[Any] = [
    12345,
    -1,
    1.5,
    True,
    None,
    "x",
    [],
    ["x"],
    {},
    {"nested": {"deeper": [1, {"x": None}]}},
    nested(100),
]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# --- strategies from a JSON schema ------------------------------------------------------------


def _weighted(choices: Sequence[tuple[int, Any]]) -> Any:
    """Pick one of the strategies, each with its weight."""
    from hypothesis import strategies as st

    pool = [strategy for weight, strategy in choices if strategy is not None for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def _fits(node: Mapping[str, Any], value: str) -> bool:
    """Whether ``value`` meets the string constraints of ``node`` (length, pattern, enum)."""
    if "enum" in node and value not in node["enum"]:
        return False
    if not node.get("minLength", 0) <= len(value) <= node.get("maxLength", 1 << 30):
        return False
    pattern = node.get("pattern")
    return not pattern or re.search(pattern, value) is not None


class SchemaStrategies:
    """Hypothesis strategies for the values a JSON schema describes, hostile ones among them.

    ``valid_shaped`` draws values the schema allows (hypothesis-jsonschema's ``from_schema``),
    ``known`` values that fit (existing ids, served cities, real service codes, moments near
    now), and injection strings trimmed to fit; ``hostile`` adds what the schema refuses:
    control characters, NaN-like strings, huge numbers, over-long and deeply nested values,
    missing and unknown fields, and wrong types.
    """

    def __init__(self, schema: Mapping[str, Any], known: Iterable[str] = ()) -> None:
        self.defs = schema.get("$defs", {})
        self.known = sorted(set(known))

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """``node`` with its ``$ref`` replaced by the definition it names."""
        while "$ref" in node:
            node = {
                **self.defs[node["$ref"].rsplit("/", 1)[1]],
                **{k: v for k, v in node.items() if k != "$ref"},
            }
        return node

    def valid_shaped(self, node: Mapping[str, Any]) -> Any:
        """Values ``node`` allows, hostile ones among them."""
        return self._strategy(node, hostile=False)

    def hostile(self, node: Mapping[str, Any]) -> Any:
        """Values ``node`` allows and values it refuses."""
        return self._strategy(node, hostile=True)

    def _strategy(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st

        node = self.resolve(node)
        if "anyOf" in node:
            return st.one_of([self._strategy(option, hostile) for option in node["anyOf"]])
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            shaped = self._object(node, hostile)
        elif kind == "array":
            shaped = self._array(node, hostile)
        elif kind == "string" or "enum" in node:
            shaped = self._string(node, hostile)
        elif kind == "integer":
            shaped = self._integer(node, hostile)
        elif kind == "number":
            shaped = self._number(node, hostile)
        else:
            shaped = self._leaf(node)
        if not hostile:
            return shaped
        wrong = [v for v in WRONG_TYPES if _json_type(v) != kind]
        return _weighted([(5, shaped), (1, st.sampled_from(wrong))])

    def _leaf(self, node: Mapping[str, Any]) -> Any:
        from hypothesis_jsonschema import from_schema

        return from_schema(dict(node))

    def _object(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st

        properties = node.get("properties", {})
        required = set(node.get("required", []))
        must = {k: self._strategy(v, hostile) for k, v in properties.items() if k in required}
        may = {k: self._strategy(v, hostile) for k, v in properties.items() if k not in required}
        shaped = st.fixed_dictionaries(must, optional=may)
        if not hostile:
            return shaped
        extra = shaped.map(lambda d: {**d, "unknown_field": "x"})
        if not must:
            return _weighted([(4, shaped), (1, extra)])
        missing = shaped.map(lambda d: dict(list(d.items())[1:]))
        return _weighted([(4, shaped), (1, extra), (1, missing)])

    def _array(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st

        items = self._strategy(node.get("items", {}), hostile)
        low = node.get("minItems", 0)
        high = node.get("maxItems")
        # A few items say as much as many, and keep a case cheap.
        shaped = st.lists(items, min_size=low, max_size=max(low, min(high or 4, 4)))
        if not hostile:
            return shaped
        over = st.just(["x"] * ((high or 1000) + 1))
        return _weighted([(4, shaped), (1, over), (1, st.just(nested(50)))])

    def _string(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st
        from hypothesis_jsonschema import from_schema

        low, high = node.get("minLength", 0), node.get("maxLength")
        known = [value for value in self.known if _fits(node, value)]
        choices: list[tuple[int, Any]] = [(2, from_schema(dict(node)))]
        if known:
            choices.append((3, st.sampled_from(known)))
        if "enum" not in node and "pattern" not in node and "format" not in node:
            # Injections that still meet the length limits reach the code behind the edge.
            fitted = [
                value
                for value in (
                    (line + "x" * low)[: high or None] for line in [*INJECTIONS, "志" * 200]
                )
                if _fits(node, value)
            ]
            if fitted:
                choices.append((2, st.sampled_from(fitted)))
            choices.append(
                (
                    1,
                    st.text(
                        alphabet=NASTY_CHARS, min_size=max(low, 1), max_size=min(high or 30, 30)
                    ),
                )
            )
        if not hostile:
            return _weighted(choices)
        edges = [edge for edge in ("x" * (high or 0), "x" * ((high or 200) + 1)) if edge]
        edges += ["志" * ((high or 200) + 1), "x" * 100_000]
        return _weighted(
            [*choices, (3, st.sampled_from(HOSTILE_TEXTS)), (1, st.sampled_from(edges))]
        )

    def _integer(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st
        from hypothesis_jsonschema import from_schema

        low, high = node.get("minimum"), node.get("maximum")
        bounds = [b for b in (low, high) if b is not None]
        choices: list[tuple[int, Any]] = [(3, from_schema(dict(node)))]
        if bounds:
            choices.append((1, st.sampled_from(bounds)))
        if not hostile:
            return _weighted(choices)
        beyond = [low - 1] if low is not None else []
        beyond += [high + 1] if high is not None else []
        odd = [*HUGE_INTS, *beyond, 0, -1, 1.0, "1", "0x10"]
        return _weighted([*choices, (2, st.sampled_from(odd))])

    def _number(self, node: Mapping[str, Any], hostile: bool) -> Any:
        from hypothesis import strategies as st
        from hypothesis_jsonschema import from_schema

        low, high = node.get("minimum"), node.get("maximum")
        bounds = [float(b) for b in (low, high) if b is not None]
        choices: list[tuple[int, Any]] = [(3, from_schema(dict(node)))]
        if bounds:
            choices.append((1, st.sampled_from([*bounds, -0.0])))
        if not hostile:
            return _weighted(choices)
        beyond = [math.nextafter(low, -math.inf)] if low is not None else []
        beyond += [math.nextafter(high, math.inf)] if high is not None else []
        odd = [*ODD_FLOATS, *beyond, *HUGE_INTS, "NaN", "1.5"]
        return _weighted([*choices, (2, st.sampled_from(odd))])


@dataclass(frozen=True)
class Call:
    """One generated call: who calls, and the body's ``args`` and ``kwargs``."""

    authorization: str | None
    args: list[Any]
    kwargs: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The RPC body nameko sends."""
        return {"args": self.args, "kwargs": self.kwargs}


def call_strategy(
    fn: Any, known: Iterable[str] = (), tokens: Sequence[str | None] = (None,)
) -> Any:
    """Calls of the RPC method ``fn`` (a kernel ``@rpc``) generated from its arguments' JSON
    schema: half valid-shaped, half hostile, by keyword or positionally, with one of
    ``tokens``."""
    from hypothesis import strategies as st

    model, names = fn.contract_arguments()
    schema = model.model_json_schema()
    shapes = SchemaStrategies(schema, known)
    arguments = st.one_of(shapes.valid_shaped(schema), shapes.hostile(schema))

    def as_call(drawn: tuple[str | None, Any, bool]) -> Call:
        authorization, values, positional = drawn
        if not isinstance(values, dict):
            return Call(authorization, [], {"arguments": values})
        if positional and all(name in values for name in names):
            return Call(authorization, [values[name] for name in names], {})
        return Call(authorization, [], values)

    return st.tuples(st.sampled_from(list(tokens)), arguments, st.booleans()).map(as_call)


# --- raw bodies -------------------------------------------------------------------------------

# Under RabbitMQ's default frame size (131,072 bytes), so one frame carries the whole body.
OVERSIZED_BYTES = 120_000


def raw_bodies(names: Sequence[str]) -> list[tuple[str, Any, bool, str]]:
    """``(label, body, raw, content_type)`` bodies for a method with parameters ``names``:
    oversized, deeply nested, wrongly typed, not JSON. ``raw`` bodies are bytes as they are."""
    share = OVERSIZED_BYTES // max(len(names), 1)
    first = names[0] if names else "arguments"
    deep = b"[" * 10_000 + b"]" * 10_000
    bodies: list[tuple[str, Any, bool, str]] = [
        ("oversized strings", {"args": [], "kwargs": {n: "x" * share for n in names}}, False, ""),
        ("oversized list", {"args": [], "kwargs": {first: list(range(20_000))}}, False, ""),
        ("oversized object", {"args": [], "kwargs": {f"k{i}": i for i in range(8_000)}}, False, ""),
        ("oversized args", {"args": ["x"] * 20_000, "kwargs": {}}, False, ""),
        ("nested 100", {"args": [], "kwargs": {first: nested(100)}}, False, ""),
        ("nested 900", {"args": [], "kwargs": {first: nested(900)}}, False, ""),
        (
            "nested 10000",
            b'{"args": [], "kwargs": {"' + first.encode() + b'": ' + deep + b"}}",
            True,
            "application/json",
        ),
        (
            "huge integer",
            b'{"args": [1' + b"0" * 5_000 + b'], "kwargs": {}}',
            True,
            "application/json",
        ),
        ("not JSON", b"\xff\xfe\x00garbage", True, "application/json"),
        ("truncated JSON", b'{"args": [', True, "application/json"),
        ("pickle", b"\x80\x04K\x01.", True, "application/x-python-serialize"),
        ("plain text", b"args=1", True, "text/plain"),
        ("raw bytes", b'{"args": [], "kwargs": {}}', True, "application/data"),
        ("no content type", b'{"args": [], "kwargs": {}}', True, ""),
    ]
    for label, body in [
        ("a list", [1, 2]),
        ("a string", "x"),
        ("null", None),
        ("a number", 5),
        ("no kwargs", {"args": []}),
        ("no args", {"kwargs": {}}),
        ("args an object", {"args": {"a": 1}, "kwargs": {}}),
        ("args a string", {"args": "cixi", "kwargs": {}}),
        ("args a number", {"args": 5, "kwargs": {}}),
        ("kwargs a list", {"args": [], "kwargs": [1]}),
        ("kwargs a string", {"args": [], "kwargs": "abc"}),
        ("kwargs null", {"args": [], "kwargs": None}),
        ("positional wrong types", {"args": [{"x": 1}] * len(names), "kwargs": {}}),
        ("too many positional", {"args": [None] * (len(names) + 1), "kwargs": {}}),
    ]:
        bodies.append((label, body, False, ""))
    return bodies


# --- the database as a caller must not change it ------------------------------------------------


class StateProbe:
    """A fingerprint of a service's database: every table's rows, so "nothing changed" is one
    comparison. ``counted`` tables are fingerprinted by their row count only (the outbox's rows
    are marked published by the relay after the call that wrote them)."""

    def __init__(
        self, engine: Engine, counted: Iterable[str] = ("outbox",), ignored: Iterable[str] = ()
    ) -> None:
        self.engine = engine
        self.counted = set(counted)
        skipped = {"alembic_version", *ignored}
        self.tables = sorted(t for t in sa_inspect(engine).get_table_names() if t not in skipped)

    def take(self) -> dict[str, Any]:
        """``{table: count}`` for counted tables, ``{table: (count, digest of the rows)}`` else."""
        if self.engine.dialect.name == "postgresql":
            return self._take_in_one_statement()
        state: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for table in self.tables:
                if table in self.counted:
                    state[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                    continue
                rows = sorted(
                    repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))
                )
                digest = hashlib.sha1("\n".join(rows).encode(errors="replace")).hexdigest()
                state[table] = (len(rows), digest)
            conn.rollback()
        return state

    def _take_in_one_statement(self) -> dict[str, Any]:
        # One round trip for every table (a probe runs around each of thousands of calls).
        parts = [
            f"(SELECT count(*) FROM {table})"
            if table in self.counted
            else f"(SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|'"
            f" ORDER BY t::text)), '') FROM {table} t)"
            for table in self.tables
        ]
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT " + ", ".join(parts))).one()
            conn.rollback()
        return dict(zip(self.tables, row, strict=True))

    def rows(self) -> dict[str, set[str]]:
        """Every row of every table (counted ones included), as text, for finding what changed."""
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for table in self.tables:
                found[table] = {
                    repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))
                }
            conn.rollback()
        return found


def changed_tables(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The tables whose fingerprint differs."""
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


# --- the RPC suite ----------------------------------------------------------------------------


@dataclass
class RpcTally:
    """What a run of the RPC suite saw: cases per method and outcomes."""

    cases: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    slowest: float = 0.0

    @property
    def total(self) -> int:
        """Cases sent, over every method."""
        return sum(self.cases.values())

    def add(self, method: str, reply: Reply) -> None:
        """Count one answered case."""
        self.cases[method] = self.cases.get(method, 0) + 1
        outcome = reply.exc_type or "ok"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.slowest = max(self.slowest, reply.seconds)


def rpc_methods_of(service_cls: type) -> list[tuple[str, Any]]:
    """``(name, function)`` of every RPC method of the service (``ping`` included)."""
    from ..apidocs import rpc_methods

    return rpc_methods(service_cls)


class HostileRpc:
    """Sends generated and raw hostile calls to every RPC method of a running service and checks
    each: answered within ``bound_s``, a result or a contract error (``ValidationError``
    naming a field), and the database unchanged when the call was refused. ``skip`` names
    methods left out."""

    def __init__(
        self,
        raw: RawRpc,
        service: str,
        service_cls: type,
        probe: StateProbe,
        tokens: Sequence[str | None],
        known: Iterable[str] = (),
        bound_s: float = CALL_BOUND_S,
        skip: Iterable[str] = (),
    ) -> None:
        self.raw = raw
        self.service = service
        self.methods = [(n, fn) for n, fn in rpc_methods_of(service_cls) if n not in set(skip)]
        self.probe = probe
        self.tokens = list(tokens)
        self.known = list(known)
        self.bound_s = bound_s
        self.tally = RpcTally()
        self._state = probe.take()

    def check(self, method: str, send: Callable[[], Reply], shown: Any) -> Reply:
        """Send one case and check what came back and what it left behind."""
        before = self._state
        reply = send()
        where = f"{self.service}.{method} {_shown(shown)}"
        assert not reply.timed_out, f"{where}: no answer within {self.bound_s} s"
        assert reply.seconds < self.bound_s, f"{where}: answered in {reply.seconds:.2f} s"
        after = self.probe.take()
        self._state = after
        self.tally.add(method, reply)
        if reply.exc_type is None:
            return reply
        assert reply.exc_type in CONTRACT, f"{where}: {reply.exc_type}: {reply.message[:300]}"
        if reply.exc_type == "ValidationError":
            assert reply.message.split(":", 1)[0].strip(), f"{where}: names no field"
        changed = changed_tables(before, after)
        assert not changed, f"{where}: refused ({reply.exc_type}) but changed {changed}"
        return reply

    def generated(self, examples: int) -> None:
        """``examples`` generated calls per method (deterministic: hypothesis derandomized)."""
        for method, fn in self.methods:
            self._generated_for(method, fn, examples)

    def _generated_for(self, method: str, fn: Any, examples: int) -> None:
        from hypothesis import given

        @suite_settings(examples)
        @given(call_strategy(fn, self.known, self.tokens))
        def case(call: Call) -> None:
            self.check(
                method,
                lambda: self.raw.send(
                    self.service, method, call.body(), call.authorization, timeout=self.bound_s
                ),
                call.body(),
            )

        case()

    def raw_bodies(self, authorization: str | None) -> None:
        """Every raw body of ``raw_bodies`` to every method."""
        for method, fn in self.methods:
            _, names = fn.contract_arguments()
            for label, body, raw, content_type in raw_bodies(names):
                reply = self.check(
                    method,
                    lambda method=method, body=body, raw=raw, content_type=content_type: (
                        self.raw.send(
                            self.service,
                            method,
                            body,
                            authorization,
                            raw=raw,
                            content_type=content_type,
                            timeout=self.bound_s,
                        )
                    ),
                    label,
                )
                if names or label not in _HARMLESS_WITHOUT_PARAMETERS:
                    assert reply.exc_type is not None, f"{self.service}.{method} took {label}"

    def still_serving(self) -> float:
        """Fail unless the service answers ``ping`` within the bound; the time it took."""
        reply = self.raw.call(self.service, "ping", {}, None)
        assert not reply.timed_out and reply.result["service"] == self.service, reply
        assert reply.seconds < self.bound_s, f"ping took {reply.seconds:.2f} s"
        return reply.seconds


# A method without parameters may take what only adds nothing (an extra top-level key).
_HARMLESS_WITHOUT_PARAMETERS = frozenset(
    {"oversized strings", "nested 100", "nested 900", "positional wrong types"}
)


def _shown(value: Any) -> str:
    try:
        text_ = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text_ = repr(value)
    return text_ if len(text_) <= 300 else text_[:300] + "..."


# --- events: genuine data, and forgeries of it --------------------------------------------------

HUGE = 100_000
FOREIGN_CITY = "hangzhou"  # neither served by the test deployment nor one of its peers
PEER_CITY = "ningbo"  # the test deployment's federated peer
PEER_DEPLOYMENT = "ningbo-deployment"
HERE = {"lat": 30.2113, "lon": 121.4398}


def genuine_data(event_type: str, city: str) -> dict[str, Any]:
    """``data`` of ``event_type`` about a new record of ``city``, as its producer would publish
    it (fresh ids, moments near now)."""
    from .. import ids
    from .moments import iso_from_now

    now = iso_from_now()
    volunteer_id = ids.new_id(city, "vol")
    family, _, what = event_type.partition("_")
    if event_type.startswith("volunteer_") and event_type != "volunteer_checked_in":
        status = {"suspended": "suspended", "removed": "removed"}.get(what, "active")
        return {
            "volunteer_id": volunteer_id,
            "city": city,
            "version": 2,
            "status": status,
            "suspended_until": iso_from_now(days=30) if status == "suspended" else None,
            "cards": 1 if status == "suspended" else 0,
            "skills": ["repair"],
            "location": dict(HERE),
            "teams": [],
        }
    if family == "station":
        return {
            "station_id": ids.new_id(city, "st"),
            "city": city,
            "name": "先锋驿站",
            "district": "慈城镇",
            "address": "解放路1号",
            "location": dict(HERE),
            "kind": "community",
            "services": ["repair"],
            "opening_hours": [
                {"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "09:00", "end": "17:00"}
            ],
            "standard": dict.fromkeys(("venue", "identity", "team", "projects", "system"), True),
            "meets_standard": True,
            "version": 2,
        }
    if event_type == "volunteer_checked_in":
        return {
            "activity_id": ids.new_id(city, "act"),
            "station_id": ids.new_id(city, "st"),
            "volunteer_id": volunteer_id,
            "volunteer_city": city,
            "hours": 2.0,
            "points": 5,
            "checked_in_at": now,
        }
    if family == "wish":
        return {
            "wish_id": ids.new_id(city, "wish"),
            "city": city,
            "status": {"submitted": "submitted", "published": "published"}.get(what, what),
            "title": "想要一台收音机",
            "category": "elderly_care",
            "location": dict(HERE),
            "deadline": iso_from_now(days=30),
            "volunteer_id": volunteer_id,
            "volunteer_city": city,
            "rating": 5 if what == "closed" else None,
            "version": 3,
        }
    if family == "request":
        return {
            "request_id": ids.new_id(city, "req"),
            "city": city,
            "status": what,
            "service": "repair",
            "urgency": "normal",
            "location": dict(HERE),
            "offered_to": [volunteer_id] if what == "dispatched" else [],
            "volunteer_id": volunteer_id,
            "volunteer_city": city,
            "attempts": 1,
            "rating": 5 if what == "rated" else None,
            "version": 3,
        }
    if family == "points":
        spent = what == "redeemed"
        return {
            "entry_id": ids.new_id(city, "pts"),
            "volunteer_id": volunteer_id,
            "city": city,
            "delta": -5 if spent else 5,
            "reason": "兑换" if spent else "签到",
            "balance": 10,
            "at": now,
            "source_event_id": None if spent else str(uuid.uuid4()),
            "redemption_id": ids.new_id(city, "rdm") if spent else None,
            "item_id": ids.new_id(city, "item") if spent else None,
            "item_name": "水杯" if spent else None,
            "quantity": 1 if spent else None,
            "kind": "redeem" if spent else "checkin",
            "ranked": not spent,
        }
    raise LookupError(f"no genuine data for {event_type}")


@dataclass
class Forged:
    """One hostile message for one consumer: its kind, a label, the body and AMQP headers, and
    the strings (fresh ids) by which a row it wrote would be recognised."""

    kind: str
    label: str
    body: Any
    headers: dict[str, Any]
    markers: set[str]
    must_refuse: bool = True


# What a forged event may not be, by kind (``generated`` data may be valid: it is checked only
# for being settled, and for never being both parked and applied).
FORGED_KINDS = (
    "not an envelope",
    "missing fields",
    "wrong types",
    "huge strings",
    "out of range",
    "unknown type",
    "foreign origin",
)
_WRONG_FOR = {
    "string": 12345,
    "integer": "twelve",
    "number": "fast",
    "boolean": "maybe",
    "array": "x",
    "object": [1],
}
# Integer fields that count something (never negative, never beyond a 32-bit count), and the
# fields that carry points (never anywhere near two billion).
COUNT_FIELDS = {"cards", "claimed", "capacity", "attempts", "count", "quantity"}
POINTS_FIELDS = {"points", "delta", "balance"}
OUT_OF_RANGE_TIMES = ["9999-12-31T23:59:59+08:00", "0001-01-01T00:00:00+00:00"]


def federation_headers(peer: str = PEER_DEPLOYMENT) -> dict[str, Any]:
    """The header RabbitMQ's federation adds to the copies it forwards from ``peer``."""
    return {
        "x-received-from": [
            {"uri": f"amqp://{peer}", "exchange": "", "redelivered": False, "cluster-name": peer}
        ]
    }


_MARKER = re.compile(
    r"[a-z][a-z0-9_]{1,31}-[a-z]{1,6}-[0-9A-HJKMNP-TV-Z]{26}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _markers_in(text_: str) -> set[str]:
    """The ids and uuids written anywhere in ``text_`` (a row, a parked body)."""
    return set(_MARKER.findall(text_))


def _markers(value: Any) -> set[str]:
    """The ids inside ``value`` (every string of an id's shape, and uuids)."""
    from .. import ids

    found: set[str] = set()
    if isinstance(value, str):
        if ids.is_valid(value) or re.fullmatch(r"[0-9a-f-]{36}", value):
            found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            found |= _markers(item)
    elif isinstance(value, list):
        for item in value:
            found |= _markers(item)
    return found


def _data_fields(model: type) -> dict[str, tuple[str, bool]]:
    """``{field: (json type, required)}`` of an event data model."""
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = {}
    for name, prop in schema["properties"].items():
        options = prop.get("anyOf", [prop])
        kinds = [
            o.get("type") or ("object" if "$ref" in o and defs else "any")
            for o in options
            if o.get("type") != "null"
        ]
        fields[name] = (kinds[0] if kinds else "any", name in required)
        if any(o.get("format") == "date-time" for o in options):
            fields[name] = ("date-time", name in required)
    return fields


def _names_a_record_or_city(name: str) -> bool:
    return name == "city" or name.endswith(("_id", "_city"))


def forged_events(
    event_type: str,
    genuine: Callable[[], dict[str, Any]],
    headers: Mapping[str, Any] | None = None,
) -> list[Forged]:
    """Forged and malformed envelopes for a consumer of ``event_type``, each built from a fresh
    ``genuine()`` envelope (delivered with ``headers``, federation's for a peer's copies)."""
    model = DATA_OF[event_type]
    fields = _data_fields(model)
    headers = dict(headers or {})
    cases: list[Forged] = []

    def add(
        kind: str, label: str, mutate: Callable[[dict[str, Any]], Any], must_refuse: bool = True
    ) -> None:
        envelope = genuine()
        markers = _markers(envelope)
        body = mutate(envelope)
        cases.append(Forged(kind, label, body, dict(headers), markers, must_refuse))

    def setting(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
        def mutate(envelope: dict[str, Any]) -> Any:
            where, _, key = path.rpartition(".")
            target = envelope["data"] if where == "data" else envelope
            target[key] = value(target.get(key)) if callable(value) else value
            return envelope

        return mutate

    def dropping(path: str) -> Callable[[dict[str, Any]], Any]:
        def mutate(envelope: dict[str, Any]) -> Any:
            where, _, key = path.rpartition(".")
            (envelope["data"] if where == "data" else envelope).pop(key, None)
            return envelope

        return mutate

    for label, body in [
        ("a list", lambda e: [e]),
        ("a string", lambda e: json.dumps(e)),
        ("a number", lambda e: 12345),
        ("null", lambda e: None),
        ("data only", lambda e: e["data"]),
        ("empty object", lambda e: {}),
    ]:
        add("not an envelope", label, body)
    for key in ("event_id", "type", "origin_city", "city", "occurred_at", "data"):
        add("missing fields", f"no {key}", dropping(key))
    for name, (_, required) in fields.items():
        if required:
            add("missing fields", f"no data.{name}", dropping(f"data.{name}"))
    for key, value in [
        ("event_id", 123),
        ("type", 5),
        ("origin_city", None),
        ("city", ["cixi"]),
        ("occurred_at", "yesterday"),
        ("occurred_at", ["2026-01-01"]),
        ("data", []),
        ("data", "x"),
        ("version", "one"),
    ]:
        add("wrong types", f"{key}={value!r}", setting(key, value))
    for name, (kind, _) in fields.items():
        wrong = "yesterday" if kind == "date-time" else _WRONG_FOR.get(kind)
        if wrong is not None:
            add("wrong types", f"data.{name}={wrong!r}", setting(f"data.{name}", wrong))
    for key in ("event_id", "type", "origin_city", "city"):
        add("huge strings", f"{key} of {HUGE}", setting(key, lambda v: f"{v}{'x' * HUGE}"))
    for name, (kind, _) in fields.items():
        if kind == "string":
            # Every consumer keys on ids and cities; free text and codes only some read.
            add(
                "huge strings",
                f"data.{name} of {HUGE}",
                setting(f"data.{name}", lambda v: f"{v}{'x' * HUGE}"),
                must_refuse=_names_a_record_or_city(name),
            )
    # The envelope's own version and time no consumer reads today: sent, not required refused.
    for value in (-1, 0, 10**30):
        add("out of range", f"version={value}", setting("version", value), must_refuse=False)
    add(
        "out of range",
        "occurred_at in 9999",
        setting("occurred_at", OUT_OF_RANGE_TIMES[0]),
        must_refuse=False,
    )
    for name, (kind, _) in fields.items():
        path = f"data.{name}"
        if name == "version":
            for value in (-1, 0, 2**63, 10**30):
                add("out of range", f"{path}={value}", setting(path, value))
            # Within the contract's bound; out of reach only for a consumer that holds the
            # record's version (a replica, notify's offers), which must park it: their own
            # tests check that, as a consumer holding no version may treat it as opaque.
            add("out of range", f"{path}={2**31 - 1}", setting(path, 2**31 - 1), must_refuse=False)
        elif name in COUNT_FIELDS:
            for value in (-1, 2**63):
                add("out of range", f"{path}={value}", setting(path, value))
        elif name in POINTS_FIELDS:
            for value in (2_000_000_000, -2_000_000_000, 2**63):
                add("out of range", f"{path}={value}", setting(path, value), name != "balance")
        elif name == "rating":
            for value in (0, 6, 10**30):
                add("out of range", f"{path}={value}", setting(path, value))
        elif name == "hours":
            for value in (-1.0, math.nan, math.inf, 1e308):
                add("out of range", f"{path}={value}", setting(path, value))
        elif name == "location":
            for value in ({"lat": 1000.0, "lon": 0.0}, {"lat": math.nan, "lon": math.inf}):
                add("out of range", f"{path}={value}", setting(path, value))
        elif kind == "date-time":
            for value in OUT_OF_RANGE_TIMES:
                add("out of range", f"{path}={value}", setting(path, value), must_refuse=False)
    for value in (
        f"{event_type}_forged",
        "points_redeemed" if event_type != "points_redeemed" else "wish_closed",
    ):
        add("unknown type", f"type={value}", setting("type", value))
    add("foreign origin", f"origin_city={FOREIGN_CITY}", setting("origin_city", FOREIGN_CITY))
    return cases


# --- the events suite -------------------------------------------------------------------------


@dataclass(frozen=True)
class EventConsumer:
    """One event handler of the service under test, and where its events come from."""

    source: str
    event_type: str
    queue: str
    handler: str
    peers_only: bool

    @property
    def exchange(self) -> str:
        """The exchange the consumer's events are published to."""
        return f"{self.source}.events"


def event_consumers(service: str) -> list[EventConsumer]:
    """Every event handler of ``service`` (``definitions.handler_bindings``)."""
    from ..definitions import handler_bindings

    return [
        EventConsumer(
            b["source"], b["routing_key"], b["queue"], b["queue"].rsplit(".", 1)[1], b["peers_only"]
        )
        for b in handler_bindings(service)
    ]


@dataclass
class EventOutcome:
    """What became of one forged message."""

    consumer: EventConsumer
    case: Forged
    applied: list[str] = field(default_factory=list)  # the tables it changed
    parked: bool = False

    def describe(self) -> str:
        """``handler: kind: label``, as a failure lists it."""
        return f"{self.consumer.handler}: {self.case.kind}: {self.case.label}"


@dataclass
class EventTally:
    """What a run of the events suite saw."""

    outcomes: list[EventOutcome] = field(default_factory=list)
    unexplained: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Forged and generated messages published."""
        return len(self.outcomes)

    def failures(self) -> list[str]:
        """Cases that must be refused but were applied, generated ones both parked and applied,
        and changes no case explains."""
        found = [
            o.describe() + f" (applied to {', '.join(o.applied)})"
            for o in self.outcomes
            if o.applied and (o.case.must_refuse or o.parked)
        ]
        found += [f"unexplained: {n} changed rows of {t}" for t, n in self.unexplained.items()]
        return found

    def counts(self) -> dict[str, int]:
        """``{"parked": n, "acknowledged": n, "applied": n}``."""
        counts = {"parked": 0, "acknowledged": 0, "applied": 0}
        for o in self.outcomes:
            counts["applied" if o.applied else "parked" if o.parked else "acknowledged"] += 1
        return counts


class HostileEvents:
    """Publishes forged, malformed and generated envelopes to every event consumer of a running
    service (``container``) and checks that each is settled (acknowledged or parked in
    ``<service>.dlq``), that none that must be refused is applied, and that the service keeps
    answering ``ping``; then that a genuine event still goes through each consumer.

    A consumer of the service's own event types (``source == service``) keeps peers' copies:
    its events come as federation brings them, with ``x-received-from``, about a record of
    ``PEER_CITY``. Other consumers take this deployment's events about ``city``.
    """

    def __init__(
        self,
        amqp_uri: str,
        service: str,
        container: Any,
        probe: StateProbe,
        city: str = "cixi",
        bound_s: float = CALL_BOUND_S,
    ) -> None:
        self.amqp_uri = amqp_uri
        self.service = service
        self.container = container
        self.probe = probe
        self.city = city
        self.bound_s = bound_s
        self.consumers = event_consumers(service)
        self._published: dict[str, int] = {}

    # -- building ------------------------------------------------------------------------

    def delivery(self, consumer: EventConsumer) -> tuple[Callable[[], dict[str, Any]], dict]:
        """A factory of genuine envelopes for ``consumer``, and the headers they arrive with."""
        from ..db import envelope

        if consumer.source == self.service:
            city, headers = PEER_CITY, federation_headers()
        else:
            city, headers = self.city, {}

        def genuine() -> dict[str, Any]:
            return envelope(
                consumer.event_type, city, city, genuine_data(consumer.event_type, city)
            )

        return genuine, headers

    def generated(self, consumer: EventConsumer, examples: int) -> list[Forged]:
        """``examples`` envelopes whose data is drawn from the event type's contract model
        (hostile strategies) over a genuine envelope's data, its record ids kept."""
        from hypothesis import given
        from hypothesis import strategies as st

        genuine, headers = self.delivery(consumer)
        schema = DATA_OF[consumer.event_type].model_json_schema()
        shapes = SchemaStrategies(schema, [self.city, PEER_CITY, "repair", "elderly_care"])
        # The record's ids stay genuine, so a row the event wrote is recognised by them.
        properties = {
            k: shapes.hostile(v)
            for k, v in schema["properties"].items()
            if not k.endswith("_id") or k == "source_event_id"
        }
        drawn: list[dict[str, Any]] = []

        @suite_settings(examples)
        @given(st.fixed_dictionaries({}, optional=properties))
        def draw(values: dict[str, Any]) -> None:
            drawn.append(values)

        draw()
        cases = []
        for values in drawn:
            base = genuine()
            markers = _markers(base)
            base["data"].update(values)
            cases.append(Forged("generated", _shown(values), base, dict(headers), markers, False))
        return cases

    # -- running -------------------------------------------------------------------------

    def _publish(self, producer: Any, consumer: EventConsumer, case: Forged) -> None:
        producer.publish(
            json.dumps(case.body, allow_nan=True),
            exchange=Exchange(consumer.exchange, type="topic", durable=True),
            routing_key=consumer.event_type,
            headers=case.headers,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )
        self._published[consumer.handler] = self._published.get(consumer.handler, 0) + 1

    def _settled(self) -> dict[str, int]:
        """Per handler, the events dealt with for good: handled, less the attempts that failed
        and went to a retry (a parked one is dealt with)."""
        from ..kernel import Kernel

        kernel = next(e for e in self.container.extensions if isinstance(e, Kernel))
        settled: dict[str, int] = {}
        for family in kernel.metrics.registry.collect():
            for sample in family.samples:
                handler = sample.labels.get("handler")
                if handler is None or not sample.name.endswith("_total"):
                    continue
                if sample.name == "pioneer_events_handled_total":
                    settled[handler] = settled.get(handler, 0) + int(sample.value)
                elif (
                    sample.name == "pioneer_events_failed_total"
                    and sample.labels.get("action") == "retry"
                ):
                    settled[handler] = settled.get(handler, 0) - int(sample.value)
        return settled

    def wait_settled(self, timeout: float = 90.0) -> None:
        """Wait until every published event is dealt with; fail naming the handlers that lag."""
        deadline = time.monotonic() + timeout
        while True:
            settled = self._settled()
            behind = {
                h: n - settled.get(h, 0)
                for h, n in self._published.items()
                if settled.get(h, 0) < n
            }
            if not behind:
                return
            assert time.monotonic() < deadline, f"events not settled within {timeout} s: {behind}"
            time.sleep(0.1)

    def _parked(self) -> list[Any]:
        """Take every message out of the service's dead-letter queue (their bodies)."""
        from ..deadletter import dlq_queue

        bodies = []
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            queue = dlq_queue(self.service)(channel)
            queue.declare()
            while (message := queue.get(no_ack=True, accept=["json"])) is not None:
                bodies.append(message.body if isinstance(message.body, str) else message.payload)
            channel.close()
        return bodies

    def still_serving(self) -> float:
        """Fail unless the service answers ``ping`` within the bound; the time it took."""
        raw = RawRpc(self.amqp_uri)
        try:
            reply = raw.call(self.service, "ping", {}, None)
        finally:
            raw.close()
        assert not reply.timed_out and reply.result["service"] == self.service, reply
        assert reply.seconds < self.bound_s, f"ping took {reply.seconds:.2f} s"
        return reply.seconds

    def run(self, generated_examples: int = 10) -> EventTally:
        """The whole suite: every forged kind and ``generated_examples`` generated envelopes to
        every consumer at once, then a genuine event to each."""
        cases: list[tuple[EventConsumer, Forged]] = []
        for consumer in self.consumers:
            genuine, headers = self.delivery(consumer)
            cases += [
                (consumer, case) for case in forged_events(consumer.event_type, genuine, headers)
            ]
            cases += [(consumer, case) for case in self.generated(consumer, generated_examples)]
        before = self.probe.rows()
        with Connection(self.amqp_uri) as conn:
            producer = Producer(conn.channel())
            for consumer, case in cases:
                self._publish(producer, consumer, case)
        self.still_serving()
        self.wait_settled()
        self.still_serving()
        after = self.probe.rows()
        parked = set()
        for body in self._parked():
            parked |= _markers_in(json.dumps(body, default=str))
        owners: dict[str, int] = {}
        for number, (_, case) in enumerate(cases):
            for marker in case.markers:
                owners[marker] = number
        tally = EventTally()
        tally.outcomes = [EventOutcome(consumer, case) for consumer, case in cases]
        for table in after:
            old = before.get(table, set())
            for row in (after[table] - old) | (old - after[table]):
                hits = {owners[m] for m in _markers_in(row) if m in owners}
                if not hits:
                    tally.unexplained[table] = tally.unexplained.get(table, 0) + 1
                for number in hits:
                    if table not in tally.outcomes[number].applied:
                        tally.outcomes[number].applied.append(table)
        for outcome in tally.outcomes:
            outcome.parked = bool(outcome.case.markers & parked)
        self._control()
        return tally

    def _control(self) -> None:
        """A genuine event to each consumer is dealt with and not parked: the consumers still
        work, and what they refused was refused for what was wrong with it."""
        sent: list[tuple[EventConsumer, dict[str, Any]]] = []
        with Connection(self.amqp_uri) as conn:
            producer = Producer(conn.channel())
            for consumer in self.consumers:
                genuine, headers = self.delivery(consumer)
                envelope = genuine()
                self._publish(producer, consumer, Forged("genuine", "", envelope, headers, set()))
                sent.append((consumer, envelope))
        self.wait_settled()
        parked = set()
        for body in self._parked():
            parked |= _markers_in(json.dumps(body, default=str))
        refused = [c.handler for c, e in sent if e["event_id"] in parked]
        assert not refused, f"genuine events parked by {refused}"


def assert_none_applied(failures: Sequence[str]) -> None:
    """Fail, listing them, if any forged or malformed envelope changed the service's state."""
    assert not failures, "hostile input accepted:\n" + "\n".join(failures[:50])


# --- what each service's hostile test runs ------------------------------------------------------

# Generated calls per RPC method and generated envelopes per event consumer, per database. With
# the raw bodies and forged envelopes, a service's suite runs for seconds per database.
RPC_EXAMPLES = 20
EVENT_EXAMPLES = 5


def backend_of(database_url: str) -> str:
    """``sqlite`` or ``postgresql``: the name a summary line gives the database."""
    return database_url.split(":", 1)[0].split("+", 1)[0]


def near_now() -> list[str]:
    """Moments a generated time may take so that it means something today: an hour, a day and a
    month ahead, an hour ago (``pioneer.testing.moments``)."""
    from .moments import iso_from_now

    return [
        iso_from_now(hours=1),
        iso_from_now(days=1),
        iso_from_now(days=30),
        iso_from_now(hours=-1),
    ]


# Values of the shapes the contract's patterns and formats want, that mean something to every
# service: served and unserved cities, real service codes, opening-hours parts, rules.
COMMON_KNOWN = [
    "cixi",
    "haining",
    "jiaxing",
    FOREIGN_CITY,
    "repair",
    "elderly_care",
    "09:00",
    "17:30",
    "00:00",
    "23:59",
    "24:00",
    "FREQ=WEEKLY;BYDAY=SA,SU",
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "13812345678",
    "https://example.org/hook",
    "http://127.0.0.1:15672/api/users",
]


def run_rpc(
    service: str,
    service_cls: type,
    amqp_uri: str,
    engine: Engine,
    database_url: str,
    tokens: Sequence[str | None],
    known: Iterable[str] = (),
    counted: Iterable[str] = ("outbox",),
    examples: int = RPC_EXAMPLES,
) -> RpcTally:
    """Generated calls to every method, then every raw body to every method (with the first of
    ``tokens``), then ``ping``; prints and records the number of cases."""
    raw = RawRpc(amqp_uri)
    try:
        suite = HostileRpc(
            raw,
            service,
            service_cls,
            StateProbe(engine, counted=counted),
            tokens,
            [*COMMON_KNOWN, *near_now(), *known],
        )
        suite.generated(examples)
        suite.raw_bodies(tokens[0])
        suite.still_serving()
    finally:
        raw.close()
    print(record(service, "rpc", backend_of(database_url), suite.tally.total), suite.tally.outcomes)
    return suite.tally


def run_events(
    service: str,
    container: Any,
    amqp_uri: str,
    engine: Engine,
    database_url: str,
    examples: int = EVENT_EXAMPLES,
) -> EventTally:
    """Forged, malformed and generated envelopes to every consumer; prints and records the
    number of cases; fails if any of them changed the service's state."""
    suite = HostileEvents(
        amqp_uri, service, container, StateProbe(engine, ignored=["processed_events"])
    )
    tally = suite.run(examples)
    print(record(service, "events", backend_of(database_url), tally.total), tally.counts())
    assert_none_applied(tally.failures())
    return tally
