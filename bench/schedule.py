"""``make bench --only schedule``: the worst cases of opening-hours and availability rules.

What one rule can cost a worker, in-process (no broker): the edge's check of a rule that never
occurs (it reads the eight-year horizon), one evaluation of a stored rule, and a schedule of
20 windows (the most a station or volunteer may have) asked about one moment. Each case is
timed cold (the per-year tables and caches empty, as in a fresh process) and warm (the year
tables built, the rule new), and the worst of ``ROUNDS`` runs is reported.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pioneer import clock, schedule
from pioneer.testing.garbage import HOSTILE_RRULES, NEVER_OCCURRING_RRULES

ROUNDS = 20
# Rules that make the evaluation do the most work: a year of days to filter, BYSETPOS over a
# whole year, an interval far apart, and rules that never occur.
HEAVY_RRULES = [
    *NEVER_OCCURRING_RRULES,
    "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=1,-1,100,200,-300",
    "FREQ=YEARLY;BYDAY=MO,1TU",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=DAILY;INTERVAL=1000",
    "FREQ=DAILY;BYDAY=MO;BYMONTHDAY=30;BYMONTH=2;BYYEARDAY=1,2,3",
]


def _clear(years: bool) -> None:
    for cached in (schedule.occurs_on, schedule._readable, schedule._occurrences, schedule._kept):
        cached.cache_clear()
    if years:
        schedule._year.cache_clear()


def _worst_ms(fn: Callable[[], object], cold: bool) -> float:
    worst = 0.0
    for _ in range(ROUNDS):
        _clear(years=cold)
        began = time.perf_counter()
        fn()
        worst = max(worst, time.perf_counter() - began)
    return round(worst * 1000, 3)


def _edge_check(rule: str) -> None:
    with contextlib.suppress(schedule.ScheduleError):
        schedule.normalise_rrule(rule)


def measure() -> list[dict[str, object]]:
    """The worst case of each kind, cold and warm, in milliseconds."""
    moment = clock.utcnow() + timedelta(days=3)
    windows = [
        {"rrule": rule, "start": "20:00", "end": "02:00"}  # overnight: two days asked
        for rule in (HEAVY_RRULES + HOSTILE_RRULES)[:20]
    ]
    cases: list[tuple[str, Callable[[], object]]] = [
        *((f"edge check: {r}", lambda r=r: _edge_check(r)) for r in HEAVY_RRULES),
        *(
            (f"one evaluation: {r}", lambda r=r: schedule.occurs_on(r, moment.date()))
            for r in HEAVY_RRULES + HOSTILE_RRULES
        ),
        ("is_open_at, 20 overnight windows of the above", lambda: _open(windows, moment)),
        (
            "edge check of all 20 windows' rules",
            lambda: [_edge_check(w["rrule"]) for w in windows],
        ),
    ]
    return [
        {"case": name, "cold_ms": _worst_ms(fn, True), "warm_ms": _worst_ms(fn, False)}
        for name, fn in cases
    ]


def _open(windows: list[dict[str, str]], moment: datetime) -> bool:
    return schedule.is_open_at(windows, moment)


def report() -> list[dict[str, object]]:
    """Measure and print the table; the rows for ``results.json``."""
    rows = measure()
    print(
        f"schedule worst cases (worst of {ROUNDS}; cold = fresh process, warm = year tables built)"
    )
    for row in rows:
        print(f"  {row['case'][:78]:78s} {row['cold_ms']:8.3f} ms {row['warm_ms']:8.3f} ms")
    return rows


if __name__ == "__main__":
    report()
