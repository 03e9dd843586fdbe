"""Discipline: complaints are recorded, then upheld (the volunteer climbs the ladder) or
dismissed, once; suspensions end early by an admin or when they are due (the timer)."""

from __future__ import annotations

from typing import Any

from pioneer import auth, clock, ids
from pioneer.db import row_of, with_values
from pioneer.errors import Conflict, NotFound, ValidationError

from .. import domain, presenters
from ..schemas import ComplaintIn, ComplaintOut, VolunteerOut
from .changes import announce, apply_standing, locked_volunteer, standing


def record_complaint(
    uow: Any, volunteer_id: str, complaint: ComplaintIn, complaint_id: str | None = None
) -> ComplaintOut:
    """An ``open`` complaint against a known volunteer. A ``complaint_id`` chosen by the caller
    (of the volunteer's city, kind ``cmp``) makes a retry return the complaint recorded first."""
    city = ids.city_of(volunteer_id)
    if complaint_id is not None and (
        ids.city_of(complaint_id) != city or ids.kind_of(complaint_id) != "cmp"
    ):
        raise ValidationError("complaint_id", f"must be a complaint id of city '{city}' (cmp)")
    with uow:
        if uow.store.volunteer(volunteer_id) is None:
            raise NotFound(f"no volunteer {volunteer_id}")
        if complaint_id is not None:
            earlier = uow.store.complaint(complaint_id)
            if earlier is not None:
                if earlier.volunteer_id != volunteer_id:
                    raise Conflict(f"complaint {complaint_id} is about another volunteer")
                return presenters.complaint_out(earlier)  # a retry: the complaint recorded first
        values = {
            "id": complaint_id or ids.new_id(city, "cmp"),
            "volunteer_id": volunteer_id,
            "city": city,
            "reason": complaint.reason,
            "source": complaint.source,
            "status": domain.OPEN,
            "level": None,
            "created_at": clock.utcnow(),
            "decided_at": None,
        }
        if not uow.store.add_complaint(values):
            raise Conflict(f"complaint {values['id']} is being recorded")
    return presenters.complaint_out(row_of(values))


def _open_complaint(store: Any, complaint_id: str) -> Any:
    row = store.complaint(complaint_id, for_update=True)
    if row is None:
        raise NotFound(f"no complaint {complaint_id}")
    try:
        domain.decide(row.status)
    except domain.TransitionError as exc:
        raise Conflict(f"complaint {complaint_id}: {exc}") from None
    return row


def uphold_complaint(uow: Any, complaint_id: str) -> ComplaintOut:
    """Uphold an open complaint: the volunteer climbs one rung (``complaint_upheld``, then
    ``volunteer_suspended`` or ``volunteer_removed``)."""
    now = clock.utcnow()
    with uow:
        complaint = _open_complaint(uow.store, complaint_id)
        volunteer = locked_volunteer(uow.store, complaint.volunteer_id)
        try:
            sanction = domain.uphold(standing(volunteer), now)
        except domain.TransitionError as exc:
            raise Conflict(f"volunteer {volunteer.id}: {exc}") from None
        decision = {"status": domain.UPHELD, "level": sanction.level, "decided_at": now}
        uow.store.change_complaint(complaint_id, decision)
        volunteer = apply_standing(uow, volunteer, sanction.standing, now)
        uow.emit(
            "complaint_upheld",
            volunteer.city,
            presenters.complaint_upheld_event(complaint, volunteer, sanction.level),
        )
        announce(uow, sanction.event_type, volunteer, reason=sanction.level)
    return presenters.complaint_out(with_values(complaint, decision))


def dismiss_complaint(uow: Any, complaint_id: str) -> ComplaintOut:
    """Dismiss an open complaint; nothing else changes."""
    with uow:
        complaint = _open_complaint(uow.store, complaint_id)
        decision = {"status": domain.DISMISSED, "decided_at": clock.utcnow()}
        uow.store.change_complaint(complaint_id, decision)
    return presenters.complaint_out(with_values(complaint, decision))


def reinstate(uow: Any, caller: auth.Caller, volunteer_id: str) -> VolunteerOut:
    """End a suspension early (``volunteer_reinstated``); cards stay."""
    now = clock.utcnow()
    with uow:
        row = locked_volunteer(uow.store, volunteer_id)
        try:
            after = domain.reinstate(standing(row))
        except domain.TransitionError as exc:
            raise Conflict(f"volunteer {volunteer_id}: {exc}") from None
        row = apply_standing(uow, row, after, now)
        announce(uow, "volunteer_reinstated", row, reason="reinstated")
    return presenters.volunteer_out(row, presenters.sees_phones(caller, row.city))


def reinstate_due(uow: Any, batch: int) -> int:
    """End up to ``batch`` suspensions that are due (``domain.suspension_due``); how many."""
    now = clock.utcnow()
    with uow.reading() as store:
        due = store.due_suspensions(now, batch)
    if not due:
        return 0
    ended = 0
    with uow:
        for row in uow.store.lock_volunteers(due):
            if not domain.suspension_due(standing(row), now):
                continue  # reinstated meanwhile (an admin, or another replica's timer)
            row = apply_standing(uow, row, domain.reinstate(standing(row)), now)
            announce(uow, "volunteer_reinstated", row, reason="suspension_ended")
            ended += 1
    return ended
