"""Opening hours and availability as RFC 5545 recurrence rules, evaluated in Asia/Shanghai.

An entry is ``{"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "start": "13:30", "end": "17:00"}``: the
rule says on which days, ``start``/``end`` say when on those days. An ``end`` at or before
``start`` runs past midnight into the next day. Rules recur by day or coarser (DAILY, WEEKLY,
MONTHLY, YEARLY); their DTSTART is fixed at Monday 2000-01-03 00:00 local time, which is what
``INTERVAL`` counts from.

Evaluation is bounded whatever the rule. dateutil walks a rule period by period from DTSTART
and never stops on a period without an occurrence: ``INTERVAL=0`` loops forever and a rule
that never occurs (``BYMONTH=2;BYMONTHDAY=30``) walks to the year 9999, and eventlet cannot
preempt either. Here a question about one day looks only at the period (day, week, month or
year) that holds it, through a per-year table of the days the rule's BY parts keep, so it
examines at most one year's days; the semantics are dateutil's (the tests compare the two on
generated rules). A rule or entry that cannot be read, such as one stored before these checks,
answers "not open" instead of failing the query.

Accepted (``parse_rule``): FREQ, INTERVAL (1-1000), UNTIL (local ``YYYYMMDD[THHMMSS]``),
BYDAY, BYMONTHDAY, BYYEARDAY, BYMONTH, BYSETPOS and WKST, in their RFC ranges. Refused: COUNT
(it would count from 2000-01-03: end a rule with UNTIL), BYWEEKNO, dateutil's BYEASTER, and the
time parts (times come from ``start`` and ``end``). A rule given at the edge must also occur
within ``HORIZON_DAYS`` from today (``normalise_rrule``); rules that reach a service from its
peers' events get the structural check only, because the horizon moves with the clock and an
event its home deployment accepted must stay valid.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from . import clock
from .clock import CITY_TZ

ANCHOR = date(2000, 1, 3)
# How far ahead a new rule must occur at least once: eight years, because a leap-day rule
# (BYMONTH=2;BYMONTHDAY=29) skips from 2096 to 2104.
HORIZON_DAYS = 8 * 366
MAX_RRULE_LENGTH = 256
MAX_INTERVAL = 1000

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_PART_RE = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")
_BYDAY_RE = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT_RE = re.compile(r"^[+-]?\d{1,4}$")
_UNTIL_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_KNOWN = {"FREQ", "INTERVAL", "UNTIL", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYMONTH"}
_KNOWN |= {"BYSETPOS", "WKST"}
_REFUSED = {
    "COUNT": "COUNT is not supported (it would count from 2000-01-03); end the rule with UNTIL",
    "BYWEEKNO": "BYWEEKNO is not supported; use BYMONTH, BYMONTHDAY or BYYEARDAY",
    "BYEASTER": "BYEASTER is not supported",
    **{
        name: f"{name} is not allowed; times come from start and end"
        for name in ("BYHOUR", "BYMINUTE", "BYSECOND", "DTSTART")
    },
}


class ScheduleError(ValueError):
    """An opening-hours rule that cannot be accepted."""


def parse_hhmm(value: str) -> time:
    """``"HH:MM"`` (00:00–23:59, or 24:00 as the end of the day) as minutes-precision time."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ScheduleError("must be HH:MM")
    hours, minutes = int(value[:2]), int(value[3:])
    if hours == 24 and minutes == 0:
        return time.max
    if hours > 23 or minutes > 59:
        raise ScheduleError("must be a time of day between 00:00 and 24:00")
    return time(hours, minutes)


# What a rule's BY parts look at, for every day of a year: ordinal, month, day of the month
# (from the start and from the end), weekday, day of the year (both ways), and the weekday's
# position in its month and in its year (both ways).
_DayFacts = tuple[int, int, int, int, int, int, int, int, int, int, int]


@dataclass(frozen=True)
class _Year:
    days: tuple[_DayFacts, ...]  # indexed by day of the year - 1
    month_starts: tuple[int, ...]  # index of each month's first day (13 entries, the last = len)


@lru_cache(maxsize=64)
def _year(year: int) -> _Year:
    first = date(year, 1, 1).toordinal()
    year_length = 366 if calendar.isleap(year) else 365
    facts, starts = [], []
    for month in range(1, 13):
        starts.append(len(facts))
        month_length = calendar.monthrange(year, month)[1]
        for mday in range(1, month_length + 1):
            ordinal = first + len(facts)
            yday = len(facts) + 1
            facts.append(
                (
                    ordinal,
                    month,
                    mday,
                    mday - month_length - 1,
                    (ordinal - 1) % 7,
                    yday,
                    yday - year_length - 1,
                    (mday - 1) // 7 + 1,
                    -((month_length - mday) // 7 + 1),
                    (yday - 1) // 7 + 1,
                    -((year_length - yday) // 7 + 1),
                )
            )
    starts.append(len(facts))
    return _Year(tuple(facts), tuple(starts))


@dataclass(frozen=True)
class Rule:
    """A parsed rule: the parts that decide on which days it occurs (DTSTART is ``ANCHOR``)."""

    freq: str
    interval: int = 1
    until: date | None = None
    wkst: int = 0
    bymonth: frozenset[int] = frozenset()
    bymonthday: frozenset[int] = frozenset()  # 1 is the first day, -1 the last
    byyearday: frozenset[int] = frozenset()
    byweekday: frozenset[int] = frozenset()  # 0 is Monday
    bynweekday: frozenset[tuple[int, int]] = frozenset()  # (weekday, n): the nth in the period
    bysetpos: tuple[int, ...] = ()

    def period_of(self, day: date) -> int:
        """The index of the period holding ``day``, counted from the one holding ``ANCHOR``."""
        if self.freq == "DAILY":
            return (day - ANCHOR).days
        if self.freq == "WEEKLY":
            return (self._week_start(day) - self._week_start(ANCHOR)).days // 7
        if self.freq == "MONTHLY":
            return (day.year - ANCHOR.year) * 12 + day.month - 1
        return day.year - ANCHOR.year

    def period_days(self, index: int) -> tuple[date, date]:
        """The first and last day of period ``index``."""
        if self.freq == "DAILY":
            first = ANCHOR + timedelta(days=index)
            return first, first
        if self.freq == "WEEKLY":
            first = self._week_start(ANCHOR) + timedelta(days=7 * index)
            return first, first + timedelta(days=6)
        if self.freq == "MONTHLY":
            year, month = divmod(index, 12)
            year += ANCHOR.year
            return date(year, month + 1, 1), date(
                year, month + 1, calendar.monthrange(year, month + 1)[1]
            )
        return date(ANCHOR.year + index, 1, 1), date(ANCHOR.year + index, 12, 31)

    def kept(self, year: int) -> frozenset[int]:
        """The ordinals of the days of ``year`` that every BY part keeps (before BYSETPOS)."""
        return _kept(self, year)

    def occurrences(self, index: int) -> tuple[date, ...]:
        """The days of period ``index`` on which the rule occurs, in order.

        As dateutil does: every BY part filters the period's days, BYSETPOS then picks among
        what is left, and days before DTSTART or after UNTIL are dropped last (dateutil's first
        week starts at DTSTART itself).
        """
        if index < 0 or index % self.interval:
            return ()
        first, last = self.period_days(index)
        if self.freq == "WEEKLY":
            first = max(first, ANCHOR)
        low, high = first.toordinal(), last.toordinal()
        kept = self.kept(first.year)
        if last.year != first.year:  # a week across New Year
            kept = kept | self.kept(last.year)
        days = [n for n in range(low, high + 1) if n in kept]
        if self.bysetpos:
            days = _pick(days, self.bysetpos)
        start, end = ANCHOR.toordinal(), (self.until or date.max).toordinal()
        return tuple(date.fromordinal(n) for n in days if start <= n <= end)

    def keeps(self, facts: _DayFacts) -> bool:
        """Whether the BY parts keep the day these facts describe."""
        _, month, mday, nmday, weekday, yday, nyday, mfwd, mback, yfwd, yback = facts
        if self.bymonth and month not in self.bymonth:
            return False
        if self.byweekday and weekday not in self.byweekday:
            return False
        if self.bynweekday:
            # Ordinals count within the month (MONTHLY, or YEARLY with BYMONTH), else the year.
            forward, backward = (
                (mfwd, mback) if self.freq == "MONTHLY" or self.bymonth else (yfwd, yback)
            )
            if (weekday, forward) not in self.bynweekday and (
                weekday,
                backward,
            ) not in self.bynweekday:
                return False
        if self.bymonthday and mday not in self.bymonthday and nmday not in self.bymonthday:
            return False
        return not self.byyearday or yday in self.byyearday or nyday in self.byyearday

    def _week_start(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.wkst) % 7)


@lru_cache(maxsize=8192)
def _kept(rule: Rule, year: int) -> frozenset[int]:
    # Only the candidates the most selective part allows are tested: a year costs at most its
    # 366 days, and a rule naming days of the month or year a few dozen.
    table = _year(year)
    months = sorted(rule.bymonth) or range(1, 13)
    if rule.byyearday:
        length = len(table.days)
        candidates = (y - 1 if y > 0 else length + y for y in rule.byyearday)
        indexes = sorted(i for i in candidates if 0 <= i < length)
    elif rule.bymonthday:
        indexes = []
        for month in months:
            first, length = table.month_starts[month - 1], _month_length(table, month)
            for d in rule.bymonthday:
                offset = d - 1 if d > 0 else length + d
                if 0 <= offset < length:
                    indexes.append(first + offset)
    elif rule.byweekday or rule.bynweekday:
        weekdays = rule.byweekday or {weekday for weekday, _ in rule.bynweekday}
        indexes = []
        for month in months:
            first, end = table.month_starts[month - 1], table.month_starts[month]
            for weekday in weekdays:
                indexes.extend(range(first + (weekday - table.days[first][4]) % 7, end, 7))
    else:
        indexes = [
            i for m in months for i in range(table.month_starts[m - 1], table.month_starts[m])
        ]
    return frozenset(table.days[i][0] for i in indexes if rule.keeps(table.days[i]))


def _month_length(table: _Year, month: int) -> int:
    return table.month_starts[month] - table.month_starts[month - 1]


def _has(days: list[int], pos: int) -> bool:
    return pos - 1 < len(days) if pos > 0 else -pos <= len(days)


def _ints(name: str, value: str, low: int, high: int, signed: bool) -> frozenset[int]:
    numbers = set()
    for item in value.split(","):
        if not _INT_RE.match(item):
            raise ScheduleError(f"{name} must be a list of numbers")
        number = int(item)
        if not (low <= abs(number) <= high) or (number < 0 and not signed):
            span = f"±{low}-{high}" if signed else f"{low}-{high}"
            raise ScheduleError(f"{name} values must be {span}")
        numbers.add(number)
    return frozenset(numbers)


def _until(value: str) -> date:
    match = _UNTIL_RE.match(value)
    if not match:
        raise ScheduleError("UNTIL must be YYYYMMDD or YYYYMMDDTHHMMSS (local time)")
    if match.group(7):
        raise ScheduleError("UNTIL must be local time (no Z): the rule runs in Asia/Shanghai")
    try:
        moment = datetime(*(int(g) for g in match.groups()[:6] if g is not None))
    except ValueError:
        raise ScheduleError("UNTIL is not a valid date") from None
    return moment.date()  # occurrences are at 00:00, so any UNTIL time keeps its own day


def _byday(value: str, freq: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    plain, nth = set(), set()
    for item in value.split(","):
        match = _BYDAY_RE.match(item)
        if not match:
            raise ScheduleError(f"BYDAY has a bad day {item[:12]!r}")
        sign, number, name = match.groups()
        weekday = WEEKDAYS.index(name)
        if number is None:
            plain.add(weekday)
            continue
        n = int(number)
        if not 1 <= n <= 53:
            raise ScheduleError("BYDAY ordinals must be ±1-53")
        if freq in ("DAILY", "WEEKLY"):  # dateutil ignores the ordinal at these frequencies
            plain.add(weekday)
        else:
            nth.add((weekday, -n if sign == "-" else n))
    return frozenset(plain), frozenset(nth)


def parse_rule(value: str) -> tuple[str, Rule]:
    """Check a rule's structure and parse it: ``(canonical text, Rule)``.

    Canonical text is upper case, without the ``RRULE:`` prefix. This is the check for rules
    that reach a service from anywhere; ``normalise_rrule`` adds the edge's horizon. Parsing
    looks at each part once: its cost is bounded by ``MAX_RRULE_LENGTH``.
    """
    if not isinstance(value, str):
        raise ScheduleError("must be a string")
    if len(value) > MAX_RRULE_LENGTH:
        raise ScheduleError(f"longer than {MAX_RRULE_LENGTH} characters")
    text = value.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts = [p for p in text.split(";") if p]
    if not parts:
        raise ScheduleError("empty rule")
    values: dict[str, str] = {}
    for part in parts:
        if not _PART_RE.match(part):
            raise ScheduleError(f"malformed part {part[:40]!r}")
        name, _, val = part.partition("=")
        if name in values:
            raise ScheduleError(f"{name} given twice")
        if name in _REFUSED:
            raise ScheduleError(_REFUSED[name])
        if name not in _KNOWN:
            raise ScheduleError(f"unknown part {name[:20]}")
        values[name] = val
    freq = values.get("FREQ")
    if freq is None:
        raise ScheduleError("FREQ is required")
    if freq not in _FREQS:
        raise ScheduleError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    fields: dict[str, Any] = {"freq": freq}
    if "INTERVAL" in values:
        interval = values["INTERVAL"]
        if not interval.isdigit() or not 1 <= int(interval) <= MAX_INTERVAL:
            raise ScheduleError(f"INTERVAL must be 1-{MAX_INTERVAL}")
        fields["interval"] = int(interval)
    if "UNTIL" in values:
        fields["until"] = _until(values["UNTIL"])
    if "WKST" in values:
        if values["WKST"] not in WEEKDAYS:
            raise ScheduleError("WKST must be one of MO, TU, WE, TH, FR, SA, SU")
        fields["wkst"] = WEEKDAYS.index(values["WKST"])
    if "BYMONTH" in values:
        fields["bymonth"] = _ints("BYMONTH", values["BYMONTH"], 1, 12, signed=False)
    if "BYMONTHDAY" in values:
        fields["bymonthday"] = _ints("BYMONTHDAY", values["BYMONTHDAY"], 1, 31, signed=True)
    if "BYYEARDAY" in values:
        fields["byyearday"] = _ints("BYYEARDAY", values["BYYEARDAY"], 1, 366, signed=True)
    if "BYSETPOS" in values:
        positions = _ints("BYSETPOS", values["BYSETPOS"], 1, 366, signed=True)
        fields["bysetpos"] = tuple(sorted(positions))
    if "BYDAY" in values:
        fields["byweekday"], fields["bynweekday"] = _byday(values["BYDAY"], freq)
    elif "BYMONTHDAY" not in values and "BYYEARDAY" not in values:
        _default_from_dtstart(fields)
    return ";".join(parts), Rule(**fields)


def _default_from_dtstart(fields: dict[str, Any]) -> None:
    # A rule that names no day takes DTSTART's, as dateutil does: Monday, the 3rd, 3 January.
    if fields["freq"] == "WEEKLY":
        fields["byweekday"] = frozenset({ANCHOR.weekday()})
    elif fields["freq"] == "MONTHLY":
        fields["bymonthday"] = frozenset({ANCHOR.day})
    elif fields["freq"] == "YEARLY":
        fields.setdefault("bymonth", frozenset({ANCHOR.month}))
        fields["bymonthday"] = frozenset({ANCHOR.day})


def next_occurrence(rule: Rule, start: date, horizon_days: int = HORIZON_DAYS) -> date | None:
    """The first day on or after ``start`` and within ``horizon_days`` on which ``rule`` occurs.

    Walks the days the BY parts keep, a year table at a time, and never a period without one;
    with BYSETPOS, the kept days of each period are gathered and picked among once. So a rule
    that never occurs costs at most the horizon's year tables and one pass over their kept days.
    """
    begin = max(start, ANCHOR)
    end = min(start + timedelta(days=horizon_days), rule.until or date.max)
    if begin > end:
        return None
    if rule.bysetpos:
        # BYSETPOS picks among a whole period's kept days: gather from the first period's start
        # to the last one's end.
        scan_low = max(rule.period_days(rule.period_of(begin))[0], ANCHOR).toordinal()
        scan_high = rule.period_days(rule.period_of(end))[1].toordinal()
    else:
        scan_low, scan_high = begin.toordinal(), end.toordinal()
    low, high = begin.toordinal(), end.toordinal()
    week_zero = rule.period_days(0)[0].toordinal()
    current, gathered = -1, []
    for year in range(date.fromordinal(scan_low).year, date.fromordinal(scan_high).year + 1):
        table = _year(year)
        first = table.days[0][0]
        for n in sorted(rule.kept(year)):
            if not scan_low <= n <= scan_high:
                continue
            index = _period_index(rule, table.days[n - first], year, week_zero)
            if index % rule.interval:
                continue
            if not rule.bysetpos:
                return date.fromordinal(n)
            if index != current:
                found = _first_picked(rule, gathered, low, high)
                if found is not None:
                    return found
                current, gathered = index, []
            gathered.append(n)
    return _first_picked(rule, gathered, low, high)


def _period_index(rule: Rule, facts: _DayFacts, year: int, week_zero: int) -> int:
    if rule.freq == "DAILY":
        return facts[0] - ANCHOR.toordinal()
    if rule.freq == "WEEKLY":
        return (facts[0] - week_zero) // 7
    if rule.freq == "MONTHLY":
        return (year - ANCHOR.year) * 12 + facts[1] - 1
    return year - ANCHOR.year


def _pick(days: list[int], positions: tuple[int, ...]) -> list[int]:
    """BYSETPOS: the days at ``positions`` (1 is the first, -1 the last) of a period's days."""
    return sorted({days[p - 1 if p > 0 else p] for p in positions if _has(days, p)})


def _first_picked(rule: Rule, days: list[int], low: int, high: int) -> date | None:
    for n in _pick(days, rule.bysetpos):
        if low <= n <= high:
            return date.fromordinal(n)
    return None


def normalise_rrule(value: str, today: date | None = None) -> str:
    """Validate a rule given at the edge and return it in canonical form: ``parse_rule``, and
    the rule must occur between ``today`` (the cities' date by default) and ``HORIZON_DAYS``
    later, so a rule that never occurs again is refused rather than stored."""
    return _normalised(value, today or clock.local(clock.utcnow()).date())


@lru_cache(maxsize=4096)
def _normalised(value: str, start: date) -> str:
    # Per (rule, date): a city's spreadsheet repeats a handful of rules a million times. A
    # refusal raises, and lru_cache keeps no exceptions.
    canonical, rule = parse_rule(value)
    if next_occurrence(rule, start) is None:
        end = start + timedelta(days=HORIZON_DAYS)
        raise ScheduleError(f"never occurs between {start} and {end}")
    return canonical


@lru_cache(maxsize=4096)
def _readable(value: str) -> Rule | None:
    """A stored or replicated rule as a ``Rule``; ``None`` if it cannot be read."""
    try:
        return parse_rule(value)[1]
    except ScheduleError:
        return None


@lru_cache(maxsize=20_000)
def _occurrences(rule: Rule, index: int) -> tuple[date, ...]:
    return rule.occurrences(index)


@lru_cache(maxsize=200_000)
def occurs_on(value: str, day: date) -> bool:
    """Whether the rule has an occurrence on ``day`` (local date); ``False`` for a rule that
    cannot be read."""
    rule = _readable(value)
    if rule is None or day < ANCHOR or (rule.until is not None and day > rule.until):
        return False
    index = rule.period_of(day)
    if rule.bysetpos:
        return day in _occurrences(rule, index)
    return index % rule.interval == 0 and day.toordinal() in rule.kept(day.year)


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


def _readable_window(entry: Any) -> Window | None:
    try:
        built = window(entry)
    except (ScheduleError, KeyError, TypeError):
        return None
    return built if isinstance(built.rrule, str) else None


def readable_entries(entries: Any) -> list[dict]:
    """The entries of a stored schedule that evaluation can read (the others are never open)."""
    if not isinstance(entries, list):
        return []
    return [e for e in entries if _readable_window(e) and _readable(e["rrule"]) is not None]


def is_open_at(entries: list[dict], moment: datetime) -> bool:
    """Whether any of the entries is open at ``moment``; an entry that cannot be read never is."""
    if not isinstance(entries, list):
        return False
    for entry in entries:
        built = _readable_window(entry)
        if built is not None and built.is_open(moment):
            return True
    return False
