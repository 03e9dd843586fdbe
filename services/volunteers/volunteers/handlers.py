"""Volunteers' service layer: each function is one use case, run inside a unit of work.

Entrypoints hand over the request context (caller, settings, units of work); these functions
check who may do it, apply the domain rules and write the change with its event atomically.
Every change of a volunteer bumps its ``version`` under a row lock, so the events' versions are
strictly increasing per volunteer and replicas fold them in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update

from pioneer import auth, clock, geo, ids
from pioneer.errors import Conflict, Forbidden, NotFound, Suspended, ValidationError
from pioneer.events import ComplaintUpheld, VolunteerChanged
from pioneer.kernel import RequestContext
from pioneer.logs import mask_phone
from pioneer.paging import decode_cursor, encode_cursor, page
from pioneer.schedule import is_open_at
from pioneer.schemas import Page

from . import domain
from .models import Commitment, Complaint, Team, TeamMember, Volunteer, VolunteerSkill
from .schemas import (
    CommitmentIn,
    CommitmentOut,
    ComplaintIn,
    ComplaintOut,
    FoundVolunteerOut,
    MemberOut,
    MembershipOut,
    TeamIn,
    TeamOut,
    VolunteerChanges,
    VolunteerIn,
    VolunteerOut,
)

volunteers_t = Volunteer.__table__
skills_t = VolunteerSkill.__table__
teams_t = Team.__table__
members_t = TeamMember.__table__
commitments_t = Commitment.__table__
complaints_t = Complaint.__table__

REGISTRARS = frozenset({auth.ADMIN, auth.DISPATCHER, auth.SYSTEM})
FINDERS = frozenset({auth.ADMIN, auth.DISPATCHER, auth.SYSTEM, auth.STATION_MANAGER, auth.OPS})
ADMINS = frozenset({auth.ADMIN})
AVAILABLE_SCAN_LIMIT = 5000
AVAILABLE_BATCH = 500


# --- presenting ---------------------------------------------------------------------------------


def sees_phones(caller: auth.Caller, city: str) -> bool:
    """Only an admin of the volunteer's city sees phone numbers in full."""
    return caller.is_admin and caller.covers(city)


def volunteer_out(row: Any, admin: bool, distance_m: float | None = None) -> VolunteerOut:
    data = {
        "id": row.id,
        "name": row.name,
        "phone": domain.shown_phone(row.phone, admin),
        "city": row.city,
        "district": row.district,
        "community": row.community,
        "is_party_member": row.is_party_member,
        "party_branch": row.party_branch,
        "skills": row.skills,
        "location": None if row.lat is None else {"lat": row.lat, "lon": row.lon},
        "availability": row.availability,
        "status": row.status,
        "suspended_until": row.suspended_until,
        "cards": row.cards,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if distance_m is None:
        return VolunteerOut.model_validate(data)
    return FoundVolunteerOut.model_validate({**data, "distance_m": distance_m})


def volunteer_event(
    row: Any, reason: str | None = None, teams: list[str] | None = None
) -> VolunteerChanged:
    """The volunteer as it now is, phone masked, for ``volunteer_*`` events; ``teams`` are the
    ids of the teams it belongs to (points ranks by team from them)."""
    return VolunteerChanged(
        volunteer_id=row.id,
        city=row.city,
        version=row.version,
        status=row.status,
        suspended_until=row.suspended_until,
        cards=row.cards,
        name=row.name,
        phone=mask_phone(row.phone),
        district=row.district,
        community=row.community,
        is_party_member=row.is_party_member,
        skills=list(row.skills),
        location=None if row.lat is None else {"lat": row.lat, "lon": row.lon},
        availability=list(row.availability),
        reason=reason,
        teams=teams,
    )


def teams_of(uow: Any, volunteer_id: str) -> list[str]:
    """The ids of the volunteer's teams (index ``ix_team_members_volunteer_id``)."""
    return list(
        uow.session.execute(
            select(members_t.c.team_id)
            .where(members_t.c.volunteer_id == volunteer_id)
            .order_by(members_t.c.team_id)
        ).scalars()
    )


def complaint_out(row: Any) -> ComplaintOut:
    return ComplaintOut.model_validate(row, from_attributes=True)


def team_out(row: Any) -> TeamOut:
    return TeamOut.model_validate(row, from_attributes=True)


# --- checks -------------------------------------------------------------------------------------


def require_known_codes(ctx: RequestContext, city: str, codes: list[str], field: str) -> None:
    """Every code must be in the city's service catalog; the error names the item."""
    for index, code in enumerate(codes):
        if not ctx.catalog.knows(city, code):
            raise ValidationError(f"{field}.{index}", f"unknown service code {code!r}")


def require_reader(caller: auth.Caller, volunteer_id: str, city: str) -> None:
    """A volunteer reads only itself; other roles read the volunteers of their city."""
    if auth.VOLUNTEER in caller.roles and caller.sub == volunteer_id:
        return
    if caller.roles - {auth.VOLUNTEER}:
        auth.require_city(caller, city)
        return
    raise Forbidden("a volunteer token reads only its own volunteer id")


def _locked_volunteer(uow: Any, volunteer_id: str) -> Volunteer:
    """The volunteer row, locked for this transaction (PostgreSQL; SQLite writers are serial)."""
    row = uow.session.get(Volunteer, volunteer_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return row


def _standing(row: Volunteer) -> domain.Standing:
    return domain.Standing(row.status, row.suspended_until, row.cards)


def _apply_standing(uow: Any, row: Volunteer, standing: domain.Standing, now: datetime) -> None:
    row.status, row.suspended_until, row.cards = (
        standing.status,
        standing.suspended_until,
        standing.cards,
    )
    row.version += 1
    row.updated_at = now
    uow.session.flush()
    uow.session.execute(
        update(skills_t).where(skills_t.c.volunteer_id == row.id).values(status=row.status)
    )


def _write_skills(uow: Any, row: Volunteer) -> None:
    """Rewrite the volunteer's skill rows (skills, place and status copied for the index)."""
    uow.session.flush()
    uow.session.execute(delete(skills_t).where(skills_t.c.volunteer_id == row.id))
    if row.skills:
        uow.session.execute(insert(skills_t), skill_rows(row))


def skill_rows(row: Any) -> list[dict[str, Any]]:
    return [
        {
            "volunteer_id": row.id,
            "skill": skill,
            "city": row.city,
            "status": row.status,
            "lat": row.lat,
            "lon": row.lon,
            "geocell": row.geocell,
        }
        for skill in row.skills
    ]


def duplicate_phone(phone: str, city: str) -> Conflict:
    return Conflict(f"phone {mask_phone(phone)} is already registered in {city}")


# --- registration and profiles ------------------------------------------------------------------


def volunteer_row(volunteer: VolunteerIn, now: datetime) -> dict[str, Any]:
    """The columns of a new volunteer from validated input (shared with the bulk import)."""
    location = volunteer.location
    return {
        "id": ids.new_id(volunteer.city, "vol"),
        "city": volunteer.city,
        "name": volunteer.name,
        "phone": volunteer.phone,
        "district": volunteer.district,
        "community": volunteer.community,
        "is_party_member": volunteer.is_party_member,
        "party_branch": volunteer.party_branch,
        "skills": list(volunteer.skills),
        "availability": [w.model_dump() for w in volunteer.availability],
        "lat": location.lat if location else None,
        "lon": location.lon if location else None,
        "geocell": geo.geocell(location.lat, location.lon) if location else None,
        "status": domain.ACTIVE,
        "suspended_until": None,
        "cards": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def register(ctx: RequestContext, volunteer: VolunteerIn) -> VolunteerOut:
    auth.require_city(ctx.caller, volunteer.city, roles=REGISTRARS)
    ctx.require_served(volunteer.city, "volunteer")
    require_known_codes(ctx, volunteer.city, volunteer.skills, "volunteer.skills")
    values = volunteer_row(volunteer, clock.utcnow())
    row = Volunteer(**values)  # the new record, to shape the event and the reply
    with ctx.uow() as uow:
        # Core, not the ORM unit of work: one cached INSERT per table on the hot path.
        with uow.conflict_on(duplicate_phone(row.phone, row.city)):
            uow.session.execute(insert(volunteers_t), values)
        if row.skills:
            uow.session.execute(insert(skills_t), skill_rows(row))
        uow.emit("volunteer_registered", row.city, volunteer_event(row, teams=[]))
    # On the call's own log line (one line per registration: this is the hot path).
    ctx.bind(volunteer_id=row.id, city=row.city, masked_phone=mask_phone(row.phone))
    return volunteer_out(row, sees_phones(ctx.caller, row.city))


def get_volunteer(ctx: RequestContext, volunteer_id: str) -> VolunteerOut:
    city = ids.city_of(volunteer_id)
    require_reader(ctx.caller, volunteer_id, city)
    ctx.require_home(volunteer_id, "volunteer")
    with ctx.uow(readonly=True) as uow:
        row = uow.session.execute(
            select(volunteers_t).where(volunteers_t.c.id == volunteer_id)
        ).first()
    if row is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return volunteer_out(row, sees_phones(ctx.caller, city))


def update_volunteer(
    ctx: RequestContext, volunteer_id: str, changes: VolunteerChanges
) -> VolunteerOut:
    city = ids.city_of(volunteer_id)
    auth.require_acting_for(ctx.caller, volunteer_id, city)
    ctx.require_home(volunteer_id, "volunteer")
    fields = changes.model_fields_set
    if "skills" in fields:
        require_known_codes(ctx, city, changes.skills, "changes.skills")
    with ctx.uow() as uow:
        row = _locked_volunteer(uow, volunteer_id)
        for name in ("name", "phone", "district", "community", "is_party_member", "party_branch"):
            if name in fields:
                setattr(row, name, getattr(changes, name))
        if "is_party_member" in fields and not row.is_party_member and "party_branch" not in fields:
            row.party_branch = None
        if row.party_branch is not None and not row.is_party_member:
            raise ValidationError(
                "changes.party_branch", "party_branch is for party members (is_party_member true)"
            )
        if "skills" in fields:
            row.skills = list(changes.skills)
        if "location" in fields:
            loc = changes.location
            row.lat, row.lon = (loc.lat, loc.lon) if loc else (None, None)
            row.geocell = geo.geocell(loc.lat, loc.lon) if loc else None
        if "availability" in fields:
            row.availability = [w.model_dump() for w in changes.availability]
        row.version += 1
        row.updated_at = clock.utcnow()
        uow.flush_or_conflict(duplicate_phone(row.phone, row.city))
        if fields & {"skills", "location"}:
            _write_skills(uow, row)
        uow.emit("volunteer_updated", row.city, volunteer_event(row, teams=teams_of(uow, row.id)))
    ctx.log.info("volunteer_updated", volunteer_id=row.id, fields=sorted(fields))
    return volunteer_out(row, sees_phones(ctx.caller, row.city))


# --- finding volunteers -------------------------------------------------------------------------


def find_volunteers(
    ctx: RequestContext,
    city: str,
    skill: str | None,
    near: tuple[float, float] | None,
    radius_m: float | None,
    available_at: datetime | None,
    status: str,
    limit: int,
    cursor: str | None,
) -> Page[FoundVolunteerOut]:
    auth.require_city(ctx.caller, city, roles=FINDERS)
    ctx.require_served(city, "volunteer")
    if skill is not None:
        require_known_codes(ctx, city, [skill], "skill")
    if radius_m is not None and near is None:
        raise ValidationError("radius_m", "needs near")
    admin = sees_phones(ctx.caller, city)
    with ctx.uow(readonly=True) as uow:
        if near is not None:
            radius = float(radius_m or ctx.settings.DEFAULT_NEAR_RADIUS_M)
            after = decode_cursor(cursor, (float, str))
            found, next_key = search_near(
                uow.session,
                city,
                skill,
                status,
                near,
                radius,
                available_at,
                limit,
                (float(after[0]), after[1]) if after else None,
            )
            rows = load_volunteers(uow.session, [f.id for f in found])
            items = [volunteer_out(rows[f.id], admin, f.distance_m) for f in found]
        else:
            after = decode_cursor(cursor, (str,))
            found_rows, next_key = search_by_id(
                uow.session, city, skill, status, available_at, limit, after[0] if after else None
            )
            items = [volunteer_out(r, admin) for r in found_rows]
    next_cursor = encode_cursor(next_key) if next_key else None
    return Page[FoundVolunteerOut](items=items, next_cursor=next_cursor)


def load_volunteers(session: Any, volunteer_ids: list[str]) -> dict[str, Any]:
    if not volunteer_ids:
        return {}
    rows = session.execute(select(volunteers_t).where(volunteers_t.c.id.in_(volunteer_ids))).all()
    return {row.id: row for row in rows}


def nearby_query(
    city: str,
    skill: str | None,
    status: str,
    ranges: list[tuple[int, int]],
    with_availability: bool,
) -> Any:
    """Candidates in the geocell ranges: (id, lat, lon[, availability]), by index range scans."""
    if skill is None:
        columns = [volunteers_t.c.id, volunteers_t.c.lat, volunteers_t.c.lon]
        if with_availability:
            columns.append(volunteers_t.c.availability)
        return select(*columns).where(
            geo.within_cells(
                volunteers_t.c.geocell,
                ranges,
                volunteers_t.c.city == city,
                volunteers_t.c.status == status,
            )
        )
    columns = [skills_t.c.volunteer_id.label("id"), skills_t.c.lat, skills_t.c.lon]
    query = select(*columns).where(
        geo.within_cells(
            skills_t.c.geocell,
            ranges,
            skills_t.c.city == city,
            skills_t.c.skill == skill,
            skills_t.c.status == status,
        )
    )
    if with_availability:
        # A per-candidate primary-key lookup, not a join: a join lets PostgreSQL's planner pick a
        # hash join over the whole volunteers table when its estimates drift.
        availability = (
            select(volunteers_t.c.availability)
            .where(volunteers_t.c.id == skills_t.c.volunteer_id)
            .scalar_subquery()
            .label("availability")
        )
        query = query.add_columns(availability)
    return query


def search_near(
    session: Any,
    city: str,
    skill: str | None,
    status: str,
    near: tuple[float, float],
    radius_m: float,
    available_at: datetime | None,
    limit: int,
    after: tuple[float, str] | None,
) -> tuple[list[domain.Found], list[Any] | None]:
    """One page of volunteers within ``radius_m`` of ``near``, nearest first.

    The circle searched grows from just past the previous page until it holds a full page (or
    reaches ``radius_m``): every volunteer inside a searched circle is measured, so the page is
    exactly the next ``limit`` in (distance, id) order, and the work is proportional to how far
    the caller has paged, not to the size of the city.
    """
    lat, lon = near
    radius = domain.first_radius(after[0] if after else None, limit, radius_m)
    while True:
        ranges = geo.covering_ranges(lat, lon, radius)
        candidates = session.execute(
            nearby_query(city, skill, status, ranges, available_at is not None)
        ).all()
        found = domain.measure(candidates, lat, lon, radius, after, available_at)
        if len(found) > limit or radius >= radius_m:
            break
        radius = domain.next_radius(radius, len(found), limit + 1, radius_m)
    if len(found) > limit:
        found = found[:limit]
        return found, [found[-1].distance_m, found[-1].id]
    return found, None


def by_id_query(city: str, skill: str | None, status: str) -> tuple[Any, Any]:
    """Volunteers in id order (and the key column to resume after), by an index in that order."""
    if skill is None:
        query = select(volunteers_t).where(
            volunteers_t.c.city == city, volunteers_t.c.status == status
        )
        key = volunteers_t.c.id
    else:
        query = (
            select(volunteers_t)
            .join(skills_t, skills_t.c.volunteer_id == volunteers_t.c.id)
            .where(skills_t.c.city == city, skills_t.c.skill == skill, skills_t.c.status == status)
        )
        key = skills_t.c.volunteer_id
    return query.order_by(key), key


def search_by_id(
    session: Any,
    city: str,
    skill: str | None,
    status: str,
    available_at: datetime | None,
    limit: int,
    after_id: str | None,
) -> tuple[list[Any], list[Any] | None]:
    """One page in id order. With ``available_at`` (a rule, not a column) a bounded scan is
    filtered and the cursor resumes it, so a page may hold fewer than ``limit`` items while
    ``next_cursor`` is not null."""
    query, key = by_id_query(city, skill, status)

    def rows_after(last: str | None, count: int) -> list[Any]:
        q = query if last is None else query.where(key > last)
        return session.execute(q.limit(count)).all()

    if available_at is None:
        rows = rows_after(after_id, limit + 1)
        if len(rows) > limit:
            return rows[:limit], [rows[limit - 1].id]
        return rows, None
    items: list[Any] = []
    last, scanned, exhausted = after_id, 0, False
    while len(items) < limit and scanned < AVAILABLE_SCAN_LIMIT and not exhausted:
        batch = rows_after(last, AVAILABLE_BATCH)
        exhausted = len(batch) < AVAILABLE_BATCH
        for row in batch:
            last, scanned = row.id, scanned + 1
            if is_open_at(row.availability or [], available_at):
                items.append(row)
                if len(items) == limit:
                    exhausted = exhausted and row is batch[-1]
                    break
    return items, (None if exhausted or last is None else [last])


# --- teams --------------------------------------------------------------------------------------


def create_team(ctx: RequestContext, city: str, team: TeamIn) -> TeamOut:
    auth.require_city(ctx.caller, city, roles=ADMINS)
    ctx.require_served(city, "team")
    require_known_codes(ctx, city, [team.specialty], "team.specialty")
    row = Team(
        id=ids.new_id(city, "team"),
        city=city,
        name=team.name,
        specialty=team.specialty,
        members=0,
        created_at=clock.utcnow(),
    )
    with ctx.uow() as uow:
        uow.session.add(row)
    return team_out(row)


def _home_team(uow: Any, team_id: str, lock: bool = False) -> Team:
    team = uow.session.get(Team, team_id, with_for_update=lock)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team


def join_team(ctx: RequestContext, team_id: str, volunteer_id: str, relation: str) -> MembershipOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(team_id, "team")
    ctx.require_home(volunteer_id, "volunteer")
    now = clock.utcnow()
    with ctx.uow() as uow:
        team = _home_team(uow, team_id, lock=True)
        volunteer = _locked_volunteer(uow, volunteer_id)
        if volunteer.status == domain.REMOVED:
            raise Suspended(f"volunteer {volunteer_id} has been removed")
        current = uow.session.execute(
            select(members_t.c.team_id, members_t.c.relation).where(
                members_t.c.volunteer_id == volunteer_id,
                or_(members_t.c.team_id == team_id, members_t.c.relation == "organization"),
            )
        ).all()
        for member in current:
            if member.team_id == team_id:
                raise Conflict(f"volunteer {volunteer_id} is already a member of {team_id}")
        if relation == "organization" and current:
            raise Conflict(
                f"volunteer {volunteer_id} already belongs to organisation team {current[0].team_id}"
            )
        duplicate = Conflict(
            f"volunteer {volunteer_id} is already a member of {team_id} or of an organisation team"
        )
        with uow.conflict_on(duplicate):
            uow.session.execute(
                insert(members_t).values(
                    team_id=team_id, volunteer_id=volunteer_id, relation=relation, joined_at=now
                )
            )
        team.members += 1
        _membership_changed(uow, volunteer, now)
    return MembershipOut(
        team_id=team_id, volunteer_id=volunteer_id, relation=relation, joined_at=now
    )


def leave_team(ctx: RequestContext, team_id: str, volunteer_id: str) -> TeamOut:
    auth.require_acting_for(ctx.caller, volunteer_id, ids.city_of(volunteer_id))
    ctx.require_home(team_id, "team")
    with ctx.uow() as uow:
        team = _home_team(uow, team_id, lock=True)
        gone = uow.session.execute(
            delete(members_t).where(
                members_t.c.team_id == team_id, members_t.c.volunteer_id == volunteer_id
            )
        ).rowcount
        if not gone:
            raise Conflict(f"volunteer {volunteer_id} is not a member of {team_id}")
        team.members -= 1
        volunteer = uow.session.get(Volunteer, volunteer_id, with_for_update=True)
        if volunteer is not None:
            _membership_changed(uow, volunteer, clock.utcnow())
    return team_out(team)


def _membership_changed(uow: Any, volunteer: Volunteer, now: datetime) -> None:
    """A join or leave is a change of the volunteer: bump its version and tell the others
    (``volunteer_updated`` carries the teams; points ranks by team from it)."""
    volunteer.version += 1
    volunteer.updated_at = now
    uow.session.flush()
    uow.emit(
        "volunteer_updated",
        volunteer.city,
        volunteer_event(volunteer, reason="teams", teams=teams_of(uow, volunteer.id)),
    )


def list_members(
    ctx: RequestContext, team_id: str, limit: int, cursor: str | None
) -> Page[MemberOut]:
    ctx.require_home(team_id, "team")
    after = decode_cursor(cursor, (str,))
    with ctx.uow(readonly=True) as uow:
        if uow.session.get(Team, team_id) is None:
            raise NotFound(f"no team {team_id}")
        query = (
            select(
                members_t.c.team_id,
                members_t.c.volunteer_id,
                members_t.c.relation,
                members_t.c.joined_at,
                volunteers_t.c.name,
                volunteers_t.c.status,
            )
            .join(volunteers_t, volunteers_t.c.id == members_t.c.volunteer_id)
            .where(members_t.c.team_id == team_id)
            .order_by(members_t.c.volunteer_id)
            .limit(limit + 1)
        )
        if after:
            query = query.where(members_t.c.volunteer_id > str(after[0]))
        rows = uow.session.execute(query).all()
    items, next_cursor = page(rows, limit, lambda r: [r.volunteer_id])
    return Page[MemberOut](
        items=[MemberOut.model_validate(r, from_attributes=True) for r in items],
        next_cursor=next_cursor,
    )


# --- commitments --------------------------------------------------------------------------------


def make_commitment(
    ctx: RequestContext, volunteer_id: str, commitment: CommitmentIn
) -> CommitmentOut:
    city = ids.city_of(volunteer_id)
    auth.require_acting_for(ctx.caller, volunteer_id, city)
    ctx.require_home(volunteer_id, "volunteer")
    with ctx.uow() as uow:
        volunteer = uow.session.get(Volunteer, volunteer_id)
        if volunteer is None:
            raise NotFound(f"no volunteer {volunteer_id}")
        row = Commitment(
            id=ids.new_id(city, "cmt"),
            volunteer_id=volunteer_id,
            city=volunteer.city,
            year=commitment.year,
            text=commitment.text,
            created_at=clock.utcnow(),
        )
        uow.session.add(row)
        uow.flush_or_conflict(
            Conflict(f"volunteer {volunteer_id} has already made a commitment for {row.year}")
        )
        name = volunteer.name
    return CommitmentOut(
        id=row.id,
        volunteer_id=row.volunteer_id,
        volunteer_name=name,
        city=row.city,
        year=row.year,
        text=row.text,
        created_at=row.created_at,
    )


def list_commitments(
    ctx: RequestContext, city: str, year: int, limit: int, cursor: str | None
) -> Page[CommitmentOut]:
    ctx.require_served(city, "commitment")
    after = decode_cursor(cursor, (str,))
    query = (
        select(commitments_t, volunteers_t.c.name.label("volunteer_name"))
        .join(volunteers_t, volunteers_t.c.id == commitments_t.c.volunteer_id)
        .where(commitments_t.c.city == city, commitments_t.c.year == year)
        .order_by(commitments_t.c.id)
        .limit(limit + 1)
    )
    if after:
        query = query.where(commitments_t.c.id > str(after[0]))
    with ctx.uow(readonly=True) as uow:
        rows = uow.session.execute(query).all()
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[CommitmentOut](
        items=[CommitmentOut.model_validate(r, from_attributes=True) for r in items],
        next_cursor=next_cursor,
    )


# --- discipline ---------------------------------------------------------------------------------


def record_complaint(
    ctx: RequestContext,
    volunteer_id: str,
    complaint: ComplaintIn,
    complaint_id: str | None = None,
) -> ComplaintOut:
    city = ids.city_of(volunteer_id)
    auth.require_city(ctx.caller, city, roles=REGISTRARS)
    ctx.require_home(volunteer_id, "volunteer")
    if complaint_id is not None and (
        ids.city_of(complaint_id) != city or ids.kind_of(complaint_id) != "cmp"
    ):
        raise ValidationError("complaint_id", f"must be a complaint id of city '{city}' (cmp)")
    with ctx.uow() as uow:
        if uow.session.get(Volunteer, volunteer_id) is None:
            raise NotFound(f"no volunteer {volunteer_id}")
        if complaint_id is not None:
            earlier = uow.session.get(Complaint, complaint_id)
            if earlier is not None:
                if earlier.volunteer_id != volunteer_id:
                    raise Conflict(f"complaint {complaint_id} is about another volunteer")
                return complaint_out(earlier)  # a retry: the complaint recorded first
        row = Complaint(
            id=complaint_id or ids.new_id(city, "cmp"),
            volunteer_id=volunteer_id,
            city=city,
            reason=complaint.reason,
            source=complaint.source,
            status=domain.OPEN,
            level=None,
            created_at=clock.utcnow(),
            decided_at=None,
        )
        uow.session.add(row)
        uow.flush_or_conflict(Conflict(f"complaint {row.id} is being recorded"))
    ctx.log.info("complaint_recorded", complaint_id=row.id, volunteer_id=volunteer_id)
    return complaint_out(row)


def _open_complaint(uow: Any, complaint_id: str) -> Complaint:
    row = uow.session.get(Complaint, complaint_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no complaint {complaint_id}")
    try:
        domain.decide(row.status)
    except domain.TransitionError as exc:
        raise Conflict(f"complaint {complaint_id}: {exc}") from None
    return row


def uphold_complaint(ctx: RequestContext, complaint_id: str) -> ComplaintOut:
    auth.require_city(ctx.caller, ids.city_of(complaint_id), roles=ADMINS)
    ctx.require_home(complaint_id, "complaint")
    now = clock.utcnow()
    with ctx.uow() as uow:
        complaint = _open_complaint(uow, complaint_id)
        volunteer = _locked_volunteer(uow, complaint.volunteer_id)
        try:
            sanction = domain.uphold(_standing(volunteer), now)
        except domain.TransitionError as exc:
            raise Conflict(f"volunteer {volunteer.id}: {exc}") from None
        complaint.status, complaint.level, complaint.decided_at = domain.UPHELD, sanction.level, now
        _apply_standing(uow, volunteer, sanction.standing, now)
        uow.emit(
            "complaint_upheld",
            volunteer.city,
            ComplaintUpheld(
                complaint_id=complaint.id,
                volunteer_id=volunteer.id,
                city=volunteer.city,
                level=sanction.level,
                cards=volunteer.cards,
            ),
        )
        uow.emit(
            sanction.event_type,
            volunteer.city,
            volunteer_event(volunteer, reason=sanction.level, teams=teams_of(uow, volunteer.id)),
        )
    ctx.log.info(
        "complaint_upheld",
        complaint_id=complaint_id,
        volunteer_id=volunteer.id,
        level=sanction.level,
        status=volunteer.status,
    )
    return complaint_out(complaint)


def dismiss_complaint(ctx: RequestContext, complaint_id: str) -> ComplaintOut:
    auth.require_city(ctx.caller, ids.city_of(complaint_id), roles=ADMINS)
    ctx.require_home(complaint_id, "complaint")
    with ctx.uow() as uow:
        complaint = _open_complaint(uow, complaint_id)
        complaint.status, complaint.decided_at = domain.DISMISSED, clock.utcnow()
    return complaint_out(complaint)


def reinstate(ctx: RequestContext, volunteer_id: str) -> VolunteerOut:
    city = ids.city_of(volunteer_id)
    auth.require_city(ctx.caller, city, roles=ADMINS)
    ctx.require_home(volunteer_id, "volunteer")
    now = clock.utcnow()
    with ctx.uow() as uow:
        row = _locked_volunteer(uow, volunteer_id)
        try:
            standing = domain.reinstate(_standing(row))
        except domain.TransitionError as exc:
            raise Conflict(f"volunteer {volunteer_id}: {exc}") from None
        _apply_standing(uow, row, standing, now)
        uow.emit(
            "volunteer_reinstated",
            row.city,
            volunteer_event(row, reason="reinstated", teams=teams_of(uow, row.id)),
        )
    ctx.log.info("volunteer_reinstated", volunteer_id=volunteer_id, by="admin")
    return volunteer_out(row, sees_phones(ctx.caller, city))


# The partial index ``ix_volunteers_suspension_due`` is used only when the query repeats its
# condition literally (SQLite cannot match a bound parameter to an index's WHERE clause).
SUSPENDED_LITERAL = text("volunteers.status = 'suspended'")


def due_suspensions(session: Any, now: datetime, limit: int) -> list[str]:
    return list(
        session.execute(
            select(volunteers_t.c.id)
            .where(SUSPENDED_LITERAL, volunteers_t.c.suspended_until <= now)
            .order_by(volunteers_t.c.suspended_until)
            .limit(limit)
        ).scalars()
    )


def reinstate_due(ctx: RequestContext) -> int:
    """End every suspension whose ``suspended_until`` has passed; how many were ended."""
    now = clock.utcnow()
    batch = ctx.settings.REINSTATE_BATCH
    with ctx.uow(readonly=True) as uow:
        due = due_suspensions(uow.session, now, batch)
    if not due:
        return 0
    ended = []
    with ctx.uow() as uow:
        rows = (
            uow.session.execute(
                select(Volunteer)
                .where(Volunteer.id.in_(due))
                .order_by(Volunteer.id)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        for row in rows:
            if not domain.suspension_due(_standing(row), now):
                continue  # reinstated meanwhile (an admin, or another replica's timer)
            _apply_standing(uow, row, domain.reinstate(_standing(row)), now)
            uow.emit(
                "volunteer_reinstated",
                row.city,
                volunteer_event(row, reason="suspension_ended", teams=teams_of(uow, row.id)),
            )
            ended.append(row.id)
    if ended:
        ctx.log.info("suspensions_ended", count=len(ended))
    return len(ended)
