"""Teams and their members: one ``organization`` team per volunteer at most, any number of
``activity`` teams. A join or a leave is a change of the volunteer (``volunteer_updated``
carries its teams; points ranks by team from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer import clock, ids
from pioneer.catalog import Catalog
from pioneer.db import row_of, with_values
from pioneer.errors import Conflict, NotFound, Suspended
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import MemberOut, MembershipOut, TeamIn, TeamOut
from .changes import announce, locked_volunteer, next_version

ORGANIZATION = "organization"


def create_team(uow: Any, catalog: Catalog, city: str, team: TeamIn) -> TeamOut:
    """A new team of ``city``, of a known specialty, with no members yet."""
    catalog.require_known(city, "team.specialty", [team.specialty])
    values = {
        "id": ids.new_id(city, "team"),
        "city": city,
        "name": team.name,
        "specialty": team.specialty,
        "members": 0,
        "created_at": clock.utcnow(),
    }
    with uow:
        uow.store.add_team(values)
    return presenters.team_out(row_of(values))


def _team(store: Any, team_id: str, lock: bool = False) -> Any:
    team = store.team(team_id, for_update=lock)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team


def join_team(uow: Any, team_id: str, volunteer_id: str, relation: str) -> MembershipOut:
    """The volunteer (not removed) joins the team, once; a second organisation team is refused
    however joins race (the database's unique index decides)."""
    now = clock.utcnow()
    with uow:
        _team(uow.store, team_id, lock=True)
        volunteer = locked_volunteer(uow.store, volunteer_id)
        if volunteer.status == domain.REMOVED:
            raise Suspended(f"volunteer {volunteer_id} has been removed")
        current = uow.store.memberships(volunteer_id, team_id)
        for member in current:
            if member.team_id == team_id:
                raise Conflict(f"volunteer {volunteer_id} is already a member of {team_id}")
        if relation == ORGANIZATION and current:
            raise Conflict(
                f"volunteer {volunteer_id} already belongs to organisation team {current[0].team_id}"
            )
        membership = {
            "team_id": team_id,
            "volunteer_id": volunteer_id,
            "relation": relation,
            "joined_at": now,
        }
        if not uow.store.add_member(membership):
            raise Conflict(
                f"volunteer {volunteer_id} is already a member of {team_id}"
                " or of an organisation team"
            )
        uow.store.count_members(team_id, +1)
        _membership_changed(uow, volunteer, now)
    return presenters.membership_out(row_of(membership))


def leave_team(uow: Any, team_id: str, volunteer_id: str) -> TeamOut:
    """The volunteer leaves the team; the team as it now is."""
    with uow:
        team = _team(uow.store, team_id, lock=True)
        if not uow.store.remove_member(team_id, volunteer_id):
            raise Conflict(f"volunteer {volunteer_id} is not a member of {team_id}")
        members = uow.store.count_members(team_id, -1)
        volunteer = uow.store.volunteer(volunteer_id, for_update=True)
        if volunteer is not None:
            _membership_changed(uow, volunteer, clock.utcnow())
    return presenters.team_out(team, members)


def _membership_changed(uow: Any, volunteer: Any, now: datetime) -> None:
    values = next_version(volunteer, now)
    uow.store.change_volunteer(volunteer.id, values)
    announce(uow, "volunteer_updated", with_values(volunteer, values), reason="teams")


def list_members(uow: Any, team_id: str, limit: int, cursor: str | None) -> Page[MemberOut]:
    """A team's members with their relation, name and status, by volunteer id, paged."""
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        _team(store, team_id)
        rows = store.members_page(team_id, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.volunteer_id])
    return Page[MemberOut](items=[presenters.member_out(r) for r in items], next_cursor=next_cursor)
