"""Rows as the contract's results and events: what a caller or a peer sees of a volunteer, a
team, a membership, a commitment and a complaint.

Phones are shown in full only to an admin of the volunteer's city, masked (``138****5678``) to
every other caller, and always masked in events.
"""

from __future__ import annotations

from typing import Any

from pioneer import auth
from pioneer.event_contract import ComplaintUpheld, VolunteerChanged
from pioneer.logs import mask_phone
from pioneer.schemas import from_row, location_of

from .schemas import (
    CommitmentOut,
    ComplaintOut,
    FoundVolunteerOut,
    MemberOut,
    MembershipOut,
    TeamOut,
    VolunteerOut,
)


def sees_phones(caller: auth.Caller, city: str) -> bool:
    """Only an admin of the volunteer's city sees phone numbers in full."""
    return caller.is_admin and caller.covers(city)


def shown_phone(phone: str, admin: bool) -> str:
    """The phone as a caller sees it: in full for admins, masked for everyone else."""
    return phone if admin else mask_phone(phone)


def volunteer_out(row: Any, admin: bool, distance_m: float | None = None) -> VolunteerOut:
    """A volunteer, its phone in full only for ``admin``; with ``distance_m``, as a nearby
    search finds it."""
    shown = {"phone": shown_phone(row.phone, admin), "location": location_of(row)}
    if distance_m is None:
        return from_row(VolunteerOut, row, **shown)
    return from_row(FoundVolunteerOut, row, **shown, distance_m=distance_m)


def volunteer_event(
    row: Any, reason: str | None = None, teams: list[str] | None = None
) -> VolunteerChanged:
    """The volunteer as the replicas need it, for ``volunteer_*`` events (no name, phone or
    other personal detail: see ``VolunteerChanged``); ``teams`` are the ids of the teams it
    belongs to (points ranks by team from them)."""
    return from_row(
        VolunteerChanged,
        row,
        volunteer_id=row.id,
        skills=list(row.skills),
        location=location_of(row),
        reason=reason,
        teams=teams,
    )


def team_out(row: Any, members: int | None = None) -> TeamOut:
    """A team; ``members`` overrides the row's count when the row was read before a change."""
    team = TeamOut.model_validate(row, from_attributes=True)
    return team if members is None else team.model_copy(update={"members": members})


def membership_out(row: Any) -> MembershipOut:
    """A volunteer's membership of a team, as ``join_team`` answers it."""
    return MembershipOut.model_validate(row, from_attributes=True)


def member_out(row: Any) -> MemberOut:
    """A member as a team's list shows it: the membership with the volunteer's name and status."""
    return MemberOut.model_validate(row, from_attributes=True)


def commitment_out(row: Any) -> CommitmentOut:
    """A commitment; the row carries the volunteer's name as ``volunteer_name``."""
    return CommitmentOut.model_validate(row, from_attributes=True)


def complaint_out(row: Any) -> ComplaintOut:
    """A complaint and its decision, if any."""
    return ComplaintOut.model_validate(row, from_attributes=True)


def complaint_upheld_event(complaint: Any, volunteer: Any, level: str) -> ComplaintUpheld:
    """``complaint_upheld``: the ladder's level and the volunteer's cards after it."""
    return ComplaintUpheld(
        complaint_id=complaint.id,
        volunteer_id=volunteer.id,
        city=volunteer.city,
        level=level,
        cards=volunteer.cards,
    )
