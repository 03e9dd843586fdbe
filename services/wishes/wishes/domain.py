"""Wishes' rules, free of nameko, the broker and the database.

The life of a micro-wish (微心愿) is a small state machine::

    submitted --approve--> published --claim--> claimed --fulfill--> fulfilled --confirm--> closed
        |                     ^   |                |
        +--reject--> rejected |   +--expire--> expired
                              +----release---------+
    submitted, published, claimed --cancel--> cancelled

``rejected``, ``closed``, ``cancelled`` and ``expired`` are final. The service layer turns each
transition into one conditional ``UPDATE ... WHERE status IN (sources)``, so the database, not a
read-then-write, decides which of several racing calls wins.

Beneficiary contact details are shown only to the volunteer holding the wish and to admins of
its city.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pioneer import geo

SUBMITTED = "submitted"
PUBLISHED = "published"
REJECTED = "rejected"
CLAIMED = "claimed"
FULFILLED = "fulfilled"
CLOSED = "closed"
CANCELLED = "cancelled"
EXPIRED = "expired"
STATUSES = (SUBMITTED, PUBLISHED, REJECTED, CLAIMED, FULFILLED, CLOSED, CANCELLED, EXPIRED)
FINAL = frozenset({REJECTED, CLOSED, CANCELLED, EXPIRED})

# action -> (the states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({SUBMITTED}), PUBLISHED),
    "reject": (frozenset({SUBMITTED}), REJECTED),
    "claim": (frozenset({PUBLISHED}), CLAIMED),
    "release": (frozenset({CLAIMED}), PUBLISHED),
    "fulfill": (frozenset({CLAIMED}), FULFILLED),
    "confirm": (frozenset({FULFILLED}), CLOSED),
    "cancel": (frozenset({SUBMITTED, PUBLISHED, CLAIMED}), CANCELLED),
    "expire": (frozenset({PUBLISHED}), EXPIRED),
}

# The event each action publishes.
EVENTS = {
    "approve": "wish_published",
    "reject": "wish_rejected",
    "claim": "wish_claimed",
    "release": "wish_released",
    "fulfill": "wish_fulfilled",
    "confirm": "wish_closed",
    "cancel": "wish_cancelled",
    "expire": "wish_expired",
}

# A new wish's deadline is in the future, and at most this far ahead.
MAX_LEAD = timedelta(days=366)


class TransitionNotAllowed(ValueError):
    """The wish's current state does not allow the action (the contract's ``Conflict``)."""


def sources(action: str) -> frozenset[str]:
    """The states ``action`` may start from."""
    return TRANSITIONS[action][0]


def target(action: str) -> str:
    """The state ``action`` leads to."""
    return TRANSITIONS[action][1]


def transition(status: str, action: str) -> str:
    """The state after ``action`` from ``status``; ``TransitionNotAllowed`` if it may not happen."""
    allowed, after = TRANSITIONS[action]
    if status not in allowed:
        raise TransitionNotAllowed(refusal(status, action))
    return after


def refusal(status: str, action: str) -> str:
    """Why ``action`` cannot happen to a wish that is ``status`` (a Conflict's message)."""
    if action == "claim" and status == CLAIMED:
        return "wish is already claimed"
    return f"a {status} wish cannot be {_PAST.get(action, action)}"


_PAST = {
    "approve": "approved",
    "reject": "rejected",
    "claim": "claimed",
    "release": "released",
    "fulfill": "fulfilled",
    "confirm": "confirmed",
    "cancel": "cancelled",
    "expire": "expired",
}


def review_action(approve: bool) -> str:
    return "approve" if approve else "reject"


def check_deadline(deadline: datetime, now: datetime) -> str | None:
    """Why a new wish's deadline is not acceptable, or None."""
    if deadline <= now:
        return "must be in the future"
    if deadline > now + MAX_LEAD:
        return "must be within a year"
    return None


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    """A published wish past its deadline is due to expire (and can no longer be claimed)."""
    return status == PUBLISHED and deadline <= now


def sees_beneficiary(
    *, is_city_admin: bool, caller_volunteer: str | None, claimed_by: str | None, status: str
) -> bool:
    """Admins of the wish's city always; the volunteer holding (or having done) the wish too."""
    if is_city_admin:
        return True
    return (
        caller_volunteer is not None
        and claimed_by == caller_volunteer
        and status in {CLAIMED, FULFILLED, CLOSED}
    )


def rank_nearby(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    after: Sequence[Any] | None = None,
) -> list[tuple[float, str]]:
    """``(distance_m, id)`` of the candidates within ``radius_m``, nearest first (ties by id),
    only those after the cursor key ``after``."""
    found = []
    for row in candidates:
        distance = round(geo.distance_m(lat, lon, row.lat, row.lon), 1)
        if distance <= radius_m:
            found.append((distance, row.id))
    found.sort()
    if after:
        key = (float(after[0]), str(after[1]))
        found = [item for item in found if item > key]
    return found


# --- service requests (hotline dispatch) ---------------------------------------------------------
#
#   new --offer--> dispatched --accept--> accepted --complete--> completed --rate--> closed
#    |                |  ^                    |
#    |                +--+ (declined or timed out: offer the next candidates)
#    +--none left-->  unassigned  <--none left--+ (from dispatched)
#   new, dispatched, accepted, unassigned --cancel--> cancelled

R_NEW = "new"
R_DISPATCHED = "dispatched"
R_ACCEPTED = "accepted"
R_COMPLETED = "completed"
R_CLOSED = "closed"
R_UNASSIGNED = "unassigned"
R_CANCELLED = "cancelled"
REQUEST_STATUSES = (
    R_NEW,
    R_DISPATCHED,
    R_ACCEPTED,
    R_COMPLETED,
    R_CLOSED,
    R_UNASSIGNED,
    R_CANCELLED,
)

REQUEST_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "offer": (frozenset({R_NEW, R_DISPATCHED}), R_DISPATCHED),
    "exhaust": (frozenset({R_NEW, R_DISPATCHED}), R_UNASSIGNED),
    "accept": (frozenset({R_DISPATCHED}), R_ACCEPTED),
    "complete": (frozenset({R_ACCEPTED}), R_COMPLETED),
    "rate": (frozenset({R_COMPLETED}), R_CLOSED),
    "cancel": (frozenset({R_NEW, R_DISPATCHED, R_ACCEPTED, R_UNASSIGNED}), R_CANCELLED),
}

REQUEST_EVENTS = {
    "offer": "request_dispatched",
    "exhaust": "request_unassigned",
    "accept": "request_accepted",
    "complete": "request_completed",
    "rate": "request_rated",
    "cancel": "request_cancelled",
}

# Offers: the outcome of each attempt as ``attempts`` shows it.
OFFER_OPEN = "open"
OFFER_ACCEPTED = "accepted"
OFFER_DECLINED = "declined"
OFFER_TIMED_OUT = "timed_out"
OFFER_WITHDRAWN = "withdrawn"
OFFERS_AT_ONCE = {"normal": 1, "urgent": 1, "emergency": 3}


def request_transition(status: str, action: str) -> str:
    """The request's state after ``action``; ``TransitionNotAllowed`` if it may not happen."""
    allowed, after = REQUEST_TRANSITIONS[action]
    if status not in allowed:
        raise TransitionNotAllowed(f"a request that is {status} cannot be {_R_PAST[action]}")
    return after


def request_sources(action: str) -> frozenset[str]:
    return REQUEST_TRANSITIONS[action][0]


_R_PAST = {
    "offer": "offered",
    "exhaust": "left unassigned",
    "accept": "accepted",
    "complete": "completed",
    "rate": "rated",
    "cancel": "cancelled",
}


def service_circle_m(minutes: float, speed_kmh: float) -> float:
    """The radius of an n-minute service circle at a travel speed, in metres."""
    return minutes * speed_kmh * 1000 / 60


def offers_at_once(urgency: str) -> int:
    """How many volunteers one round offers the request to (the three nearest in an emergency)."""
    return OFFERS_AT_ONCE[urgency]


def choose_candidates(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    excluded: set[str],
    count: int,
) -> list[tuple[float, Any]]:
    """The ``count`` nearest candidates (rows with ``volunteer_id``, ``lat``, ``lon``) within
    ``radius_m`` and not ``excluded`` (already tried, busy, ineligible), as (distance, row)."""
    found = {}
    for row in candidates:
        if row.volunteer_id in excluded:
            continue
        distance = round(geo.distance_m(lat, lon, row.lat, row.lon), 1)
        if distance <= radius_m and (
            row.volunteer_id not in found or distance < found[row.volunteer_id][0]
        ):
            found[row.volunteer_id] = (distance, row)
    ranked = sorted(found.values(), key=lambda item: (item[0], item[1].volunteer_id))
    return ranked[:count]


def sees_requester(
    *, is_city_staff: bool, caller_volunteer: str | None, assigned_to: str | None
) -> bool:
    """The requester's name, phone and address: the city's admins and dispatchers, and the
    volunteer the request is assigned to."""
    return is_city_staff or (caller_volunteer is not None and caller_volunteer == assigned_to)


# --- complaints on their way to the volunteers service ------------------------------------------

COMPLAINT_PENDING = "pending"
COMPLAINT_DELIVERED = "delivered"
COMPLAINABLE = frozenset({R_ACCEPTED, R_COMPLETED, R_CLOSED})


def redelivery_delay_s(attempts: int) -> float:
    """Seconds before the next delivery attempt after ``attempts`` failed ones: 1, 2, 4, ...
    capped at five minutes."""
    return float(min(2 ** max(attempts - 1, 0), 300))
