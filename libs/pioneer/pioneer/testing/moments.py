"""Moments near now for tests, seed data and the bench, read from the kernel's clock.

An input that must lie near "now" (an activity under way, a deadline ahead, the coming
Saturday's opening hours) is computed here, so a test means the same on any date and under a
moved clock (``make test`` runs the suite again with the process clock years ahead).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .. import clock

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


def now() -> datetime:
    """The kernel clock's current time (UTC), to the whole second."""
    return clock.utcnow().replace(microsecond=0)


def from_now(**delta: float) -> datetime:
    """``now()`` moved by ``timedelta(**delta)``: ``from_now(hours=1)``, ``from_now(days=-2)``."""
    return now() + timedelta(**delta)


def iso_from_now(**delta: float) -> str:
    """``from_now(...)`` as the contract writes a moment (ISO 8601, +08:00)."""
    return clock.iso(from_now(**delta))


def next_local(weekday: int, hhmm: str) -> str:
    """The next moment after now that falls on ``weekday`` (0 is Monday) at ``hhmm`` local time,
    as ISO 8601 with +08:00: ``next_local(SATURDAY, "10:00")``."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    local_now = clock.local(now())
    moment = local_now.replace(hour=hours, minute=minutes, second=0)
    moment += timedelta(days=(weekday - moment.weekday()) % 7)
    if moment <= local_now:
        moment += timedelta(days=7)
    return moment.isoformat()


def this_year() -> int:
    """The current year in the cities' zone."""
    return clock.local(now()).year


def month_periods_before_now(count: int) -> list[str]:
    """The ``YYYY-MM`` periods of the ``count`` months up to and including this one."""
    local_now = clock.local(now())
    year, month = local_now.year, local_now.month
    periods = []
    for _ in range(count):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods[::-1]
