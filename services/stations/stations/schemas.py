"""The stations contract: arguments and results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pioneer.schemas import (
    Code,
    Input,
    LocalTime,
    Location,
    LocationOut,
    Name,
    Output,
    RecurringWindowOut,
    Schedule,
    ShortText,
    Timestamp,
)

StationKind = Literal[
    "scenic_spot",
    "town",
    "village",
    "community",
    "business_district",
    "transport_hub",
    "market",
    "industrial_park",
]
ServiceCodes = Annotated[list[Code], Field(max_length=50)]
MAX_RADIUS_M = 50_000
# The kernel's Timestamp refuses values outside 2000-2200 (they overflow on the way to UTC).
Moment = Timestamp


def _unique(values: list[str] | None) -> list[str] | None:
    # A field validator, so the error's path names the list (``station.services``).
    if values is not None and len(set(values)) != len(values):
        raise ValueError("must not repeat a code")
    return values


class FiveHaves(Input):
    """The "five haves" standard: a venue; a name and identity; a fixed team; service projects;
    a working system."""

    venue: bool = False
    identity: bool = False
    team: bool = False
    projects: bool = False
    system: bool = False


class FiveHavesChanges(Input):
    venue: bool | None = None
    identity: bool | None = None
    team: bool | None = None
    projects: bool | None = None
    system: bool | None = None


class StationIn(Input):
    name: Name
    city: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    district: ShortText
    address: ShortText
    location: Location
    kind: StationKind
    services: ServiceCodes = []
    opening_hours: Schedule = []
    standard: FiveHaves = FiveHaves()

    @field_validator("services")
    @classmethod
    def _no_repeats(cls, services: list[str]) -> list[str] | None:
        return _unique(services)


class StationChanges(Input):
    """Fields to change; the city (and so the id) of a station never changes."""

    name: Name | None = None
    district: ShortText | None = None
    address: ShortText | None = None
    location: Location | None = None
    kind: StationKind | None = None
    services: ServiceCodes | None = None
    opening_hours: Schedule | None = None
    standard: FiveHavesChanges | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields given, so the error's path names the field (``changes.name``).
        if value is None:
            raise ValueError("cannot be null")
        return value

    @field_validator("services")
    @classmethod
    def _no_repeats(cls, services: list[str] | None) -> list[str] | None:
        return _unique(services)

    @model_validator(mode="after")
    def _something(self) -> StationChanges:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        return self


class PostIn(Input):
    title: ShortText
    category: Code
    capacity: Annotated[int, Field(ge=1, le=10_000)]


class ActivityIn(Input):
    title: ShortText
    category: Code
    starts_at: Moment
    ends_at: Moment
    points: Annotated[int, Field(ge=0, le=10_000)]
    capacity: Annotated[int, Field(ge=1, le=100_000)]

    @model_validator(mode="after")
    def _ordered(self) -> ActivityIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).days > 30:
            raise ValueError("an activity lasts at most 30 days")
        return self


CheckinCode = Annotated[str, Field(min_length=10, max_length=600, pattern=r"^[A-Za-z0-9._\-]+$")]
ValidMinutes = Annotated[int, Field(ge=1, le=24 * 60)]
Radius = (
    Annotated[int, Field(ge=1, le=MAX_RADIUS_M)] | Annotated[float, Field(ge=1, le=MAX_RADIUS_M)]
)


class StandardOut(Output):
    venue: bool
    identity: bool
    team: bool
    projects: bool
    system: bool


class StationOut(Output):
    id: str
    name: str
    city: str
    district: str
    address: str
    location: LocationOut
    kind: str
    services: list[str]
    opening_hours: list[RecurringWindowOut]
    standard: StandardOut
    meets_standard: bool
    created_at: LocalTime
    updated_at: LocalTime


class NearbyStationOut(StationOut):
    distance_m: float


class PostOut(Output):
    id: str
    station_id: str
    city: str
    title: str
    category: str
    capacity: int
    claimed: int
    available: int
    created_at: LocalTime


class ClaimOut(PostOut):
    """The post as it now is, with the volunteer the claim or release was about."""

    volunteer_id: str


class ActivityOut(Output):
    id: str
    station_id: str
    city: str
    title: str
    category: str
    starts_at: LocalTime
    ends_at: LocalTime
    points: int
    capacity: int
    checked_in: int
    created_at: LocalTime


class CheckinCodeOut(Output):
    code: str
    activity_id: str
    expires_at: LocalTime


class CheckinOut(Output):
    activity_id: str
    station_id: str
    volunteer_id: str
    points: int
    hours: float
    checked_in_at: LocalTime


__all__ = [name for name in dir() if name[0].isupper()] + ["datetime"]
