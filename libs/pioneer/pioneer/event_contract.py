"""The event contract (the published language): the data of every event type.

Producers build ``data`` from these models and consumers read it through them
(``pioneer.events.read_data``), so an event's shape is defined once, here. Event data carries
no unmasked personal data: phones are masked and beneficiary or requester contacts never
travel in events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator

from .events import EventData
from .schedule import ScheduleError, parse_hhmm, parse_rule


class Point(EventData):
    lat: float
    lon: float


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

    ``version`` grows with every change of the volunteer, so a replica applies an event only if
    it is newer than what it holds (events may arrive out of order).
    """

    volunteer_id: str
    city: str
    version: int
    status: VolunteerStatus
    suspended_until: datetime | None = None
    cards: int = 0
    name: str | None = None
    phone: str | None = None  # masked
    district: str | None = None
    community: str | None = None
    is_party_member: bool | None = None
    skills: list[str] = []
    location: Point | None = None
    availability: ScheduleData = []
    reason: str | None = None
    # The ids of the teams the volunteer belongs to (``None``: not told, from older producers).
    teams: list[str] | None = None


class ComplaintUpheld(EventData):
    complaint_id: str
    volunteer_id: str
    city: str
    level: Literal["warning", "yellow_card", "red_card"]
    cards: int


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
    city: str
    kind: str
    subject_id: str
    channel: str
    count: int = 1
    notification_id: str | None = None
    recipient_id: str | None = None
    attempts: int = 0
    error: str | None = None


# --- stations ---------------------------------------------------------------------------------


class StationChanged(EventData):
    """``station_created`` and ``station_updated``: the station as it now is (for replicas)."""

    station_id: str
    city: str
    name: str
    district: str
    address: str
    location: Point
    kind: str
    services: list[str]
    opening_hours: ScheduleData
    standard: dict[str, bool]
    meets_standard: bool
    version: int


class PostClaimChanged(EventData):
    """``post_claimed`` and ``post_released``."""

    post_id: str
    station_id: str
    volunteer_id: str
    volunteer_city: str
    claimed: int
    capacity: int


class ActivityCreated(EventData):
    activity_id: str
    station_id: str
    title: str
    category: str
    starts_at: datetime
    ends_at: datetime
    points: int
    capacity: int


class VolunteerCheckedIn(EventData):
    activity_id: str
    station_id: str
    volunteer_id: str
    volunteer_city: str
    hours: float
    points: int
    checked_in_at: datetime | None = None


# --- wishes -----------------------------------------------------------------------------------


class WishChanged(EventData):
    """Every ``wish_*`` event: the wish as it now is, never the beneficiary's contact details.

    ``volunteer_id`` and ``volunteer_city`` name the volunteer the change is about (the claimer,
    the one releasing, the one whose work was confirmed in ``wish_closed``), or are null.
    """

    wish_id: str
    city: str
    status: str
    title: str
    category: str
    location: Point
    deadline: datetime
    volunteer_id: str | None = None
    volunteer_city: str | None = None
    reason: str | None = None
    rating: int | None = None
    version: int


class RequestChanged(EventData):
    """Every ``request_*`` event: the request as it now is, never the requester's name, phone or
    address. ``offered_to`` lists the volunteers holding an open offer; ``volunteer_id`` and
    ``volunteer_city`` name the volunteer the change is about (who accepted, declined or did the
    work in ``request_completed``), or are null."""

    request_id: str
    city: str
    status: str
    service: str
    urgency: str
    location: Point
    offered_to: list[str] = []
    volunteer_id: str | None = None
    volunteer_city: str | None = None
    attempts: int = 0
    reason: str | None = None
    rating: int | None = None
    version: int


class ComplaintFiled(EventData):
    """``complaint_filed``: a complaint about a request's assigned volunteer, kept by wishes
    until the volunteers service has recorded it under ``complaint_id``."""

    complaint_id: str
    request_id: str
    city: str
    volunteer_id: str
    volunteer_city: str


# --- points -----------------------------------------------------------------------------------


class PointsChanged(EventData):
    """``points_awarded``, ``points_redeemed``, ``points_reversed``: one ledger entry and the
    volunteer's balance after it. ``city`` is the volunteer's home city, where points are kept."""

    entry_id: str
    volunteer_id: str
    city: str
    delta: int
    reason: str
    balance: int
    at: datetime
    source_event_id: str | None = None
    redemption_id: str | None = None
    item_id: str | None = None
    item_name: str | None = None
    quantity: int | None = None
    # Optional additions by the points service: the entry's kind (``checkin``, ``wish``,
    # ``request``, ``rating_bonus``, ``adjust``, ``redeem``, ``reverse``) and whether it counts
    # towards rankings (earnings and adjustments do; redemptions and their reversals do not).
    kind: str | None = None
    ranked: bool | None = None
