"""``VolunteersStore`` in memory, for the use-case tests (``tests/unit/test_usecases.py``).

It keeps the same rows as the real store, as ``SimpleNamespace`` objects (handed out as copies,
as the database hands out rows), and answers the same questions. The rules the real store leaves
to the database (one phone per city, one membership per team, one organisation team, one
commitment a year) are kept the same way here, and searches by skill read the skill index, so a
use case that forgets to keep the index in step fails here as it would in production.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from volunteers.store import skill_rows


def _copy(row: SimpleNamespace | None) -> SimpleNamespace | None:
    return None if row is None else SimpleNamespace(**vars(row))


class FakeVolunteersStore:
    def __init__(self) -> None:
        self.volunteers: dict[str, SimpleNamespace] = {}
        self.skills: dict[str, list[dict[str, Any]]] = {}  # volunteer -> its skill index rows
        self.teams: dict[str, SimpleNamespace] = {}
        self.members: dict[tuple[str, str], SimpleNamespace] = {}  # (team, volunteer)
        self.commitments: dict[str, SimpleNamespace] = {}
        self.complaints: dict[str, SimpleNamespace] = {}

    # volunteers
    def volunteer(self, volunteer_id: str, for_update: bool = False) -> Any | None:
        return _copy(self.volunteers.get(volunteer_id))

    def volunteers_among(self, volunteer_ids: list[str]) -> dict[str, Any]:
        return {i: _copy(self.volunteers[i]) for i in volunteer_ids if i in self.volunteers}

    def _phone_taken(self, city: str, phone: str, other_than: str | None = None) -> bool:
        return any(
            v.city == city and v.phone == phone and v.id != other_than
            for v in self.volunteers.values()
        )

    def add_volunteer(self, values: dict[str, Any]) -> bool:
        if self._phone_taken(values["city"], values["phone"]):
            return False
        self.volunteers[values["id"]] = SimpleNamespace(**values)
        self.skills[values["id"]] = skill_rows(SimpleNamespace(**values))
        return True

    def add_volunteers(self, rows: list[dict[str, Any]]) -> None:
        for values in rows:
            assert self.add_volunteer(values), "the real store fails the batch here"

    def phones_registered(self, city: str, phones: list[str]) -> set[str]:
        return {p for p in phones if self._phone_taken(city, p)}

    def change_volunteer(self, volunteer_id: str, values: dict[str, Any]) -> bool:
        row = self.volunteers[volunteer_id]
        if "phone" in values and self._phone_taken(row.city, values["phone"], volunteer_id):
            return False
        vars(row).update(values)
        return True

    def index_skills(self, row: Any) -> None:
        self.skills[row.id] = skill_rows(row)

    def index_status(self, volunteer_id: str, status: str) -> None:
        for entry in self.skills.get(volunteer_id, []):
            entry["status"] = status

    def teams_of(self, volunteer_id: str) -> list[str]:
        return sorted(team for team, volunteer in self.members if volunteer == volunteer_id)

    # finding volunteers
    def _matching(self, city: str, skill: str | None, status: str) -> list[SimpleNamespace]:
        if skill is None:
            return [v for v in self.volunteers.values() if v.city == city and v.status == status]
        ids = {
            entry["volunteer_id"]
            for entries in self.skills.values()
            for entry in entries
            if (entry["city"], entry["skill"], entry["status"]) == (city, skill, status)
        }
        return [self.volunteers[i] for i in ids]

    def nearby_candidates(self, city, skill, status, ranges, with_availability) -> list[Any]:
        # Every located match is a candidate: ranking measures the distance exactly. The place
        # comes from the index row with a skill, as the real query reads it.
        found = []
        for volunteer in self._matching(city, skill, status):
            place = volunteer
            if skill is not None:
                place = SimpleNamespace(
                    **next(e for e in self.skills[volunteer.id] if e["skill"] == skill)
                )
            found.append(
                SimpleNamespace(
                    id=volunteer.id,
                    lat=place.lat,
                    lon=place.lon,
                    availability=volunteer.availability,
                )
            )
        return found

    def volunteers_page(self, city, skill, status, after_id, count) -> list[Any]:
        rows = sorted(self._matching(city, skill, status), key=lambda v: v.id)
        return [_copy(v) for v in rows if after_id is None or v.id > after_id][:count]

    # teams
    def team(self, team_id: str, for_update: bool = False) -> Any | None:
        return _copy(self.teams.get(team_id))

    def add_team(self, values: dict[str, Any]) -> None:
        self.teams[values["id"]] = SimpleNamespace(**values)

    def count_members(self, team_id: str, change: int) -> int:
        self.teams[team_id].members += change
        return self.teams[team_id].members

    def memberships(self, volunteer_id: str, team_id: str) -> list[Any]:
        return [
            SimpleNamespace(team_id=m.team_id, relation=m.relation)
            for m in self.members.values()
            if m.volunteer_id == volunteer_id
            and (m.team_id == team_id or m.relation == "organization")
        ]

    def add_member(self, values: dict[str, Any]) -> bool:
        key = (values["team_id"], values["volunteer_id"])
        second_organization = values["relation"] == "organization" and any(
            m.volunteer_id == values["volunteer_id"] and m.relation == "organization"
            for m in self.members.values()
        )
        if key in self.members or second_organization:
            return False
        self.members[key] = SimpleNamespace(**values)
        return True

    def remove_member(self, team_id: str, volunteer_id: str) -> bool:
        return self.members.pop((team_id, volunteer_id), None) is not None

    def members_page(self, team_id: str, after_id: str | None, count: int) -> list[Any]:
        rows = []
        for (team, volunteer_id), member in sorted(self.members.items()):
            if team == team_id and (after_id is None or volunteer_id > after_id):
                volunteer = self.volunteers[volunteer_id]
                rows.append(
                    SimpleNamespace(**vars(member), name=volunteer.name, status=volunteer.status)
                )
        return sorted(rows, key=lambda r: r.volunteer_id)[:count]

    # commitments
    def add_commitment(self, values: dict[str, Any]) -> bool:
        if any(
            (c.volunteer_id, c.year) == (values["volunteer_id"], values["year"])
            for c in self.commitments.values()
        ):
            return False
        self.commitments[values["id"]] = SimpleNamespace(**values)
        return True

    def commitments_page(self, city, year, after_id, count) -> list[Any]:
        rows = [
            SimpleNamespace(**vars(c), volunteer_name=self.volunteers[c.volunteer_id].name)
            for _, c in sorted(self.commitments.items())
            if c.city == city and c.year == year and (after_id is None or c.id > after_id)
        ]
        return rows[:count]

    # complaints and suspensions
    def complaint(self, complaint_id: str, for_update: bool = False) -> Any | None:
        return _copy(self.complaints.get(complaint_id))

    def add_complaint(self, values: dict[str, Any]) -> bool:
        if values["id"] in self.complaints:
            return False
        self.complaints[values["id"]] = SimpleNamespace(**values)
        return True

    def change_complaint(self, complaint_id: str, values: dict[str, Any]) -> None:
        vars(self.complaints[complaint_id]).update(values)

    def due_suspensions(self, now: datetime, limit: int) -> list[str]:
        due = [
            v
            for v in self.volunteers.values()
            if v.status == "suspended" and v.suspended_until and v.suspended_until <= now
        ]
        return [v.id for v in sorted(due, key=lambda v: v.suspended_until)][:limit]

    def lock_volunteers(self, volunteer_ids) -> list[Any]:
        return [_copy(self.volunteers[i]) for i in sorted(volunteer_ids) if i in self.volunteers]
