"""The volunteers contract: arguments and results."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from pioneer.schemas import (
    CityName,
    Code,
    Input,
    LocalTime,
    Location,
    LocationOut,
    Output,
    RecurringWindowOut,
    Schedule,
    ShortText,
    SubjectId,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# Mainland China mobile numbers: 11 digits, 1 then 3-9.
Phone = Annotated[str, StringConstraints(pattern=r"^1[3-9][0-9]{9}$")]
# A person's name: Chinese names are 2-4 characters, minority and foreign names run longer.
PersonName = Annotated[
    str, StringConstraints(min_length=1, max_length=50), AfterValidator(_no_control_chars)
]
Skills = Annotated[list[Code], Field(max_length=30)]
Status = Literal["active", "suspended", "removed"]
Relation = Literal["organization", "activity"]
Year = Annotated[int, Field(ge=2000, le=2100)]
CommitmentText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_no_control_chars)
]
ComplaintReason = Annotated[
    str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_no_control_chars)
]
MAX_RADIUS_M = 50_000
Radius = (
    Annotated[int, Field(ge=1, le=MAX_RADIUS_M)] | Annotated[float, Field(ge=1, le=MAX_RADIUS_M)]
)


def _unique(values: list[str] | None, field: str) -> None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{field} must not repeat a code")


class VolunteerIn(Input):
    name: PersonName
    phone: Phone
    city: CityName
    district: ShortText
    community: ShortText
    is_party_member: bool = False
    party_branch: ShortText | None = None
    skills: Skills = []
    location: Location | None = None
    availability: Schedule = []

    @model_validator(mode="after")
    def _consistent(self) -> VolunteerIn:
        _unique(self.skills, "skills")
        if self.party_branch is not None and not self.is_party_member:
            raise ValueError("party_branch is for party members (is_party_member true)")
        return self


class VolunteerChanges(Input):
    """Fields to change; the city (and so the id), status and cards never change here."""

    name: PersonName | None = None
    phone: Phone | None = None
    district: ShortText | None = None
    community: ShortText | None = None
    is_party_member: bool | None = None
    party_branch: ShortText | None = None
    skills: Skills | None = None
    location: Location | None = None
    availability: Schedule | None = None

    @model_validator(mode="after")
    def _something(self) -> VolunteerChanges:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        nullable = {"party_branch", "location"}
        for name in self.model_fields_set - nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        _unique(self.skills, "skills")
        return self


class TeamIn(Input):
    name: ShortText
    specialty: Code


class CommitmentIn(Input):
    year: Year
    text: CommitmentText


class ComplaintIn(Input):
    reason: ComplaintReason
    # Where it came from: "hotline", "station", "request:<id>", "wish:<id>"...
    source: SubjectId


class VolunteerOut(Output):
    id: str
    name: str
    phone: str
    city: str
    district: str
    community: str
    is_party_member: bool
    party_branch: str | None
    skills: list[str]
    location: LocationOut | None
    availability: list[RecurringWindowOut]
    status: str
    suspended_until: LocalTime | None
    cards: int
    version: int
    created_at: LocalTime
    updated_at: LocalTime


class FoundVolunteerOut(VolunteerOut):
    distance_m: float | None = None


class TeamOut(Output):
    id: str
    city: str
    name: str
    specialty: str
    members: int
    created_at: LocalTime


class MembershipOut(Output):
    team_id: str
    volunteer_id: str
    relation: str
    joined_at: LocalTime


class MemberOut(MembershipOut):
    name: str
    status: str


class CommitmentOut(Output):
    id: str
    volunteer_id: str
    volunteer_name: str
    city: str
    year: int
    text: str
    created_at: LocalTime


class ComplaintOut(Output):
    id: str
    volunteer_id: str
    city: str
    reason: str
    source: str
    status: str
    level: str | None
    created_at: LocalTime
    decided_at: LocalTime | None


__all__ = [name for name in dir() if name[0].isupper()]
