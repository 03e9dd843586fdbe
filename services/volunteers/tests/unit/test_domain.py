"""Volunteers' rules on plain data: no broker, no database."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from pioneer import geo
from volunteers import domain, presenters
from volunteers.domain import Standing

# A fixed moment on purpose: these rules take the time as an argument and read no clock.
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
ACTIVE = Standing("active", None, 0)


def test_ladder_warning_yellow_red():
    first = domain.uphold(ACTIVE, NOW)
    assert first.level == "warning" and first.event_type == "volunteer_suspended"
    assert first.standing == Standing("suspended", NOW + timedelta(days=30), 1)

    later = NOW + timedelta(days=40)
    back = domain.reinstate(first.standing)
    assert back == Standing("active", None, 1)  # cards stay after a suspension ends
    second = domain.uphold(back, later)
    assert second.level == "yellow_card"
    assert second.standing == Standing("suspended", later + timedelta(days=90), 2)

    third = domain.uphold(second.standing, later)
    assert third.level == "red_card" and third.event_type == "volunteer_removed"
    assert third.standing == Standing("removed", None, 3)


def test_removed_is_final():
    removed = Standing("removed", None, 3)
    with pytest.raises(domain.TransitionError, match="already been removed"):
        domain.uphold(removed, NOW)
    with pytest.raises(domain.TransitionError, match="removed, not suspended"):
        domain.reinstate(removed)


def test_reinstating_needs_a_suspension():
    with pytest.raises(domain.TransitionError, match="active, not suspended"):
        domain.reinstate(ACTIVE)


def test_a_second_card_while_suspended_never_shortens_the_suspension():
    # Upheld while a long suspension runs: 90 days from now is later, so it wins.
    running = Standing("suspended", NOW + timedelta(days=5), 1)
    assert domain.uphold(running, NOW).standing.suspended_until == NOW + timedelta(days=90)
    # A (hypothetical) longer suspension already running is kept.
    long_running = Standing("suspended", NOW + timedelta(days=200), 1)
    assert domain.uphold(long_running, NOW).standing.suspended_until == NOW + timedelta(days=200)


def test_suspension_due():
    suspended = Standing("suspended", NOW, 1)
    assert domain.suspension_due(suspended, NOW)
    assert not domain.suspension_due(suspended, NOW - timedelta(seconds=1))
    assert not domain.suspension_due(ACTIVE, NOW)
    assert not domain.suspension_due(Standing("removed", None, 3), NOW)


def test_complaints_are_decided_once():
    domain.decide("open")
    for decided in ("upheld", "dismissed"):
        with pytest.raises(domain.TransitionError, match=f"already {decided}"):
            domain.decide(decided)


def test_phones_masked_but_for_admins():
    assert presenters.shown_phone("13812345678", admin=False) == "138****5678"
    assert presenters.shown_phone("13812345678", admin=True) == "13812345678"


def _row(id_: str, lat: float, lon: float, availability=None):
    return SimpleNamespace(id=id_, lat=lat, lon=lon, availability=availability or [])


def test_measure_filters_radius_cursor_and_availability():
    lat, lon = 30.0, 121.0
    weekends = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
    rows = [
        _row("c", lat + 0.002, lon),  # ~222 m
        _row("a", lat + 0.001, lon, weekends),  # ~111 m
        _row("b", lat + 0.001, lon),  # same distance as a: id breaks the tie
        _row("far", lat + 0.05, lon),  # ~5.5 km
        SimpleNamespace(id="nowhere", lat=None, lon=None, availability=[]),
    ]
    found = domain.measure(rows, lat, lon, 1000, None, None)
    assert [f.id for f in found] == ["a", "b", "c"]
    assert found[0].distance_m == pytest.approx(geo.distance_m(lat, lon, lat + 0.001, lon), abs=0.1)
    after = (found[0].distance_m, "a")
    assert [f.id for f in domain.measure(rows, lat, lon, 1000, after, None)] == ["b", "c"]
    saturday = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # a Saturday, 10:00 in Shanghai
    assert [f.id for f in domain.measure(rows, lat, lon, 1000, None, saturday)] == ["a"]


def test_radius_growth():
    assert domain.first_radius(None, 20, 50_000) == domain.FIRST_RADIUS_M + 20
    assert domain.first_radius(1000, 20, 50_000) == 1500
    assert domain.first_radius(None, 20, 100) == 100  # never past the caller's radius
    assert domain.next_radius(1000, 0, 21, 50_000) == 4000
    assert domain.next_radius(1000, 20, 21, 50_000) == 1500  # nearly there: grow a little
    assert domain.next_radius(1000, 1, 100, 2000) == 2000
