from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pioneer.schedule import ScheduleError, is_open_at, normalise_rrule

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
