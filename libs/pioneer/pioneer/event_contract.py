"""The event contract (the published language): the data of every event type.

Producers build ``data`` from these models and consumers read it through them
(``pioneer.events.read_data``), so an event's shape is defined once, here, and ``DATA_OF``
names the model of every event type. Event data carries what its consumers use and no personal
detail: no volunteer's name, phone, community, party membership or availability, and never a
beneficiary's or requester's contacts. The API reference (``docs/api``) lists each event's
fields and consumers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from . import ids
from .events import EventData
from .schedule import ScheduleError, parse_hhmm, parse_rule

# Every number an event carries is bounded, so a forged or broken one cannot mint points,
# push a version out of reach or overflow a column; every id is a record id.
RecordId = Annotated[str, StringConstraints(pattern=ids.ID_PATTERN)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=64)]  # as the envelope's
City = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
ActivityPoints = Annotated[int, Field(ge=0, le=10_000)]  # as stations' create_activity allows
Hours = Annotated[float, Field(ge=0, le=720, allow_inf_nan=False)]  # an activity is <= 30 days
Cards = Annotated[int, Field(ge=0, le=3)]
ServiceCode = Annotated[str, StringConstraints(max_length=64)]
ReasonCode = Annotated[str, StringConstraints(max_length=64)]
Rating = Annotated[int, Field(ge=1, le=5)]
PointsDelta = Annotated[int, Field(ge=-10_000_000, le=10_000_000)]
Balance = Annotated[int, Field(ge=0, le=2**31 - 1)]


def _homed(record_id: str, city: str, what: str) -> None:
    if ids.city_of(record_id) != city:
        raise ValueError(f"{what} {record_id} is not a record of {city}")


class Point(EventData):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


def _checked_window(entry: dict[str, str]) -> dict[str, str]:
    # The same structural check as the edge (not its horizon: see ``schedule``), so a rule no
    # evaluation could bound is parked, not stored.
    try:
        parse_rule(entry["rrule"])
        parse_hhmm(entry["start"])
        parse_hhmm(entry["end"])
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]} is required") from None
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return entry


# Opening hours or availability as events carry them: ``{"rrule", "start", "end"}`` entries.
ScheduleData = list[Annotated[dict[str, str], AfterValidator(_checked_window)]]


# --- volunteers -------------------------------------------------------------------------------

VolunteerStatus = Literal["active", "suspended", "removed"]


class VolunteerChanged(EventData):
    """``volunteer_registered``, ``_updated``, ``_suspended``, ``_reinstated``, ``_removed``.

    What the replicas use and nothing more: standing (``status``, ``suspended_until``,
    ``cards``, and the ``reason`` code of a discipline change), ``skills`` and ``location`` for
    dispatch and the service circle, ``teams`` for points' team rankings. The volunteer's name,
    phone, district, community, party membership and availability stay in the volunteers
    service (``get_volunteer``, scoped by role): they reach no queue and no federated city.
    ``version`` grows with every change of the volunteer, so a replica applies an event only if
    it is newer than what it holds (events may arrive out of order).
    """

    volunteer_id: RecordId
    city: City
    version: Version
    status: VolunteerStatus
    suspended_until: datetime | None = None
    cards: Cards = 0
    skills: Annotated[list[ServiceCode], Field(max_length=100)] = []
    location: Point | None = None
    reason: ReasonCode | None = None
    # The ids of the teams the volunteer belongs to (``None``: not told, from older producers).
    teams: Annotated[list[RecordId], Field(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _of_its_city(self) -> VolunteerChanged:
        _homed(self.volunteer_id, self.city, "volunteer")
        return self


class ComplaintUpheld(EventData):
    """``complaint_upheld``: a complaint about a volunteer was upheld; ``level`` is the rung of
    the ladder it reached and ``cards`` the volunteer's count of upheld complaints."""

    complaint_id: RecordId
    volunteer_id: RecordId
    city: City
    level: Literal["warning", "yellow_card", "red_card"]
    cards: Cards

    @model_validator(mode="after")
    def _of_its_city(self) -> ComplaintUpheld:
        _homed(self.volunteer_id, self.city, "volunteer")
        return self


# --- notify -----------------------------------------------------------------------------------


class NotificationDelivered(EventData):
    """``notification_sent`` and ``notification_failed``.

    One event per push-channel delivery (``webhook``, ``sms``, ``wechat``) that was sent or
    dead-lettered, with its ``notification_id`` and ``recipient_id``. Inbox rows are stored in
    bulk: one ``notification_sent`` per source event and batch with ``channel`` ``inbox`` and
    ``count`` (``notification_id``/``recipient_id`` only when the batch holds one row). No title
    or body travels: consumers fetch what they may see through ``inbox``.
    """

    source_event_id: str
    city: City
    kind: str
    subject_id: str
    channel: str
    count: Count = 1
    notification_id: str | None = None
    recipient_id: str | None = None
    attempts: Count = 0
    error: str | None = None


# --- stations ---------------------------------------------------------------------------------


class StationChanged(EventData):
    """``station_created`` and ``station_updated``: the station as it now is (for replicas)."""

    station_id: RecordId
    city: City
    name: str
    district: str
    address: str
    location: Point
    kind: str
    services: list[str]
    opening_hours: ScheduleData
    standard: dict[str, bool]
    meets_standard: bool
    version: Version

    @model_validator(mode="after")
    def _of_its_city(self) -> StationChanged:
        _homed(self.station_id, self.city, "station")
        return self


class PostClaimChanged(EventData):
    """``post_claimed`` and ``post_released``."""

    post_id: RecordId
    station_id: RecordId
    volunteer_id: RecordId
    volunteer_city: City
    claimed: Count
    capacity: Count


class ActivityCreated(EventData):
    """``activity_created``: an activity of a station, open for check-in by QR code."""

    activity_id: RecordId
    station_id: RecordId
    title: str
    category: str
    starts_at: datetime
    ends_at: datetime
    points: ActivityPoints
    capacity: Count


class VolunteerCheckedIn(EventData):
    """``volunteer_checked_in``: a volunteer (of any city) checked in to an activity; points
    credits ``points`` and ``hours`` to the volunteer's home city."""

    activity_id: RecordId
    station_id: RecordId
    volunteer_id: RecordId
    volunteer_city: City
    hours: Hours
    points: ActivityPoints
    checked_in_at: datetime | None = None

    @model_validator(mode="after")
    def _of_its_cities(self) -> VolunteerCheckedIn:
        _homed(self.volunteer_id, self.volunteer_city, "volunteer")
        _homed(self.station_id, ids.city_of(self.activity_id), "station")
        return self


# --- wishes -----------------------------------------------------------------------------------


class WishChanged(EventData):
    """Every ``wish_*`` event: the wish as it now is, never the beneficiary's contact details.

    ``volunteer_id`` and ``volunteer_city`` name the volunteer the change is about (the claimer,
    the one releasing, the one whose work was confirmed in ``wish_closed``), or are null.
    """

    wish_id: RecordId
    city: City
    status: str
    title: str
    category: str
    location: Point
    deadline: datetime
    volunteer_id: RecordId | None = None
    volunteer_city: City | None = None
    reason: Text | None = None
    rating: Rating | None = None
    version: Version

    @model_validator(mode="after")
    def _of_its_city(self) -> WishChanged:
        _homed(self.wish_id, self.city, "wish")
        if self.volunteer_id is not None and self.volunteer_city is not None:
            _homed(self.volunteer_id, self.volunteer_city, "volunteer")
        return self


class RequestChanged(EventData):
    """Every ``request_*`` event: the request as it now is, never the requester's name, phone or
    address. ``offered_to`` lists the volunteers holding an open offer; ``volunteer_id`` and
    ``volunteer_city`` name the volunteer the change is about (who accepted, declined or did the
    work in ``request_completed``), or are null."""

    request_id: RecordId
    city: City
    status: str
    service: str
    urgency: str
    location: Point
    offered_to: Annotated[list[RecordId], Field(max_length=100)] = []
    volunteer_id: RecordId | None = None
    volunteer_city: City | None = None
    attempts: Count = 0
    reason: Text | None = None
    rating: Rating | None = None
    version: Version

    @model_validator(mode="after")
    def _of_its_city(self) -> RequestChanged:
        _homed(self.request_id, self.city, "request")
        if self.volunteer_id is not None and self.volunteer_city is not None:
            _homed(self.volunteer_id, self.volunteer_city, "volunteer")
        return self


class ComplaintFiled(EventData):
    """``complaint_filed``: a complaint about a request's assigned volunteer, kept by wishes
    until the volunteers service has recorded it under ``complaint_id``."""

    complaint_id: RecordId
    request_id: RecordId
    city: City
    volunteer_id: RecordId
    volunteer_city: City

    @model_validator(mode="after")
    def _of_its_cities(self) -> ComplaintFiled:
        _homed(self.request_id, self.city, "request")
        _homed(self.volunteer_id, self.volunteer_city, "volunteer")
        return self


# --- points -----------------------------------------------------------------------------------


class PointsChanged(EventData):
    """``points_awarded``, ``points_redeemed``, ``points_reversed``: one ledger entry and the
    volunteer's balance after it. ``city`` is the volunteer's home city, where points are kept."""

    entry_id: RecordId
    volunteer_id: RecordId
    city: City
    delta: PointsDelta
    reason: Text
    balance: Balance
    at: datetime
    source_event_id: EventId | None = None
    redemption_id: RecordId | None = None
    item_id: RecordId | None = None
    item_name: Text | None = None
    quantity: Annotated[int, Field(ge=1, le=1000)] | None = None
    # Optional additions by the points service: the entry's kind (``checkin``, ``wish``,
    # ``request``, ``rating_bonus``, ``adjust``, ``redeem``, ``reverse``) and whether it counts
    # towards rankings (earnings and adjustments do; redemptions and their reversals do not).
    kind: Annotated[str, StringConstraints(max_length=32)] | None = None
    ranked: bool | None = None

    @model_validator(mode="after")
    def _of_its_city(self) -> PointsChanged:
        _homed(self.volunteer_id, self.city, "volunteer")
        return self


# --- every event type -------------------------------------------------------------------------


def _of(model: type[EventData], *event_types: str) -> dict[str, type[EventData]]:
    return dict.fromkeys(event_types, model)


_WISH_STEPS = ("submitted", "published", "rejected", "claimed", "released", "fulfilled")
_REQUEST_STEPS = ("raised", "dispatched", "accepted", "declined", "completed", "rated")

# The data model of every event type: what a producer must send and a consumer may read.
DATA_OF: dict[str, type[EventData]] = {
    **_of(
        VolunteerChanged,
        *(f"volunteer_{s}" for s in ("registered", "updated", "suspended", "reinstated")),
        "volunteer_removed",
    ),
    "complaint_upheld": ComplaintUpheld,
    **_of(NotificationDelivered, "notification_sent", "notification_failed"),
    **_of(StationChanged, "station_created", "station_updated"),
    **_of(PostClaimChanged, "post_claimed", "post_released"),
    "activity_created": ActivityCreated,
    "volunteer_checked_in": VolunteerCheckedIn,
    **_of(WishChanged, *(f"wish_{s}" for s in (*_WISH_STEPS, "closed", "expired", "cancelled"))),
    **_of(
        RequestChanged,
        *(f"request_{s}" for s in (*_REQUEST_STEPS, "unassigned", "cancelled")),
    ),
    "complaint_filed": ComplaintFiled,
    **_of(PointsChanged, "points_awarded", "points_redeemed", "points_reversed"),
}


def wire_data(event_type: str, data: EventData | dict[str, Any]) -> dict[str, Any]:
    """``data`` of ``event_type`` as it is published: through the type's contract model, so an
    event carries exactly the fields ``DATA_OF`` documents (a dict is validated, a model must be
    the type's own). Types outside the contract (a test service's) pass as they are."""
    model = DATA_OF.get(event_type)
    if model is None:
        return data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
    if isinstance(data, BaseModel) and not isinstance(data, model):
        raise TypeError(f"{event_type} carries {model.__name__}, not {type(data).__name__}")
    return (data if isinstance(data, model) else model.model_validate(data)).model_dump(mode="json")
