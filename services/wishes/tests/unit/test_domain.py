"""Wishes' rules on plain data: no broker, no database."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from wishes import domain

# A fixed moment on purpose: these rules take the time as an argument and read no clock.
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

# Every (state, action) pair the machine allows, and where it leads.
ALLOWED = {
    ("submitted", "approve"): "published",
    ("submitted", "reject"): "rejected",
    ("submitted", "cancel"): "cancelled",
    ("published", "claim"): "claimed",
    ("published", "cancel"): "cancelled",
    ("published", "expire"): "expired",
    ("claimed", "release"): "published",
    ("claimed", "fulfill"): "fulfilled",
    ("claimed", "cancel"): "cancelled",
    ("fulfilled", "confirm"): "closed",
}


@pytest.mark.parametrize("status", domain.STATUSES)
@pytest.mark.parametrize("action", sorted(domain.TRANSITIONS))
def test_every_transition(status, action):
    if (status, action) in ALLOWED:
        assert domain.transition(status, action) == ALLOWED[(status, action)]
    else:
        with pytest.raises(domain.TransitionNotAllowed):
            domain.transition(status, action)


def test_final_states_allow_nothing():
    for status in domain.FINAL:
        assert not any(status in domain.sources(action) for action in domain.TRANSITIONS)


def test_every_action_publishes_an_event():
    assert set(domain.EVENTS) == set(domain.TRANSITIONS)
    assert domain.EVENTS["confirm"] == "wish_closed"
    assert domain.EVENTS["approve"] == "wish_published"


def test_refusals_say_why():
    assert domain.refusal("claimed", "claim") == "wish is already claimed"
    assert domain.refusal("closed", "cancel") == "a closed wish cannot be cancelled"
    assert domain.review_action(True) == "approve" and domain.review_action(False) == "reject"


def test_deadlines():
    assert domain.check_deadline(NOW + timedelta(days=3), NOW) is None
    assert domain.check_deadline(NOW, NOW) == "must be in the future"
    assert domain.check_deadline(NOW - timedelta(seconds=1), NOW) == "must be in the future"
    assert domain.check_deadline(NOW + timedelta(days=400), NOW) == "must be within a year"
    assert domain.is_overdue("published", NOW, NOW)
    assert not domain.is_overdue("published", NOW + timedelta(seconds=1), NOW)
    assert not domain.is_overdue("claimed", NOW - timedelta(days=1), NOW)


def test_who_sees_the_beneficiary():
    def sees(admin=False, caller=None, claimed_by=None, status="claimed"):
        return domain.sees_beneficiary(
            is_city_admin=admin, caller_volunteer=caller, claimed_by=claimed_by, status=status
        )

    assert sees(admin=True, status="submitted")
    assert sees(caller="v1", claimed_by="v1")
    assert sees(caller="v1", claimed_by="v1", status="fulfilled")
    assert not sees(caller="v2", claimed_by="v1")
    assert not sees(caller=None, claimed_by=None, status="published")
    assert not sees(caller="v1", claimed_by="v1", status="cancelled")


def test_rank_nearby_orders_and_resumes():
    here = (30.0, 121.0)
    rows = [
        SimpleNamespace(id="c", lat=30.001, lon=121.0),  # ~111 m
        SimpleNamespace(id="a", lat=30.01, lon=121.0),  # ~1.1 km
        SimpleNamespace(id="b", lat=30.001, lon=121.0),  # same as c
        SimpleNamespace(id="far", lat=30.2, lon=121.0),  # ~22 km
    ]
    ranked = domain.rank_nearby(rows, *here, 2000)
    assert [wid for _, wid in ranked] == ["b", "c", "a"]
    assert domain.rank_nearby(rows, *here, 2000, after=list(ranked[0])) == ranked[1:]
    assert domain.rank_nearby(rows, *here, 50) == []


# --- service requests ---------------------------------------------------------------------------

REQUEST_ALLOWED = {
    ("new", "offer"): "dispatched",
    ("dispatched", "offer"): "dispatched",
    ("new", "exhaust"): "unassigned",
    ("dispatched", "exhaust"): "unassigned",
    ("dispatched", "accept"): "accepted",
    ("accepted", "complete"): "completed",
    ("completed", "rate"): "closed",
    ("new", "cancel"): "cancelled",
    ("dispatched", "cancel"): "cancelled",
    ("accepted", "cancel"): "cancelled",
    ("unassigned", "cancel"): "cancelled",
}


@pytest.mark.parametrize("status", domain.REQUEST_STATUSES)
@pytest.mark.parametrize("action", sorted(domain.REQUEST_TRANSITIONS))
def test_every_request_transition(status, action):
    if (status, action) in REQUEST_ALLOWED:
        assert domain.request_transition(status, action) == REQUEST_ALLOWED[(status, action)]
    else:
        with pytest.raises(domain.TransitionNotAllowed, match=f"that is {status} cannot be"):
            domain.request_transition(status, action)


def test_every_request_action_publishes_an_event():
    assert set(domain.REQUEST_EVENTS) == set(domain.REQUEST_TRANSITIONS)
    assert domain.REQUEST_EVENTS["complete"] == "request_completed"
    assert domain.REQUEST_EVENTS["exhaust"] == "request_unassigned"


def test_service_circle_and_offers_at_once():
    assert domain.service_circle_m(10, 15) == 2500
    assert domain.service_circle_m(15, 12) == 3000
    assert domain.offers_at_once("normal") == domain.offers_at_once("urgent") == 1
    assert domain.offers_at_once("emergency") == 3


def test_choose_candidates_nearest_inside_the_circle_not_excluded():
    def volunteer(vid, metres):
        return SimpleNamespace(volunteer_id=vid, lat=30.0 + metres / 111_195, lon=121.0)

    rows = [
        volunteer("far", 3000),
        volunteer("b", 200),
        volunteer("a", 200),
        volunteer("tried", 10),
        volunteer("c", 900),
        volunteer("b", 200),  # a volunteer found in two cells counts once
    ]
    chosen = domain.choose_candidates(rows, 30.0, 121.0, 2500, {"tried"}, 3)
    assert [row.volunteer_id for _, row in chosen] == ["a", "b", "c"]
    assert chosen[0][0] == pytest.approx(200, abs=1)
    assert [
        r.volunteer_id for _, r in domain.choose_candidates(rows, 30.0, 121.0, 2500, set(), 1)
    ] == ["tried"]
    assert domain.choose_candidates(rows, 30.0, 121.0, 5, {"tried"}, 3) == []


def test_dispatch_searches_the_circle_from_the_inside_out():
    assert domain.first_dispatch_radius(2500) == 300
    assert domain.first_dispatch_radius(200) == 200  # a circle smaller than the first step
    # Done once a circle holds the wanted, or the whole service circle was searched.
    assert domain.next_dispatch_radius(300, 1, 1, 2500) is None
    assert domain.next_dispatch_radius(2500, 0, 1, 2500) is None
    # Nobody yet: four times wider; some of three: by the area still missing (with a margin).
    assert domain.next_dispatch_radius(300, 0, 1, 2500) == 1200
    assert domain.next_dispatch_radius(300, 2, 3, 2500) == pytest.approx(300 * 1.5**0.5 * 1.3)
    assert domain.next_dispatch_radius(300, 1, 3, 2500) == pytest.approx(300 * 3**0.5 * 1.3)
    # Never past the service circle, and it always ends there.
    radii, searched = [], domain.first_dispatch_radius(2500)
    while searched is not None:
        radii.append(searched)
        searched = domain.next_dispatch_radius(searched, 0, 1, 2500)
    assert radii == [300, 1200, 2500]


def test_who_sees_the_requester():
    assert domain.sees_requester(is_city_staff=True, caller_volunteer=None, assigned_to=None)
    assert domain.sees_requester(is_city_staff=False, caller_volunteer="v1", assigned_to="v1")
    assert not domain.sees_requester(is_city_staff=False, caller_volunteer="v2", assigned_to="v1")
    assert not domain.sees_requester(is_city_staff=False, caller_volunteer=None, assigned_to=None)
