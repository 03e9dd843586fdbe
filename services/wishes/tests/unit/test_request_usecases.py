"""Service requests' use cases on a fake unit of work and store: dispatch to the nearest
eligible volunteers inside the circle, declines, timeouts, busy volunteers, emergencies, the
rest of the lifecycle, and that a refusal writes nothing. No broker, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from wishes_fakes import FakeWishesStore
from wishes_testdata import FANGJIAHETOU, request_data

from pioneer import auth, clock, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, NotFound, Suspended, ValidationError
from pioneer.testing.fakes import FakeUnitOfWork
from wishes.schemas import CompletionIn, RatingIn, RequestIn
from wishes.usecases import requests
from wishes.usecases.requests import Dispatch

CATALOG = Catalog()
ADMIN = auth.Caller("test-admin", "cixi", frozenset({auth.ADMIN}))
OPS = auth.Caller("test-ops", "cixi", frozenset({auth.OPS}))


class Unassigned(list):
    """What the metric would count: ``(request_id, city)`` of each request left unassigned."""

    def __call__(self, request_id: str, city: str) -> None:
        self.append((request_id, city))


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeWishesStore())


@pytest.fixture
def told():
    return Unassigned()


@pytest.fixture
def dispatch(told):
    # Ten minutes at 15 km/h: a 2.5 km circle; offers wait two minutes.
    return Dispatch(lambda city: (10, 15), 120, told)


def at(metres_north):
    return (FANGJIAHETOU["lat"] + metres_north / 111_195, FANGJIAHETOU["lon"])


def enrol(uow, metres=None, skills=("repair",), status="active", city="cixi"):
    location = None if metres is None else at(metres)
    return uow.store.enrol(ids.new_id(city, "vol"), status, skills, location)


@pytest.fixture
def crew(uow):
    """Two repairers inside the circle, one outside, a haircutter, a suspended repairer and
    one without a location."""
    return {
        "near": enrol(uow, 100),
        "further": enrol(uow, 300, skills=("repair", "haircut"), city="haining"),
        "outside": enrol(uow, 5000),
        "barber": enrol(uow, 50, skills=("haircut",)),
        "suspended": enrol(uow, 10, status="suspended"),
        "nowhere": enrol(uow),
    }


def raised(uow, dispatch, **overrides):
    request = RequestIn.model_validate(request_data(**overrides))
    return requests.raise_request(uow, CATALOG, dispatch, ADMIN, request)


def outcomes(request):
    return [(a.volunteer_id, a.outcome) for a in request.attempts]


def test_offered_to_the_nearest_then_accepted_completed_rated(uow, dispatch, crew):
    made = raised(uow, dispatch)
    assert made.status == "dispatched" and made.offered_to == crew["near"]
    assert outcomes(made) == [(crew["near"], "offered")]
    assert made.requester is not None  # a city admin sees the caller
    me = auth.Caller(crew["near"], "cixi", frozenset({auth.VOLUNTEER}))
    assert requests.get_request(uow, me, made.id).requester is None  # not assigned yet
    accepted = requests.accept_request(uow, me, made.id, crew["near"])
    assert accepted.status == "accepted" and accepted.assigned_to == crew["near"]
    assert accepted.offered_to is None and accepted.requester is not None
    done = requests.complete_request(uow, ADMIN, made.id, crew["near"], CompletionIn(note="好"))
    assert done.status == "completed" and done.completion_note == "好"
    rated = requests.rate_request(uow, ADMIN, made.id, RatingIn(rating=5, feedback="快"))
    assert rated.status == "closed" and rated.rating == 5
    kinds = [
        "request_raised",
        "request_dispatched",
        "request_accepted",
        "request_completed",
        "request_rated",
    ]
    assert [e["type"] for e in uow.events] == kinds
    assert uow.of_type("request_dispatched")[0]["data"]["offered_to"] == [crew["near"]]
    completed = uow.of_type("request_completed")[0]["data"]
    assert completed["volunteer_id"] == crew["near"] and completed["volunteer_city"] == "cixi"
    assert "13900001111" not in str(uow.events)


def test_the_circle_is_searched_from_the_inside_out(uow, dispatch, monkeypatch):
    """A dense town: the nearest is chosen from the first small circle, never reading the
    whole service circle; with nobody near, the search grows to the circle's edge."""
    crowd = [enrol(uow, metres) for metres in (40, 120, 250, 900, 1800, 2400)]
    asked: list[float] = []

    def spy(store):
        candidates = store.dispatch_candidates

        def spied(request_id, skill, lat, lon, radius_m, now):
            asked.append(radius_m)
            return candidates(request_id, skill, lat, lon, radius_m, now)

        monkeypatch.setattr(store, "dispatch_candidates", spied)

    spy(uow.store)
    made = raised(uow, dispatch)
    assert made.offered_to == crowd[0] and asked == [300]
    asked.clear()
    # An emergency's three nearest are all in the first circle too (an offer is no assignment).
    assert raised(uow, dispatch, urgency="emergency").offers == crowd[:3] and asked == [300]
    asked.clear()
    lone = FakeUnitOfWork(FakeWishesStore())
    far = enrol(lone, 2400)
    spy(lone.store)
    assert raised(lone, dispatch).offered_to == far and asked == [300, 1200, 2500]


def test_an_unknown_service_code_writes_nothing(uow, dispatch, crew):
    with pytest.raises(ValidationError) as refused:
        raised(uow, dispatch, service="juggling")
    assert refused.value.field == "request.service"
    assert uow.store.requests == {} and uow.events == []


def test_declines_move_on_and_an_empty_circle_is_unassigned(uow, dispatch, told, crew):
    made = raised(uow, dispatch)
    first = requests.decline_request(uow, dispatch, ADMIN, made.id, crew["near"])
    assert first.status == "dispatched" and first.offered_to == crew["further"]
    with pytest.raises(Conflict, match="holds no open offer"):
        requests.decline_request(uow, dispatch, ADMIN, made.id, crew["near"])
    last = requests.decline_request(uow, dispatch, ADMIN, made.id, crew["further"])
    assert last.status == "unassigned" and last.offered_to is None
    assert outcomes(last) == [(crew["near"], "declined"), (crew["further"], "declined")]
    [declined_elsewhere] = [
        e for e in uow.of_type("request_declined") if e["data"]["volunteer_id"] == crew["further"]
    ]
    assert declined_elsewhere["data"]["volunteer_city"] == "haining"
    nobody = raised(uow, dispatch, service="legal_aid")
    assert nobody.status == "unassigned" and nobody.attempts == []
    assert told == [(made.id, "cixi"), (nobody.id, "cixi")]
    assert len(uow.of_type("request_unassigned")) == 2


def test_a_busy_volunteer_gets_no_offer_and_accepts_nothing_more(uow, dispatch, crew):
    first, second = raised(uow, dispatch), raised(uow, dispatch)
    assert first.offered_to == second.offered_to == crew["near"]  # offers do not make busy
    requests.accept_request(uow, ADMIN, first.id, crew["near"])
    before = uow.store.requests[second.id].version, len(uow.events)
    with pytest.raises(Conflict, match="busy with another request"):
        requests.accept_request(uow, ADMIN, second.id, crew["near"])
    assert (uow.store.requests[second.id].version, len(uow.events)) == before
    assert uow.store.offered[(second.id, crew["near"])].status == "open"  # still open
    assert raised(uow, dispatch).offered_to == crew["further"]
    requests.complete_request(uow, ADMIN, first.id, crew["near"], CompletionIn(note="好"))
    assert raised(uow, dispatch).offered_to == crew["near"]  # free again once done


def test_an_emergency_goes_to_three_and_the_first_to_accept_wins(uow, dispatch, crew):
    third = enrol(uow, 600)
    fourth = enrol(uow, 900)
    made = raised(uow, dispatch, urgency="emergency")
    assert made.offers == [crew["near"], crew["further"], third]
    won = requests.accept_request(uow, ADMIN, made.id, crew["further"])
    assert won.assigned_to == crew["further"] and won.offers == []
    assert sorted(a.outcome for a in won.attempts) == ["accepted", "withdrawn", "withdrawn"]
    assert fourth not in [a.volunteer_id for a in won.attempts]
    with pytest.raises(Conflict):
        requests.accept_request(uow, ADMIN, made.id, third)


def test_unanswered_offers_time_out_and_move_on(uow, told, crew, monkeypatch):
    hasty = Dispatch(lambda city: (10, 15), 1, told)
    made = raised(uow, hasty)
    assert made.offered_to == crew["near"]
    assert requests.expire_offers(uow, hasty, batch=500) == 0  # not yet
    later = clock.utcnow() + timedelta(seconds=2)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with pytest.raises(Conflict, match="holds no open offer"):
        requests.accept_request(uow, ADMIN, made.id, crew["near"])
    assert requests.expire_offers(uow, hasty, batch=500) == 1
    moved = requests.get_request(uow, OPS, made.id)
    assert outcomes(moved) == [(crew["near"], "timed_out"), (crew["further"], "offered")]
    later += timedelta(seconds=2)
    assert requests.expire_offers(uow, hasty, batch=500) == 1
    final = requests.get_request(uow, OPS, made.id)
    assert final.status == "unassigned" and told == [(made.id, "cixi")]


def test_cancel_withdraws_and_every_later_change_is_refused(uow, dispatch, crew):
    made = raised(uow, dispatch)
    cancelled = requests.cancel_request(uow, ADMIN, made.id, "问题已解决")
    assert cancelled.status == "cancelled" and outcomes(cancelled) == [(crew["near"], "withdrawn")]
    before = uow.store.requests[made.id].version, len(uow.events)
    with pytest.raises(Conflict, match="a request that is cancelled cannot be cancelled"):
        requests.cancel_request(uow, ADMIN, made.id, "再取消")
    with pytest.raises(Conflict, match="cannot be rated"):
        requests.rate_request(uow, ADMIN, made.id, RatingIn(rating=3, feedback=""))
    with pytest.raises(Conflict, match="cannot be completed"):
        requests.complete_request(uow, ADMIN, made.id, crew["near"], CompletionIn(note="x"))
    with pytest.raises(Conflict, match="holds no open offer"):
        requests.accept_request(uow, ADMIN, made.id, crew["near"])
    assert (uow.store.requests[made.id].version, len(uow.events)) == before


def test_only_the_assignee_completes(uow, dispatch, crew):
    made = raised(uow, dispatch)
    requests.accept_request(uow, ADMIN, made.id, crew["near"])
    with pytest.raises(Conflict, match="assigned to another volunteer"):
        requests.complete_request(uow, ADMIN, made.id, crew["further"], CompletionIn(note="x"))
    assert uow.store.requests[made.id].status == "accepted"


def test_accepting_needs_an_eligible_volunteer_and_a_request(uow, dispatch, crew):
    made = raised(uow, dispatch)
    with pytest.raises(Suspended):
        requests.accept_request(uow, ADMIN, made.id, crew["suspended"])
    with pytest.raises(NotFound):
        requests.accept_request(uow, ADMIN, ids.new_id("cixi", "req"), crew["near"])
    with pytest.raises(NotFound):
        requests.get_request(uow, OPS, ids.new_id("cixi", "req"))


def test_lists_by_city_and_status_in_pages_without_the_requester(uow, dispatch, crew):
    made = [raised(uow, dispatch).id for _ in range(3)]
    requests.cancel_request(uow, ADMIN, made[1], "重复")
    found, cursor = [], None
    while True:
        page = requests.list_requests(uow, OPS, "cixi", None, 2, cursor)
        found += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [r.id for r in found] == sorted(made)
    assert all(r.requester is None and r.address is None for r in found)
    assert [r.attempts[0].volunteer_id for r in found] == [crew["near"]] * 3
    only = requests.list_requests(uow, OPS, "cixi", "cancelled", 10, None).items
    assert [r.id for r in only] == [made[1]]
    assert requests.list_requests(uow, OPS, "haining", None, 10, None).items == []


def test_the_dispatch_index_follows_the_replica(uow):
    requests.follow_replica(uow, ["cixi-vol-1", "cixi-vol-2"])
    assert uow.store.reindexed == ["cixi-vol-1", "cixi-vol-2"]
