"""How every use case changes a volunteer: under its row lock, with a version that grows by one,
announced with the teams it belongs to. The events' versions are strictly increasing per
volunteer, so replicas fold them in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer.db import with_values
from pioneer.errors import NotFound

from .. import domain, presenters


def locked_volunteer(store: Any, volunteer_id: str) -> Any:
    """The volunteer, locked for this transaction; ``NotFound`` if there is none."""
    row = store.volunteer(volunteer_id, for_update=True)
    if row is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return row


def next_version(row: Any, now: datetime) -> dict[str, Any]:
    """The columns every change of a volunteer writes."""
    return {"version": row.version + 1, "updated_at": now}


def announce(uow: Any, event_type: str, row: Any, reason: str | None = None) -> None:
    """Emit ``event_type`` with the volunteer as ``row`` now is and its teams."""
    teams = uow.store.teams_of(row.id)
    uow.emit(event_type, row.city, presenters.volunteer_event(row, reason=reason, teams=teams))


def apply_standing(uow: Any, row: Any, standing: domain.Standing, now: datetime) -> Any:
    """Write a new disciplinary standing (the skill index follows the status); the row after."""
    values = {
        "status": standing.status,
        "suspended_until": standing.suspended_until,
        "cards": standing.cards,
        **next_version(row, now),
    }
    uow.store.change_volunteer(row.id, values)
    uow.store.index_status(row.id, standing.status)
    return with_values(row, values)


def standing(row: Any) -> domain.Standing:
    """The volunteer's disciplinary state, as the ladder reads it."""
    return domain.Standing(row.status, row.suspended_until, row.cards)
