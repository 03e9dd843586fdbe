"""Notify's rules on plain values: quiet hours (with the wrap past midnight), scheduling, retry
backoff, the circle, who lost an offer, who reads which inbox, and words that carry no contact
details. Webhook URLs, addresses and signatures: ``test_webhook_rules``."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notify import domain, words
from pioneer import auth
from pioneer.backoff import backoff_s

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int = 0, day: int = 25) -> datetime:
    """A UTC instant at local ``hh:mm`` in Asia/Shanghai on 2026-11-``day``.

    Fixed on purpose: the rules under test take the time as an argument and read no clock,
    and the bodies they write show these dates."""
    return datetime(2026, 11, day, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "start", "end", "until"),
    [
        (at(12), "22:00", "07:00", None),  # outside a wrapping window
        (at(23), "22:00", "07:00", at(7, day=26)),  # evening part: ends tomorrow morning
        (at(22), "22:00", "07:00", at(7, day=26)),  # the start is inside
        (at(3), "22:00", "07:00", at(7)),  # morning part: ends today
        (at(7), "22:00", "07:00", None),  # the end is outside
        (at(13), "12:00", "14:00", at(14)),  # a daytime window
        (at(14), "12:00", "14:00", None),
        (at(11, 59), "12:00", "14:00", None),
        (at(23, 30), "23:00", "24:00", at(0, day=26)),  # up to the end of the day
        (at(10), "10:00", "10:00", None),  # equal ends: no quiet hours
        (at(10), None, None, None),
    ],
)
def test_quiet_hours(now, start, end, until):
    assert domain.quiet_until(now, start, end) == until


def test_schedule_holds_only_the_non_urgent_inside_quiet_hours():
    night = at(23)
    assert domain.schedule(night, False, "22:00", "07:00") == (at(7, day=26), at(7, day=26))
    assert domain.schedule(night, True, "22:00", "07:00") == (night, None)
    assert domain.schedule(at(12), False, "22:00", "07:00") == (at(12), None)
    assert domain.schedule(night, False, None, None) == (night, None)


def test_backoff_doubles_up_to_the_cap_and_dead_letters_after_the_last_attempt():
    assert [backoff_s(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert domain.next_step(1, True, 3) == "retry"
    assert domain.next_step(3, True, 3) == "dead"
    assert domain.next_step(1, False, 3) == "dead"
    assert [domain.retryable_status(s) for s in (500, 503, 408, 429, 400, 404, 410)] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip


def test_within_circle_keeps_each_volunteer_once_inside_the_radius():
    lat, lon = 30.2113, 121.4398
    candidates = [
        ("a", lat, lon),
        ("a", lat, lon),  # one row per skill: the same volunteer twice
        ("b", lat + 0.02, lon),  # ~2.2 km north
        ("c", lat + 0.03, lon),  # ~3.3 km north
    ]
    chosen = dict(domain.within_circle(candidates, lat, lon, 2500))
    assert set(chosen) == {"a", "b"} and chosen["a"] == 0
    assert 2000 < chosen["b"] < 2500


def test_who_lost_an_offer():
    held = [domain.HeldOffer("a", 2), domain.HeldOffer("b", 2), domain.HeldOffer("c", 3)]
    # A timeout moved the request on to c: a and b timed out.
    assert domain.lost_offers(held, "request_dispatched", 3, ["c"], None) == [
        ("a", "timed_out"),
        ("b", "timed_out"),
    ]
    # b accepted: the others lost it to b; b's own act is not a loss.
    assert domain.lost_offers(held, "request_accepted", 4, [], "b") == [
        ("a", "taken_by_another"),
        ("c", "taken_by_another"),
    ]
    assert domain.lost_offers(held, "request_cancelled", 4, [], None)[0] == (
        "a",
        "request_cancelled",
    )
    assert domain.lost_offers(held, "request_unassigned", 4, [], None)[2] == ("c", "timed_out")
    # A decline ends only the decliner's offer, by its own act.
    assert domain.lost_offers(held, "request_declined", 3, ["b"], "a") == []
    assert domain.offer_closed_by_own_act("request_declined", "a") == "a"
    assert domain.offer_closed_by_own_act("request_dispatched", None) is None
    # An event no newer than the offer (the same dispatch again) ends nothing.
    assert domain.lost_offers(held, "request_dispatched", 2, [], None) == []


def caller(role: str, city: str = "cixi", sub: str = "someone") -> auth.Caller:
    return auth.Caller(sub=sub, city=city, roles=frozenset({role}))


def test_who_reads_and_changes_which_inbox():
    me = "cixi-vol-01JD0000000000000000000000"
    assert domain.may_read(caller("volunteer", sub=me), me)
    assert not domain.may_read(caller("volunteer", sub="cixi-vol-other"), me)
    assert not domain.may_read(caller("volunteer", sub=me), "admins:cixi")
    assert domain.may_read(caller("admin"), me) and domain.may_read(caller("ops"), "admins:cixi")
    assert domain.may_read(caller("admin", city="*"), "admins:haining")
    assert not domain.may_read(caller("admin", city="haining"), me)
    assert not domain.may_read(caller("dispatcher"), me)
    assert domain.may_change(caller("volunteer", sub=me), me)
    assert domain.may_change(caller("admin"), "admins:cixi")
    assert not domain.may_change(caller("ops"), me)
    assert domain.recipient_city("admins:jiaxing") == "jiaxing"
    assert domain.recipient_city(me) == "cixi"
    assert domain.admins_inbox("cixi") == "admins:cixi"
    assert domain.valid_recipient(me) and domain.valid_recipient("admins:cixi")
    assert not domain.valid_recipient("admins:") and not domain.valid_recipient("x" * 100)


def test_the_inbox_is_always_on_and_channels_come_in_one_order():
    assert domain.effective_channels(None) == ["inbox"]
    assert domain.effective_channels(["wechat", "webhook"]) == ["inbox", "webhook", "wechat"]
    assert domain.effective_channels(["inbox", "sms"]) == ["inbox", "sms"]


def test_words_come_from_safe_fields_only():
    deadline = at(18, day=28)
    published = words.wish_published_words("想要一副老花镜", "居家养老", deadline, 1234)
    assert "老花镜" in published.title and "1.2 公里" in published.body
    assert "2026-11-28 18:00" in published.body
    long = words.wish_published_words("字" * 300, "居家养老", deadline, 10)
    assert len(long.title) == 200
    claimed = words.wish_claimed_words("老花镜", "cixi-vol-1")
    assert "cixi-vol-1" in claimed.body
    for reason in ("timed_out", "taken_by_another", "request_cancelled", "request_closed"):
        assert words.offer_ended_words("水电维修", reason).body
    assert "特急" in words.offer_words("水电维修", "emergency").title
    suspended = words.volunteer_words("volunteer_suspended", at(9, day=30))
    assert "2026-11-30 09:00" in suspended.body
    redeemed = words.redemption_words("环保袋", 2, 30, 70)
    assert redeemed.title.endswith("环保袋 × 2") and "30" in redeemed.body and "70" in redeemed.body
    # The functions take no free text a resident gave (beneficiary, requester, reasons): the
    # signatures are the guarantee, checked here so a new parameter is a conscious change.
    import inspect

    for fn in (
        words.wish_published_words,
        words.wish_claimed_words,
        words.offer_words,
        words.offer_ended_words,
        words.volunteer_words,
        words.redemption_words,
    ):
        names = set(inspect.signature(fn).parameters)
        assert not names & {"beneficiary", "requester", "phone", "address", "name", "description"}
