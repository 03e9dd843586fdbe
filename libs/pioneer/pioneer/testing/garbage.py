"""Garbage input for every method of a service: wrong types, huge strings, unknown and missing
fields, injection strings. Used by each service's garbage test with one valid call per method."""

from __future__ import annotations

import time
from typing import Any

from nameko.exceptions import RemoteError

from ..errors import CONTRACT_ERRORS

CONTRACT = {cls.__name__ for cls in CONTRACT_ERRORS}
HUGE = "志" * 100_000
INJECTIONS = [
    "'; DROP TABLE stations; --",
    "cixi-st-' OR '1'='1",
    "cixi\x00st",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
]
SCALARS = [12345, -1, 1.5, float("nan"), float("inf"), True, None, "", HUGE, [], ["x"], {}]
BAD_CREDENTIALS = [
    "Bearer garbage",
    "Basic dXNlcjpwYXNz",
    "Bearer " + "a" * 5000,
    "x" * 50_000,  # a header must fit in one AMQP frame (128 KiB)
]


def garbage_dicts(valid: dict[str, Any], all_optional: bool) -> list[Any]:
    """Broken versions of a valid argument object."""
    missing = [] if all_optional or not valid else [dict(list(valid.items())[1:])]
    return [
        *missing,
        {**valid, "unknown_field": 1},
        {key: HUGE for key in valid},
        {key: 12345 for key in valid},
        {key: None for key in valid},
        {key: INJECTIONS[0] for key in valid},
        {key: {"nested": [valid]} for key in valid},
    ]


def garbage_calls(
    valid: dict[str, dict[str, Any]],
    optional: set[str] = frozenset(),  # type: ignore[assignment]
    all_optional_objects: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[tuple[str, tuple, dict[str, Any]]]:
    """``(method, args, kwargs)`` garbage calls derived from one valid call per method.

    ``optional`` names arguments for which ``None`` is a valid value; ``all_optional_objects``
    names object arguments whose fields are all optional (a partial update).
    """
    calls: list[tuple[str, tuple, dict[str, Any]]] = []
    for method, kwargs in valid.items():
        calls.append((method, (), {}))  # everything missing
        calls.append((method, (*kwargs.values(), "extra"), {}))  # too many positional
        calls.append((method, (), {**kwargs, "surprise": 1}))  # unknown argument
        for name, value in kwargs.items():
            bad_values = SCALARS + INJECTIONS
            if isinstance(value, dict):
                bad_values = bad_values + garbage_dicts(value, name in all_optional_objects)
            for bad in bad_values:
                if (bad is None and name in optional) or bad == value:
                    continue
                calls.append((method, (), {**kwargs, name: bad}))
    return calls


def send_garbage(
    client: Any, service: str, calls: list[tuple[str, tuple, dict]], reads: set[str]
) -> set[str]:
    """Send every call at once; fail unless each is refused with a contract error.

    Methods in ``reads`` may accept an odd value (a 1.5 m radius, an injection string as a
    district to filter by); every other method must refuse every call. Returns the error types
    seen.
    """
    seen: set[str] = set()
    pending = [(m, k, client.call_async(service, m, *a, **k)) for m, a, k in calls]
    for method, kwargs, reply in pending:
        try:
            reply.result()
        except RemoteError as exc:
            assert exc.exc_type in CONTRACT, (method, exc.exc_type, str(exc.value)[:200])
            if exc.exc_type == "ValidationError":
                # The message starts with the path of the field at fault.
                assert exc.value.split(":", 1)[0].strip(), (method, exc.value[:200])
            seen.add(exc.exc_type)
            continue
        assert method in reads, f"{method} accepted garbage: {str(kwargs)[:300]}"
    return seen


# Recurrence rules dateutil loops on forever or for seconds. Unreadable ones no evaluation can
# bound: refused at the edge and parked by consumers. Never-occurring ones are readable (and
# cheap here): refused at the edge only. Stored, any of them answers "not open".
UNREADABLE_RRULES = [
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=WEEKLY;INTERVAL=-1",
    "FREQ=DAILY;COUNT=0",
    "FREQ=YEARLY;BYWEEKNO=1",
    "FREQ=DAILY;UNTIL=20261231T000000Z",
]
NEVER_OCCURRING_RRULES = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYDAY=20WE",
]
HOSTILE_RRULES = UNREADABLE_RRULES + NEVER_OCCURRING_RRULES
# The same rules as an opening-hours or availability entry.
HOSTILE_WINDOWS = [{"rrule": rule, "start": "00:00", "end": "23:59"} for rule in HOSTILE_RRULES]
# What a database may hold from before the checks: the hostile rules, and a rule that is over.
STORED_GARBAGE = [
    *HOSTILE_WINDOWS,
    {"rrule": "FREQ=DAILY;UNTIL=20200101", "start": "00:00", "end": "23:59"},
]


def answers_ping_within(client: Any, service: str, seconds: float = 1.0) -> float:
    """Fail unless ``service`` answers ``ping`` within ``seconds``; the time it took."""
    began = time.monotonic()
    reply = client.call_async(service, "ping")
    assert reply.result()["service"] == service
    took = time.monotonic() - began
    assert took < seconds, f"{service} took {took:.2f} s to answer ping"
    return took
