"""Registration and profiles: a new volunteer (one phone per city), reading one, changing one,
and the bulk import's batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer import auth, clock, geo, ids
from pioneer.catalog import Catalog
from pioneer.db import row_of, with_values
from pioneer.errors import Conflict, NotFound, ValidationError
from pioneer.logs import mask_phone

from .. import domain, presenters
from ..schemas import VolunteerChanges, VolunteerIn, VolunteerOut
from .changes import locked_volunteer, next_version

# Profile fields a change copies as given.
PROFILE_FIELDS = ("name", "phone", "district", "community", "is_party_member")


def duplicate_phone(phone: str, city: str) -> Conflict:
    """The refusal of a phone already registered in the city (the phone masked)."""
    return Conflict(f"phone {mask_phone(phone)} is already registered in {city}")


def new_volunteer(volunteer: VolunteerIn, now: datetime) -> dict[str, Any]:
    """The columns of a new volunteer from validated input: active, no cards, version 1."""
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


def register(
    uow: Any, catalog: Catalog, caller: auth.Caller, volunteer: VolunteerIn
) -> VolunteerOut:
    """A new volunteer with its skills indexed and ``volunteer_registered``; one phone per city."""
    catalog.require_known(volunteer.city, "volunteer.skills", volunteer.skills)
    values = new_volunteer(volunteer, clock.utcnow())
    row = row_of(values)
    with uow:
        if not uow.store.add_volunteer(values):
            raise duplicate_phone(row.phone, row.city)
        uow.emit("volunteer_registered", row.city, presenters.volunteer_event(row, teams=[]))
    return presenters.volunteer_out(row, presenters.sees_phones(caller, row.city))


def get_volunteer(uow: Any, caller: auth.Caller, volunteer_id: str) -> VolunteerOut:
    """One volunteer, its phone as the caller may see it."""
    with uow.reading() as store:
        row = store.volunteer(volunteer_id)
    if row is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return presenters.volunteer_out(row, presenters.sees_phones(caller, row.city))


def update_volunteer(
    uow: Any,
    catalog: Catalog,
    caller: auth.Caller,
    volunteer_id: str,
    changes: VolunteerChanges,
) -> VolunteerOut:
    """Apply the given changes; the version grows, the skill index follows the skills and the
    place, and ``volunteer_updated`` carries the volunteer as it now is."""
    fields = changes.model_fields_set
    if "skills" in fields:
        catalog.require_known(ids.city_of(volunteer_id), "changes.skills", changes.skills)
    with uow:
        row = locked_volunteer(uow.store, volunteer_id)
        values: dict[str, Any] = {
            name: getattr(changes, name) for name in PROFILE_FIELDS if name in fields
        }
        is_member = values.get("is_party_member", row.is_party_member)
        branch_given = "party_branch" in fields
        try:
            values["party_branch"] = domain.party_branch_after(
                is_member,
                changes.party_branch if branch_given else row.party_branch,
                "is_party_member" in fields,
                branch_given,
            )
        except domain.ProfileError as exc:
            raise ValidationError("changes.party_branch", str(exc)) from None
        if "skills" in fields:
            values["skills"] = list(changes.skills)
        if "location" in fields:
            loc = changes.location
            values["lat"], values["lon"] = (loc.lat, loc.lon) if loc else (None, None)
            values["geocell"] = geo.geocell(loc.lat, loc.lon) if loc else None
        if "availability" in fields:
            values["availability"] = [w.model_dump() for w in changes.availability]
        values.update(next_version(row, clock.utcnow()))
        if not uow.store.change_volunteer(volunteer_id, values):
            raise duplicate_phone(values["phone"], row.city)
        changed = with_values(row, values)
        if fields & {"skills", "location"}:
            uow.store.index_skills(changed)
        teams = uow.store.teams_of(volunteer_id)
        uow.emit("volunteer_updated", row.city, presenters.volunteer_event(changed, teams=teams))
    return presenters.volunteer_out(changed, presenters.sees_phones(caller, changed.city))


def import_batch(uow: Any, city: str, batch: list[VolunteerIn]) -> tuple[int, int]:
    """Register a batch of a city's spreadsheet in one transaction, each volunteer with its
    skills and ``volunteer_registered``; phones already registered in the city are skipped.
    (imported, already registered). A phone registered meanwhile fails the whole batch."""
    now = clock.utcnow()
    with uow:
        taken = uow.store.phones_registered(city, [v.phone for v in batch])
        rows = [new_volunteer(v, now) for v in batch if v.phone not in taken]
        uow.store.add_volunteers(rows)
        for values in rows:
            event = presenters.volunteer_event(row_of(values), teams=[])
            uow.emit("volunteer_registered", city, event)
    return len(rows), len(batch) - len(rows)
