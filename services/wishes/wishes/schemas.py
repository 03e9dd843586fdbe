"""The wishes contract: arguments and results."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from pioneer.schemas import (
    Code,
    Input,
    LocalTime,
    Location,
    LocationOut,
    Name,
    Output,
    ShortText,
    Timestamp,
    _no_control_chars,
)

MAX_RADIUS_M = 50_000
Phone = Annotated[str, StringConstraints(pattern=r"^1[3-9][0-9]{9}$")]
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_no_control_chars)
]
Rating = Annotated[int, Field(ge=1, le=5)]
Radius = (
    Annotated[int, Field(ge=1, le=MAX_RADIUS_M)] | Annotated[float, Field(ge=1, le=MAX_RADIUS_M)]
)
WishStatus = Literal[
    "submitted", "published", "rejected", "claimed", "fulfilled", "closed", "cancelled", "expired"
]


class Beneficiary(Input):
    """The resident the wish is for; shown only to the claimer and the city's admins."""

    name: Name
    phone: Phone
    address: ShortText


class WishIn(Input):
    city: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    title: ShortText
    description: Text
    category: Code
    beneficiary: Beneficiary
    location: Location
    deadline: Timestamp


class FulfillmentIn(Input):
    note: Text


class ConfirmationIn(Input):
    rating: Rating
    feedback: Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_control_chars)]


Urgency = Literal["normal", "urgent", "emergency"]
RequestStatus = Literal[
    "new", "dispatched", "accepted", "completed", "closed", "unassigned", "cancelled"
]


class Requester(Input):
    """Who called the hotline; shown only to the city's staff and the assigned volunteer."""

    name: Name
    phone: Phone


class RequestIn(Input):
    city: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    service: Code
    description: Text
    location: Location
    address: ShortText
    requester: Requester
    urgency: Urgency = "normal"


class CompletionIn(Input):
    note: Text


class ComplaintIn(Input):
    reason: Text


class ComplaintFiledOut(Output):
    complaint_id: str


class RatingIn(ConfirmationIn):
    """``{rating 1..5, feedback}``."""


class BeneficiaryOut(Output):
    name: str
    phone: str
    address: str


class WishOut(Output):
    id: str
    city: str
    status: str
    title: str
    description: str
    category: str
    location: LocationOut
    deadline: LocalTime
    claimed_by: str | None
    claimed_at: LocalTime | None
    beneficiary: BeneficiaryOut | None
    fulfillment_note: str | None
    fulfilled_at: LocalTime | None
    rating: int | None
    feedback: str | None
    reason: str | None
    created_at: LocalTime
    updated_at: LocalTime


class NearbyWishOut(WishOut):
    distance_m: float


class RequesterOut(Output):
    name: str
    phone: str


class AttemptOut(Output):
    """One offer: ``outcome`` is ``offered`` (still open), ``accepted``, ``declined``,
    ``timed_out`` or ``withdrawn`` (another volunteer accepted first, or the request ended)."""

    volunteer_id: str
    outcome: str
    at: LocalTime
    distance_m: float


class RequestOut(Output):
    id: str
    city: str
    status: str
    service: str
    urgency: str
    description: str
    location: LocationOut
    address: str | None
    requester: RequesterOut | None
    offered_to: str | None
    offers: list[str]
    assigned_to: str | None
    attempts: list[AttemptOut]
    completion_note: str | None
    completed_at: LocalTime | None
    rating: int | None
    feedback: str | None
    reason: str | None
    created_at: LocalTime
    updated_at: LocalTime


__all__ = [name for name in dir() if name[0].isupper()]
