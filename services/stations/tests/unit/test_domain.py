"""Stations' rules on plain data: no broker, no database."""

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from stations import domain

KEYS = {"k1": "first-secret-of-enough-length", "k2": "second-secret-of-enough-length"}
# A fixed moment on purpose: these rules take the time as an argument and read no clock.
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
ACTIVITY = "cixi-act-01JD0000000000000000000000"


def test_five_haves():
    all_five = dict.fromkeys(domain.FIVE_HAVES, True)
    assert domain.meets_standard(all_five)
    assert not domain.meets_standard({**all_five, "system": False})
    assert not domain.meets_standard({})
    assert domain.merge_standard({"venue": True}, {"team": True, "venue": None}) == {
        "venue": True,
        "identity": False,
        "team": True,
        "projects": False,
        "system": False,
    }


def test_genuine_code_names_its_activity():
    code = domain.sign_checkin_code(KEYS, "k1", ACTIVITY, NOW + timedelta(minutes=30))
    assert domain.verify_checkin_code(KEYS, code, NOW) == ACTIVITY
    assert len(code) < 200  # fits a QR code comfortably


def test_codes_expire():
    code = domain.sign_checkin_code(KEYS, "k1", ACTIVITY, NOW + timedelta(minutes=30))
    with pytest.raises(domain.CheckinCodeError, match="expired"):
        domain.verify_checkin_code(KEYS, code, NOW + timedelta(minutes=30))


def test_altered_codes_are_rejected():
    code = domain.sign_checkin_code(KEYS, "k1", ACTIVITY, NOW + timedelta(minutes=30))
    prefix, kid, payload, signature = code.split(".")
    other = domain.sign_checkin_code(
        KEYS, "k1", "cixi-act-01JD0000000000000000000001", NOW + timedelta(minutes=30)
    )
    tampered = [
        ".".join([prefix, kid, other.split(".")[2], signature]),  # payload of another activity
        ".".join([prefix, "k2", payload, signature]),  # key id swapped
        ".".join([prefix, kid, payload, signature[:-2] + "AA"]),  # signature changed
        code + "x",
        "PNR1.k1.e30.AAAA",
        "not-a-code-at-all",
    ]
    for bad in tampered:
        with pytest.raises(domain.CheckinCodeError):
            domain.verify_checkin_code(KEYS, bad, NOW)


def test_forged_code_with_a_guessed_key_is_rejected():
    forged = domain.sign_checkin_code(
        {"k1": "guessed-secret-guessed"}, "k1", ACTIVITY, NOW + timedelta(hours=1)
    )
    with pytest.raises(domain.CheckinCodeError, match="signature"):
        domain.verify_checkin_code(KEYS, forged, NOW)


def test_key_rotation():
    old = domain.sign_checkin_code(KEYS, "k1", ACTIVITY, NOW + timedelta(minutes=30))
    new = domain.sign_checkin_code(KEYS, "k2", ACTIVITY, NOW + timedelta(minutes=30))
    assert domain.verify_checkin_code(KEYS, old, NOW) == domain.verify_checkin_code(KEYS, new, NOW)
    retired = {"k2": KEYS["k2"]}
    with pytest.raises(domain.CheckinCodeError, match="unknown or retired"):
        domain.verify_checkin_code(retired, old, NOW)


def test_activity_hours():
    assert domain.activity_hours(NOW, NOW + timedelta(hours=2, minutes=30)) == 2.5


def test_nearby_ranking_filters_by_radius_and_hours_then_sorts():
    here = (30.2, 121.2)
    weekend = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
    rows = [
        SimpleNamespace(id="c", lat=30.2009, lon=121.2, opening_hours=[]),  # ~100 m, never open
        SimpleNamespace(id="a", lat=30.2045, lon=121.2, opening_hours=weekend),  # ~500 m
        SimpleNamespace(id="b", lat=30.2018, lon=121.2, opening_hours=weekend),  # ~200 m
        SimpleNamespace(id="far", lat=30.3, lon=121.2, opening_hours=weekend),  # ~11 km
    ]
    assert [x.row.id for x in domain.rank_nearby(rows, *here, 1000, None, 10)] == ["c", "b", "a"]
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=timezone(timedelta(hours=8)))  # a Saturday
    ranked = domain.rank_nearby(rows, *here, 1000, saturday_noon, 10)
    assert [x.row.id for x in ranked] == ["b", "a"]
    assert ranked[0].distance_m == pytest.approx(200, abs=5)
    assert len(domain.rank_nearby(rows, *here, 1000, None, 1)) == 1
