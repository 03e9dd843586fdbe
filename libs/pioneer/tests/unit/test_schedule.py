import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from pioneer import schedule
from pioneer.schedule import ScheduleError, is_open_at, normalise_rrule, parse_rule

SH = ZoneInfo("Asia/Shanghai")
# The moments below are fixed on purpose: each is a known weekday or week of the calendar, and
# is_open_at takes the moment as an argument and reads no clock.
# "Tue and Thu afternoons and weekends" (Cixi, Longshan Fangjiahetou station)
CIXI = [
    {"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "start": "13:30", "end": "17:00"},
    {"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"},
]


@pytest.mark.parametrize(
    "moment, expected",
    [
        (datetime(2026, 11, 24, 14, 0, tzinfo=SH), True),  # Tuesday afternoon
        (datetime(2026, 11, 24, 12, 0, tzinfo=SH), False),  # Tuesday morning
        (datetime(2026, 11, 24, 17, 0, tzinfo=SH), False),  # closing time is exclusive
        (datetime(2026, 11, 25, 14, 0, tzinfo=SH), False),  # Wednesday
        (datetime(2026, 11, 28, 8, 0, tzinfo=SH), True),  # Saturday opening
        (datetime(2026, 11, 24, 6, 0, tzinfo=ZoneInfo("UTC")), True),  # 14:00 in Shanghai
    ],
)
def test_cixi_station_opening_hours(moment, expected):
    assert is_open_at(CIXI, moment) is expected


def test_overnight_window_runs_into_the_next_day():
    night_market = [{"rrule": "FREQ=WEEKLY;BYDAY=FR", "start": "20:00", "end": "02:00"}]
    assert is_open_at(night_market, datetime(2026, 11, 27, 23, 0, tzinfo=SH))  # Friday night
    assert is_open_at(
        night_market, datetime(2026, 11, 28, 1, 30, tzinfo=SH)
    )  # small hours of Saturday
    assert not is_open_at(night_market, datetime(2026, 11, 28, 2, 0, tzinfo=SH))
    assert not is_open_at(
        night_market, datetime(2026, 11, 27, 1, 0, tzinfo=SH)
    )  # Friday small hours


def test_monthly_and_interval_rules():
    first_saturday = [{"rrule": "FREQ=MONTHLY;BYDAY=1SA", "start": "09:00", "end": "11:00"}]
    assert is_open_at(first_saturday, datetime(2026, 11, 7, 10, 0, tzinfo=SH))
    assert not is_open_at(first_saturday, datetime(2026, 11, 14, 10, 0, tzinfo=SH))
    fortnightly = [{"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "start": "09:00", "end": "10:00"}]
    # Anchor Monday 2000-01-03; 2026-11-30 is 1404 weeks later (even), 2026-11-23 is 1403 (odd).
    assert is_open_at(fortnightly, datetime(2026, 11, 30, 9, 30, tzinfo=SH))
    assert not is_open_at(fortnightly, datetime(2026, 11, 23, 9, 30, tzinfo=SH))


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "BYDAY=MO",
        "FREQ=WEEKLY;BYHOUR=9",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;FREQ=DAILY",
        "",
        "FREQ=WEEKLY;" + "BYDAY=MO;" * 40,
        "DTSTART:20260101T000000",
        "FREQ=WEEKLY;BYDAY=MO\nRRULE:FREQ=DAILY",
        "'; DROP TABLE stations;--",
    ],
)
def test_bad_rules_are_refused(rule):
    with pytest.raises(ScheduleError):
        normalise_rrule(rule)


def test_rules_are_normalised():
    assert normalise_rrule("rrule:freq=weekly;byday=tu,th") == "FREQ=WEEKLY;BYDAY=TU,TH"


# --- bounded evaluation ------------------------------------------------------------------------

TODAY = date(2026, 12, 1)  # the edge's horizon counts from here (passed in: no clock is read)

# Rules dateutil cannot evaluate in bounded time, or never occurs, or that cannot be read.
HOSTILE = [
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
    ("FREQ=WEEKLY;INTERVAL=-1", "INTERVAL"),
    ("FREQ=MONTHLY;INTERVAL=1001", "INTERVAL"),
    ("FREQ=DAILY;COUNT=0", "COUNT"),
    ("FREQ=WEEKLY;COUNT=10", "COUNT"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
    ("FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31", "never occurs"),
    ("FREQ=MONTHLY;BYDAY=6MO", "never occurs"),
    ("FREQ=MONTHLY;BYDAY=20WE", "never occurs"),  # dateutil raises IndexError on this one
    ("FREQ=YEARLY;BYDAY=MO,1TU", "never occurs"),  # both parts filter: never a Monday and Tuesday
    ("FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2", "never occurs"),
    ("FREQ=DAILY;UNTIL=20200101", "never occurs"),
    ("FREQ=DAILY;INTERVAL=1000;UNTIL=20270101", "never occurs"),
    ("FREQ=DAILY;UNTIL=20261231T000000Z", "local time"),
    ("FREQ=DAILY;UNTIL=20261332", "valid date"),
    ("FREQ=YEARLY;BYWEEKNO=1", "BYWEEKNO"),
    ("FREQ=YEARLY;BYEASTER=0", "BYEASTER"),
    ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
    ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
    ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY"),
    ("FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
    ("FREQ=MONTHLY;BYDAY=0MO", "ordinals"),
    ("FREQ=MONTHLY;BYSETPOS=0;BYDAY=MO", "BYSETPOS"),
    ("FREQ=WEEKLY;WKST=XX", "WKST"),
    ("FREQ=WEEKLY;BYFOO=1", "unknown part"),
    ("FREQ=DAILY;BYMONTHDAY=" + ",".join(["99999"] * 50), "longer than"),
]


@pytest.mark.parametrize("rule, reason", HOSTILE)
def test_hostile_rules_are_refused_at_the_edge_with_a_reason(rule, reason):
    with pytest.raises(ScheduleError) as refused:
        normalise_rrule(rule, today=TODAY)
    assert reason in str(refused.value)


def test_sparse_but_real_rules_are_accepted():
    # Feb 29 occurs within the horizon; so do a far interval and a rule ending next year.
    for rule in (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;INTERVAL=1000",
        "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231",
        "FREQ=YEARLY;BYMONTH=2;BYDAY=5SU",  # a fifth Sunday of February: 2032
    ):
        assert normalise_rrule(rule, today=TODAY) == rule


def test_a_peers_rule_gets_the_structural_check_but_not_the_horizon():
    canonical, _ = parse_rule("freq=daily;until=20200101")
    assert canonical == "FREQ=DAILY;UNTIL=20200101"  # over, but evaluable: stored, never open
    with pytest.raises(ScheduleError):
        parse_rule("FREQ=DAILY;INTERVAL=0")


GARBAGE_ENTRIES = [
    *({"rrule": rule, "start": "00:00", "end": "23:59"} for rule, _ in HOSTILE),
    {"rrule": "FREQ=DAILY", "start": "8am", "end": "23:59"},
    {"rrule": "FREQ=DAILY", "start": "00:00"},
    {"rrule": ["FREQ=DAILY"], "start": "00:00", "end": "23:59"},
    {"rrule": None, "start": "00:00", "end": "23:59"},
    "FREQ=DAILY",
    None,
    ["FREQ=DAILY", "00:00", "23:59"],
]


def test_entries_stored_earlier_answer_not_open_within_two_year_tables():
    """A rule or entry that slipped in earlier is never open and costs at most the tables of
    the day asked and the day before (so, a year's days), whatever it says."""
    moment = datetime(2026, 12, 5, 10, 0, tzinfo=SH)
    for entry in GARBAGE_ENTRIES:
        schedule._kept.cache_clear()
        schedule.occurs_on.cache_clear()
        assert is_open_at([entry], moment) is False
        assert schedule._kept.cache_info().misses <= 2
    assert is_open_at(GARBAGE_ENTRIES, moment) is False
    assert is_open_at("not a list", moment) is False  # type: ignore[arg-type]
    assert schedule.readable_entries([GARBAGE_ENTRIES[-1], *CIXI]) == CIXI


def test_the_edge_check_reads_at_most_the_horizons_years():
    for rule, _ in HOSTILE:
        try:
            _, parsed = parse_rule(rule)
        except ScheduleError:
            continue
        schedule._kept.cache_clear()
        assert schedule.next_occurrence(parsed, TODAY) is None
        assert schedule._kept.cache_info().misses <= schedule.HORIZON_DAYS // 365 + 1


def _generated_rule(rng: random.Random) -> str:
    freq = rng.choice(("DAILY", "WEEKLY", "MONTHLY", "YEARLY"))
    parts = [f"FREQ={freq}"]
    if rng.random() < 0.4:
        parts.append(f"INTERVAL={rng.randint(1, 5)}")
    if rng.random() < 0.2:
        parts.append(f"WKST={rng.choice(schedule.WEEKDAYS)}")
    if rng.random() < 0.4:
        parts.append("BYMONTH=" + ",".join(str(rng.randint(1, 12)) for _ in range(2)))
    if rng.random() < 0.5:
        days = []
        for _ in range(rng.randint(1, 3)):
            ordinal = rng.choice(["", "", "1", "2", "-1", "-2", "4"])
            days.append(ordinal + rng.choice(schedule.WEEKDAYS))
        parts.append("BYDAY=" + ",".join(days))
    if rng.random() < 0.3:
        parts.append("BYMONTHDAY=" + ",".join(rng.sample(["1", "15", "29", "30", "31", "-1"], 2)))
    if rng.random() < 0.15:
        parts.append("BYYEARDAY=" + rng.choice(["1", "60", "366", "-1", "100,200"]))
    if rng.random() < 0.25:
        parts.append("BYSETPOS=" + rng.choice(["1", "-1", "2", "1,-1", "3"]))
    if rng.random() < 0.15:
        parts.append(f"UNTIL={rng.randint(2024, 2028)}{rng.randint(1, 12):02d}15")
    return ";".join(parts)


def test_evaluation_agrees_with_dateutil_on_generated_rules():
    """The period-at-a-time evaluation against dateutil's own iteration, day by day over two
    years, for a few hundred generated rules that occur (dateutil cannot be asked about the
    others in bounded time)."""
    rng = random.Random(20261201)
    low = datetime(2025, 6, 1)
    compared = 0
    while compared < 200:
        text = _generated_rule(rng)
        canonical, rule = parse_rule(text)
        if schedule.next_occurrence(rule, low.date(), 1200) is None:
            continue
        high = low + timedelta(days=730)
        expected = {
            d.date() for d in rrulestr(text, dtstart=datetime(2000, 1, 3)).between(low, high, True)
        }
        got = {
            low.date() + timedelta(days=i)
            for i in range(731)
            if schedule.occurs_on(canonical, low.date() + timedelta(days=i))
        }
        assert got == expected, text
        compared += 1
