"""Opening hours and availability as RFC 5545 recurrence rules, evaluated in Asia/Shanghai.

An entry is ``{"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "start": "13:30", "end": "17:00"}``: the
rule says on which days, ``start``/``end`` say when on those days. An ``end`` at or before
``start`` runs past midnight into the next day. Rules recur by day or coarser (DAILY, WEEKLY,
MONTHLY, YEARLY); their DTSTART is fixed at Monday 2000-01-03 00:00 local time, which is what
``INTERVAL`` and ``COUNT`` count from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from dateutil.rrule import rrule, rrulestr

from .clock import CITY_TZ

ANCHOR = datetime(2000, 1, 3)
_ALLOWED_FREQ = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_PART_RE = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")
_FORBIDDEN_PARTS = {"BYHOUR", "BYMINUTE", "BYSECOND", "DTSTART"}
MAX_RRULE_LENGTH = 256


class ScheduleError(ValueError):
    """An opening-hours rule that cannot be accepted."""


def parse_hhmm(value: str) -> time:
    """``"HH:MM"`` (00:00–23:59, or 24:00 as the end of the day) as minutes-precision time."""
    if not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ScheduleError("must be HH:MM")
    hours, minutes = int(value[:2]), int(value[3:])
    if hours == 24 and minutes == 0:
        return time.max
    if hours > 23 or minutes > 59:
        raise ScheduleError("must be a time of day between 00:00 and 24:00")
    return time(hours, minutes)


def normalise_rrule(value: str) -> str:
    """Validate an RRULE and return it in canonical form (upper case, no ``RRULE:`` prefix)."""
    if len(value) > MAX_RRULE_LENGTH:
        raise ScheduleError(f"longer than {MAX_RRULE_LENGTH} characters")
    text = value.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts = [p for p in text.split(";") if p]
    if not parts:
        raise ScheduleError("empty rule")
    names = set()
    for part in parts:
        if not _PART_RE.match(part):
            raise ScheduleError(f"malformed part {part[:40]!r}")
        name, _, val = part.partition("=")
        if name in names:
            raise ScheduleError(f"{name} given twice")
        names.add(name)
        if name in _FORBIDDEN_PARTS:
            raise ScheduleError(f"{name} is not allowed; times come from start and end")
        if name == "FREQ" and val not in _ALLOWED_FREQ:
            raise ScheduleError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    if "FREQ" not in names:
        raise ScheduleError("FREQ is required")
    canonical = ";".join(parts)
    try:
        _compile(canonical)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ScheduleError(f"not a valid RRULE ({str(exc)[:80]})") from None
    return canonical


@lru_cache(maxsize=4096)
def _compile(canonical: str) -> rrule:
    rule = rrulestr(canonical, dtstart=ANCHOR, cache=True)
    if not isinstance(rule, rrule):
        raise ValueError("a single RRULE is expected")
    return rule


@lru_cache(maxsize=200_000)
def occurs_on(canonical: str, day: date) -> bool:
    """Whether the rule has an occurrence on ``day`` (local date)."""
    start = datetime(day.year, day.month, day.day)
    if start < ANCHOR:
        return False
    found = _compile(canonical).after(start, inc=True)
    return found is not None and found.date() == day


@dataclass(frozen=True)
class Window:
    """One opening-hours entry in evaluated form."""

    rrule: str
    start: time
    end: time

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside this window."""
        at = moment.astimezone(CITY_TZ)
        day, now = at.date(), at.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= now < self.end and occurs_on(self.rrule, day)
        # Runs past midnight: the evening of an occurrence day or the small hours after it.
        if now >= self.start and occurs_on(self.rrule, day):
            return True
        return now < self.end and occurs_on(self.rrule, day - timedelta(days=1))


def window(entry: dict) -> Window:
    """Build a ``Window`` from a stored ``{"rrule", "start", "end"}`` entry."""
    return Window(entry["rrule"], parse_hhmm(entry["start"]), parse_hhmm(entry["end"]))


def is_open_at(entries: list[dict], moment: datetime) -> bool:
    """Whether any of the entries is open at ``moment``."""
    return any(window(entry).is_open(moment) for entry in entries)
