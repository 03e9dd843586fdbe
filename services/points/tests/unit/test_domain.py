"""The pure rules: what work earns, its business keys, periods, ranking and settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from points import domain
from points.settings import PointsSettings

RULES = domain.EarningRules(wish_closed=10, request_completed=8, top_rating=5, top_rating_bonus=3)


def test_checkin_earns_what_the_activity_says_once_per_activity_and_volunteer():
    earned = domain.checkin_credit("cixi-act-1", "cixi-vol-1", 5, 2.5)
    assert (earned.kind, earned.delta, earned.hours, earned.activities) == ("checkin", 5, 2.5, 1)
    assert earned.source_key == "checkin:cixi-act-1:cixi-vol-1"
    assert domain.checkin_credit("cixi-act-1", "cixi-vol-2", 5, 2.5).source_key != (
        earned.source_key
    )
    # Negative amounts from a broken producer never take points away.
    assert domain.checkin_credit("a", "v", -3, -1.0).delta == 0


def test_wishes_requests_and_the_top_rating_bonus():
    wish = domain.wish_credit("cixi-wish-1", RULES)
    assert (wish.delta, wish.wishes, wish.source_key) == (10, 1, "wish:cixi-wish-1")
    request = domain.request_credit("cixi-req-1", RULES)
    assert (request.delta, request.requests, request.source_key) == (8, 1, "request:cixi-req-1")
    bonus = domain.rating_bonus("cixi-req-1", 5, RULES)
    assert bonus is not None and (bonus.delta, bonus.source_key) == (3, "rating:cixi-req-1")
    assert domain.rating_bonus("cixi-req-1", 4, RULES) is None
    assert domain.rating_bonus("cixi-req-1", None, RULES) is None
    no_bonus = domain.EarningRules(10, 8, 5, 0)
    assert domain.rating_bonus("cixi-req-1", 5, no_bonus) is None
    assert len({wish.source_key, request.source_key, bonus.source_key}) == 3


def test_redemptions_and_reversals_have_distinct_keys_and_do_not_rank():
    assert domain.redemption_key("r") != domain.reversal_key("r")
    assert not domain.counts_for_ranking(domain.REDEEM)
    assert not domain.counts_for_ranking(domain.REVERSE)
    assert domain.counts_for_ranking(domain.ADJUST) and domain.counts_for_ranking(domain.CHECKIN)
    assert {domain.EVENT_OF_KIND[k] for k in domain.KINDS} == {
        "points_awarded",
        "points_redeemed",
        "points_reversed",
    }


def test_periods_are_in_the_cities_time_zone():
    # 2025-12-31 17:30 UTC is already 2026-01-01 01:30 in Asia/Shanghai.
    assert domain.periods_of(datetime(2025, 12, 31, 17, 30, tzinfo=UTC)) == (
        "all",
        "2026",
        "2026-01",
    )
    assert domain.periods_of(datetime(2026, 3, 5, 2, 0, tzinfo=UTC)) == ("all", "2026", "2026-03")
    for good in ("all", "2026", "2026-01", "2026-12"):
        assert domain.is_period(good)
    for bad in ("", "ALL", "26", "2026-13", "2026-1", "2026-00", "2026/01", "2026-01-01"):
        assert not domain.is_period(bad)


def test_competition_ranking_ties_share_a_rank():
    assert list(domain.competition_ranks([9, 7, 7, 5, 5, 5, 1])) == [1, 2, 2, 4, 4, 4, 7]
    assert list(domain.competition_ranks([])) == []
    # Continuing a page: the previous page ended at position 3 with 7 points, rank 2.
    assert list(domain.competition_ranks([7, 5, 5], 4, (7, 2))) == [2, 5, 5]
    assert list(domain.competition_ranks([4], 4, (7, 2))) == [4]


def test_balance_never_below_zero():
    assert domain.balance_after(10, -10) == 0
    assert domain.balance_after(10, -11) is None
    assert domain.balance_after(0, 5) == 5


def base_settings(**extra):
    return {
        "AMQP_URI": "amqp://guest:guest@localhost:5672/",
        "CITIES": "cixi,haining",
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "s" * 32,
        **extra,
    }


def test_earning_rules_per_city():
    settings = PointsSettings.model_validate(
        base_settings(EARNING_RULES={"haining": {"wish_closed": 20, "top_rating_bonus": 0}})
    )
    assert settings.rules("cixi") == domain.EarningRules(10, 10, 5, 5)
    assert settings.rules("haining") == domain.EarningRules(20, 10, 5, 0)
    with pytest.raises(ValueError):
        PointsSettings.model_validate(base_settings(EARNING_RULES={"haining": {"wish": 1}}))
    with pytest.raises(ValueError):
        PointsSettings.model_validate(base_settings(TOP_RATING=6))
    # The config file's default (the variable unset) means no overrides.
    assert PointsSettings.model_validate(base_settings(EARNING_RULES="")).EARNING_RULES == {}
