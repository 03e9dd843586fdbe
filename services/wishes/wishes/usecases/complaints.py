"""Complaints about a request's assigned volunteer: kept here first (``complaint_filed``), then
recorded in the volunteers service, where ``uphold_complaint`` decides them. The call to
volunteers is made outside any transaction; when it fails the complaint waits and is tried
again later, with backoff (``pioneer.backoff``: 1 s doubling to 5 min). Its id is chosen here and sent
along, so however many attempts reach volunteers it is recorded once.

An attempt is made only under a claim: the complaint's next attempt is moved past the call's
time limit first (``LEASE_MARGIN_S`` more), so the filing call's own attempt and the retry
timers of every replica never call volunteers about one complaint at the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from pioneer import clock, ids
from pioneer.backoff import backoff_s
from pioneer.errors import Conflict

from .. import domain, presenters
from ..schemas import ComplaintFiledOut, ComplaintIn
from .requests import locked_request


class DeliveryFailed(Exception):
    """Volunteers did not record the complaint this time (down, too slow, or refusing: the
    message says which); it is tried again later."""


# What a claim allows beyond the call's time limit: recording the outcome, a pause of the
# process, clocks of two hosts a little apart.
LEASE_MARGIN_S = 30.0


class Volunteers(Protocol):
    """The volunteers service as complaints need it (``wishes.volunteers_client``)."""

    time_limit_s: float  # no call takes longer

    def record_complaint(
        self, volunteer_id: str, complaint: dict[str, str], complaint_id: str
    ) -> None:
        """Record ``complaint`` (``{"reason", "source"}``) under ``complaint_id``, once;
        ``DeliveryFailed`` if it was not recorded."""


def complain(
    uow: Any, volunteers: Volunteers, request_id: str, complaint: ComplaintIn
) -> ComplaintFiledOut:
    """File a complaint against the request's assigned volunteer; one attempt to record it in
    volunteers follows at once. The result is the id volunteers records it under."""
    now = clock.utcnow()
    with uow:
        request = locked_request(uow.store, request_id)
        if request.status not in domain.COMPLAINABLE or request.assigned_to is None:
            raise Conflict(f"request {request_id} has no assigned volunteer to complain about")
        volunteer_city = request.assigned_city or ids.city_of(request.assigned_to)
        pending = uow.store.add_complaint(
            dict(
                complaint_id=ids.new_id(ids.city_of(request.assigned_to), "cmp"),
                request_id=request_id,
                city=request.city,
                volunteer_id=request.assigned_to,
                reason=complaint.reason,
                status=domain.COMPLAINT_PENDING,
                attempts=0,
                next_attempt_at=_lease_end(now, volunteers),  # claimed for the attempt below
                created_at=now,
            )
        )
        event = presenters.complaint_event(pending, volunteer_city)
        uow.emit("complaint_filed", request.city, event)
    deliver_complaint(uow, volunteers, pending)
    return ComplaintFiledOut(complaint_id=pending.complaint_id)


def deliver_complaint(uow: Any, volunteers: Volunteers, pending: Any) -> bool:
    """One attempt to record ``pending`` in volunteers; whether it was. After a failure the
    next attempt is scheduled."""
    try:
        volunteers.record_complaint(
            pending.volunteer_id,
            {"reason": pending.reason[:2000], "source": f"request:{pending.request_id}"},
            pending.complaint_id,
        )
        error = None
    except DeliveryFailed as exc:
        error = str(exc)[:500]
    now = clock.utcnow()
    with uow:
        if error is None:
            uow.store.complaint_delivered(pending.complaint_id, now)
        else:
            attempts = pending.attempts + 1
            retry_at = now + timedelta(seconds=backoff_s(attempts, base_s=1.0, cap_s=300.0))
            uow.store.complaint_failed(pending.complaint_id, attempts, retry_at, error)
    return error is None


def deliver_pending_complaints(uow: Any, volunteers: Volunteers, batch: int = 50) -> int:
    """Try again the complaints volunteers has not recorded yet whose time has come, those this
    call claims; how many were recorded now."""
    now = clock.utcnow()
    with uow.reading() as store:
        due = store.complaints_due(now, batch)
    if not due:
        return 0
    with uow:
        claimed = uow.store.claim_complaints(
            [pending.complaint_id for pending in due], now, _lease_end(now, volunteers)
        )
    return sum(deliver_complaint(uow, volunteers, pending) for pending in claimed)


def _lease_end(now: datetime, volunteers: Volunteers) -> datetime:
    return now + timedelta(seconds=volunteers.time_limit_s + LEASE_MARGIN_S)
