"""Micro-wishes' use cases on a fake unit of work and store: the transitions and their
conditions, what is written and emitted, that a refusal writes nothing, who sees the
beneficiary, expiry, and lists. No broker, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from wishes_fakes import FakeWishesStore
from wishes_testdata import BENEFICIARY, FANGJIAHETOU, deadline_in, wish_data

from pioneer import auth, clock, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, Forbidden, NotFound, Suspended, ValidationError
from pioneer.testing.fakes import FakeUnitOfWork
from wishes.schemas import ConfirmationIn, FulfillmentIn, WishIn
from wishes.usecases import wishes

CATALOG = Catalog()
ADMIN = auth.Caller("test-admin", "cixi", frozenset({auth.ADMIN}))
OPS = auth.Caller("test-ops", "cixi", frozenset({auth.OPS}))


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeWishesStore())


def volunteer(uow, city="cixi", status="active", until=None):
    return uow.store.enrol(ids.new_id(city, "vol"), status, until=until)


def as_volunteer(volunteer_id):
    return auth.Caller(volunteer_id, ids.city_of(volunteer_id), frozenset({auth.VOLUNTEER}))


def submitted(uow, **overrides):
    return wishes.submit_wish(uow, CATALOG, ADMIN, WishIn.model_validate(wish_data(**overrides)))


def published(uow, **overrides):
    return wishes.review_wish(uow, ADMIN, submitted(uow, **overrides).id, True, None)


def past_deadline(uow, wish_id):
    """As if the wish's deadline had passed a second ago."""
    uow.store.wishes[wish_id].deadline = clock.utcnow() - timedelta(seconds=1)


def snapshot(uow):
    return {w.id: (w.status, w.version) for w in uow.store.wishes.values()}, len(uow.events)


def test_a_wish_is_submitted_and_announced_without_its_beneficiary(uow):
    made = submitted(uow)
    assert made.status == "submitted" and made.id.startswith("cixi-wish-")
    assert made.beneficiary.phone == BENEFICIARY["phone"]  # an admin of the city sees it
    assert uow.store.wishes[made.id].submitted_by == "test-admin"
    [event] = uow.of_type("wish_submitted")
    assert event["data"]["wish_id"] == made.id and event["data"]["version"] == 1
    assert "beneficiary" not in event["data"] and BENEFICIARY["phone"] not in str(event)


def test_an_unknown_category_or_a_bad_deadline_writes_nothing(uow):
    with pytest.raises(ValidationError) as refused:
        submitted(uow, category="juggling")
    assert refused.value.field == "wish.category"
    with pytest.raises(ValidationError) as refused:
        submitted(uow, deadline=deadline_in(days=-1))
    assert refused.value.field == "wish.deadline"
    with pytest.raises(ValidationError, match="within a year"):
        submitted(uow, deadline=deadline_in(days=400))
    assert uow.store.wishes == {} and uow.events == []


def test_the_whole_life_names_the_volunteer_and_bumps_the_version(uow):
    wish_id = published(uow).id
    holder = volunteer(uow, city="haining")  # a volunteer of another city may claim
    claimed = wishes.claim_wish(uow, as_volunteer(holder), wish_id, holder)
    assert claimed.status == "claimed" and claimed.claimed_by == holder
    assert claimed.beneficiary is not None  # the holder sees the beneficiary
    done = wishes.fulfill_wish(uow, ADMIN, wish_id, holder, FulfillmentIn(note="送到了"))
    assert done.status == "fulfilled" and done.fulfillment_note == "送到了"
    closed = wishes.confirm_wish(uow, ADMIN, wish_id, ConfirmationIn(rating=5, feedback="谢谢"))
    assert closed.status == "closed" and closed.rating == 5
    kinds = ["wish_submitted", "wish_published", "wish_claimed", "wish_fulfilled", "wish_closed"]
    assert [e["type"] for e in uow.events] == kinds
    assert [e["data"]["version"] for e in uow.events] == [1, 2, 3, 4, 5]
    closing = uow.of_type("wish_closed")[0]["data"]
    assert closing["volunteer_id"] == holder and closing["volunteer_city"] == "haining"


def test_a_claimed_wish_refuses_a_second_claim_and_writes_nothing(uow):
    wish_id = published(uow).id
    first, second = volunteer(uow), volunteer(uow)
    wishes.claim_wish(uow, ADMIN, wish_id, first)
    before = snapshot(uow)
    with pytest.raises(Conflict, match="already claimed"):
        wishes.claim_wish(uow, ADMIN, wish_id, second)
    assert snapshot(uow) == before
    assert uow.store.wishes[wish_id].claimed_by == first


def test_only_the_holder_releases_or_fulfils_and_a_release_names_it(uow):
    wish_id = published(uow).id
    holder, other = volunteer(uow, city="jiaxing"), volunteer(uow)
    wishes.claim_wish(uow, ADMIN, wish_id, holder)
    before = snapshot(uow)
    with pytest.raises(Conflict, match="held by another volunteer"):
        wishes.release_wish(uow, ADMIN, wish_id, other)
    with pytest.raises(Conflict, match="held by another volunteer"):
        wishes.fulfill_wish(uow, ADMIN, wish_id, other, FulfillmentIn(note="x"))
    assert snapshot(uow) == before
    released = wishes.release_wish(uow, ADMIN, wish_id, holder)
    assert released.status == "published" and released.claimed_by is None
    [event] = uow.of_type("wish_released")
    assert event["data"]["volunteer_id"] == holder and event["data"]["volunteer_city"] == "jiaxing"
    assert wishes.claim_wish(uow, ADMIN, wish_id, other).claimed_by == other


def test_past_its_deadline_a_wish_is_neither_approved_nor_claimed(uow):
    waiting = submitted(uow).id
    past_deadline(uow, waiting)
    with pytest.raises(Conflict, match=f"wish {waiting} is past its deadline"):
        wishes.review_wish(uow, ADMIN, waiting, True, None)
    assert wishes.review_wish(uow, ADMIN, waiting, False, "晚了").status == "rejected"
    open_one = published(uow).id
    past_deadline(uow, open_one)
    before = snapshot(uow)
    with pytest.raises(Conflict, match="past its deadline"):
        wishes.claim_wish(uow, ADMIN, open_one, volunteer(uow))
    assert snapshot(uow) == before


def test_states_that_do_not_allow_an_action_are_conflicts(uow):
    wish_id = submitted(uow).id
    someone = volunteer(uow)
    with pytest.raises(Conflict, match="a submitted wish cannot be claimed"):
        wishes.claim_wish(uow, ADMIN, wish_id, someone)
    with pytest.raises(Conflict, match="cannot be confirmed"):
        wishes.confirm_wish(uow, ADMIN, wish_id, ConfirmationIn(rating=3, feedback=""))
    cancelled = wishes.cancel_wish(uow, ADMIN, wish_id, "不需要了")
    assert cancelled.status == "cancelled" and cancelled.reason == "不需要了"
    with pytest.raises(Conflict, match="a cancelled wish cannot be cancelled"):
        wishes.cancel_wish(uow, ADMIN, wish_id, "再取消")
    with pytest.raises(NotFound):
        wishes.claim_wish(uow, ADMIN, ids.new_id("cixi", "wish"), someone)
    assert [e["type"] for e in uow.events] == ["wish_submitted", "wish_cancelled"]


def test_eligibility_comes_from_the_replica(uow):
    wish_id = published(uow).id
    with pytest.raises(NotFound):
        wishes.claim_wish(uow, ADMIN, wish_id, ids.new_id("cixi", "vol"))
    for status in ("suspended", "removed"):
        with pytest.raises(Suspended):
            wishes.claim_wish(uow, ADMIN, wish_id, volunteer(uow, status=status))
    # A suspension whose end has passed is over, before any reinstatement event.
    served = volunteer(uow, status="suspended", until=clock.utcnow() - timedelta(minutes=1))
    assert wishes.claim_wish(uow, ADMIN, wish_id, served).claimed_by == served


def test_who_sees_the_beneficiary(uow):
    wish_id = published(uow).id
    holder, other = volunteer(uow), volunteer(uow)
    assert wishes.get_wish(uow, as_volunteer(holder), wish_id).beneficiary is None
    wishes.claim_wish(uow, ADMIN, wish_id, holder)
    assert wishes.get_wish(uow, as_volunteer(holder), wish_id).beneficiary is not None
    with pytest.raises(Forbidden):  # another's claimed wish is not for other volunteers
        wishes.get_wish(uow, as_volunteer(other), wish_id)
    assert wishes.get_wish(uow, OPS, wish_id).beneficiary is None
    haining_admin = auth.Caller("a", "haining", frozenset({auth.ADMIN}))
    assert wishes.get_wish(uow, haining_admin, wish_id).beneficiary is None
    with pytest.raises(NotFound):
        wishes.get_wish(uow, OPS, ids.new_id("cixi", "wish"))


def test_only_published_wishes_past_their_deadline_expire(uow):
    overdue, held, fresh = published(uow).id, published(uow).id, published(uow).id
    wishes.claim_wish(uow, ADMIN, held, volunteer(uow))
    past_deadline(uow, overdue)
    past_deadline(uow, held)
    assert wishes.expire_due(uow, batch=500) == 1
    assert wishes.expire_due(uow, batch=500) == 0  # nothing left to expire
    [event] = uow.of_type("wish_expired")
    assert event["data"]["wish_id"] == overdue and event["data"]["status"] == "expired"
    statuses = {i: w.status for i, w in uow.store.wishes.items()}
    assert statuses == {overdue: "expired", held: "claimed", fresh: "published"}


def test_expiry_takes_a_batch_at_a_time(uow):
    due = [published(uow).id for _ in range(3)]
    for wish_id in due:
        past_deadline(uow, wish_id)
    assert wishes.expire_due(uow, batch=2) == 2
    assert wishes.expire_due(uow, batch=2) == 1


def _list(uow, caller=OPS, **filters):
    arguments = {"status": None, "category": None, "near": None, "radius_m": None, **filters}
    found, cursor = [], None
    while True:
        page = wishes.list_wishes(
            uow,
            caller,
            "cixi",
            arguments["status"],
            arguments["category"],
            arguments["near"],
            arguments["radius_m"],
            5000,
            2,
            cursor,
        )
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def test_lists_by_status_category_and_distance_in_pages(uow):
    def north(metres):
        return {"lat": FANGJIAHETOU["lat"] + metres / 111_195, "lon": FANGJIAHETOU["lon"]}

    near = published(uow, location=north(80)).id
    mid = published(uow, location=north(900), category="repair").id
    far = published(uow, location=north(10_000)).id
    waiting = submitted(uow).id
    assert [w.id for w in _list(uow)] == sorted([near, mid, far, waiting])
    assert all(w.beneficiary is None for w in _list(uow))
    assert [w.id for w in _list(uow, status="submitted")] == [waiting]
    assert [w.id for w in _list(uow, category="repair")] == [mid]
    here = (FANGJIAHETOU["lat"], FANGJIAHETOU["lon"])
    close = _list(uow, status="published", near=here, radius_m=2000)
    assert [w.id for w in close] == [near, mid]
    assert close[0].distance_m < close[1].distance_m <= 2000
    by_default = _list(uow, status="published", near=here)  # the 5 km default radius
    assert [w.id for w in by_default] == [near, mid]
    with pytest.raises(ValidationError) as refused:
        _list(uow, radius_m=1000)
    assert refused.value.field == "radius_m"
