"""Complaints' use cases on a fake unit of work and store and a fake volunteers service: kept
first, delivered at once when volunteers answers, otherwise later with backoff, under one id.
No broker, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from wishes_fakes import FakeWishesStore
from wishes_testdata import FANGJIAHETOU, request_data

from pioneer import auth, clock, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, NotFound
from pioneer.testing.fakes import FakeUnitOfWork
from wishes import domain
from wishes.schemas import ComplaintIn, RequestIn
from wishes.usecases import complaints, requests
from wishes.usecases.complaints import DeliveryFailed
from wishes.usecases.requests import Dispatch

ADMIN = auth.Caller("test-admin", "cixi", frozenset({auth.ADMIN}))
DISPATCH = Dispatch(lambda city: (10, 15), 120)


class FakeVolunteers:
    """Records complaints by id, as volunteers does; ``down`` makes every call fail."""

    time_limit_s = 1.0

    def __init__(self) -> None:
        self.recorded: dict[str, tuple[str, dict[str, str]]] = {}
        self.calls = 0
        self.down = False

    def record_complaint(self, volunteer_id, complaint, complaint_id) -> None:
        self.calls += 1
        if self.down:
            raise DeliveryFailed("volunteers did not answer within 1.0 s")
        self.recorded.setdefault(complaint_id, (volunteer_id, complaint))


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeWishesStore())


@pytest.fixture
def volunteers():
    return FakeVolunteers()


def a_request(uow, accepted=True):
    volunteer_id = uow.store.enrol(
        ids.new_id("haining", "vol"),
        skills=("repair",),
        location=(FANGJIAHETOU["lat"], FANGJIAHETOU["lon"]),
    )
    request = RequestIn.model_validate(request_data())
    made = requests.raise_request(uow, Catalog(), DISPATCH, ADMIN, request)
    if accepted:
        requests.accept_request(uow, ADMIN, made.id, volunteer_id)
    return made.id, volunteer_id


def test_a_complaint_is_kept_announced_and_recorded_at_once(uow, volunteers):
    request_id, volunteer_id = a_request(uow)
    filed = complaints.complain(uow, volunteers, request_id, ComplaintIn(reason="态度很差"))
    assert filed.complaint_id.startswith("haining-cmp-")  # the volunteer's city
    [event] = uow.of_type("complaint_filed")
    assert event["data"]["volunteer_id"] == volunteer_id
    assert event["data"]["volunteer_city"] == "haining" and "态度很差" not in str(event)
    assert volunteers.recorded[filed.complaint_id] == (
        volunteer_id,
        {"reason": "态度很差", "source": f"request:{request_id}"},
    )
    kept = uow.store.complaints[filed.complaint_id]
    assert kept.status == domain.COMPLAINT_DELIVERED and kept.attempts == 1


def test_no_complaint_without_an_assigned_volunteer(uow, volunteers):
    request_id, _ = a_request(uow, accepted=False)
    events = len(uow.events)
    with pytest.raises(Conflict, match="no assigned volunteer"):
        complaints.complain(uow, volunteers, request_id, ComplaintIn(reason="x"))
    with pytest.raises(NotFound):
        complaints.complain(uow, volunteers, ids.new_id("cixi", "req"), ComplaintIn(reason="x"))
    assert uow.store.complaints == {} and len(uow.events) == events and volunteers.calls == 0


def test_a_complaint_waits_while_volunteers_is_down_then_is_recorded_once(
    uow, volunteers, monkeypatch
):
    request_id, _ = a_request(uow)
    volunteers.down = True
    filed = complaints.complain(uow, volunteers, request_id, ComplaintIn(reason="没有按时到"))
    kept = uow.store.complaints[filed.complaint_id]
    assert kept.status == domain.COMPLAINT_PENDING and kept.attempts == 1
    assert kept.last_error == "volunteers did not answer within 1.0 s"
    assert kept.next_attempt_at - clock.utcnow() <= timedelta(seconds=1)  # 1 s after the first
    assert complaints.deliver_pending_complaints(uow, volunteers) == 0  # not due yet

    moment = clock.utcnow() + timedelta(seconds=2)
    monkeypatch.setattr(clock, "utcnow", lambda: moment)
    assert complaints.deliver_pending_complaints(uow, volunteers) == 0  # still down
    assert kept.attempts == 2 and kept.next_attempt_at == moment + timedelta(seconds=2)

    volunteers.down = False
    moment += timedelta(seconds=3)
    assert complaints.deliver_pending_complaints(uow, volunteers) == 1
    assert kept.status == domain.COMPLAINT_DELIVERED and kept.last_error is None
    assert list(volunteers.recorded) == [filed.complaint_id]
    assert complaints.deliver_pending_complaints(uow, volunteers) == 0  # nothing left
    assert len(uow.of_type("complaint_filed")) == 1


def test_a_complaint_is_attempted_only_by_the_one_that_claimed_it(uow, volunteers, monkeypatch):
    # Two replicas' timers find the same due complaint: the first claims and delivers it, the
    # second's claim finds it no longer due and calls volunteers about nothing.
    request_id, _ = a_request(uow)
    volunteers.down = True
    filed = complaints.complain(uow, volunteers, request_id, ComplaintIn(reason="迟到"))
    volunteers.down = False
    moment = clock.utcnow() + timedelta(seconds=2)
    monkeypatch.setattr(clock, "utcnow", lambda: moment)
    [due] = uow.store.complaints_due(moment, 10)
    assert complaints.deliver_pending_complaints(uow, volunteers) == 1
    calls = volunteers.calls
    with uow:
        assert uow.store.claim_complaints([due.complaint_id], moment, moment) == []
    assert volunteers.calls == calls and list(volunteers.recorded) == [filed.complaint_id]


def test_the_filing_call_holds_its_claim_while_it_attempts(uow, monkeypatch):
    # The complaint is stored claimed for the filing call's own attempt: a timer running
    # meanwhile does not find it due.
    request_id, _ = a_request(uow)

    class Watching(FakeVolunteers):
        def record_complaint(self, volunteer_id, complaint, complaint_id) -> None:
            assert uow.store.complaints_due(clock.utcnow(), 10) == []
            super().record_complaint(volunteer_id, complaint, complaint_id)

    watching = Watching()
    complaints.complain(uow, watching, request_id, ComplaintIn(reason="迟到"))
    assert watching.calls == 1
