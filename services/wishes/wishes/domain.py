"""Wishes' rules, free of nameko, the broker and the database.

The life of a micro-wish (微心愿) is a small state machine::

    submitted --approve--> published --claim--> claimed --fulfill--> fulfilled --confirm--> closed
        |                     ^   |                |
        +--reject--> rejected |   +--expire--> expired
                              +----release---------+
    submitted, published, claimed --cancel--> cancelled

``rejected``, ``closed``, ``cancelled`` and ``expired`` are final. ``TRANSITIONS`` declares each
action whole: the states it starts from, the state it leads to, and the ``Condition``s that
must hold besides (the deadline ahead or passed, the acting volunteer holding the wish). The
use cases ask ``refusal_of`` before a change, and the store turns the same declaration into
the ``WHERE`` of the change's conditional ``UPDATE`` and of the expiry timer's statements.

Beneficiary contact details are shown only to the volunteer holding the wish and to admins of
its city.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

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

# What a condition compares a record's field with: the moment of the change, or the volunteer
# acting (the names are also the store's bound parameters).
NOW = "now"
ACTOR = "actor"


@dataclass(frozen=True)
class Condition:
    """What must hold of a record besides its state: ``test(record.<field>, <operand>)``, the
    operand being ``NOW`` or ``ACTOR``. ``test`` is an operator (``operator.gt``...): on values it
    decides here, on a column and a bound parameter it builds the same rule as SQL (``store``).
    Like SQL, a missing value (None) on either side never satisfies it."""

    field: str
    test: Callable[[Any, Any], Any]
    operand: str
    refusal: str  # what the Conflict says after the record's name when it does not hold

    def holds(self, record: Any, now: datetime, actor: str | None = None) -> bool:
        """Whether the condition holds of ``record`` at ``now`` for ``actor``."""
        value = getattr(record, self.field)
        operand = now if self.operand == NOW else actor
        return value is not None and operand is not None and bool(self.test(value, operand))


DEADLINE_AHEAD = Condition("deadline", operator.gt, NOW, "is past its deadline")
DEADLINE_PASSED = Condition("deadline", operator.le, NOW, "is not past its deadline")
HELD_BY_ACTOR = Condition("claimed_by", operator.eq, ACTOR, "is held by another volunteer")


class Transition(NamedTuple):
    """An action: the states it may start from, the state it leads to, and what else must hold."""

    sources: frozenset[str]
    target: str
    conditions: tuple[Condition, ...] = ()


TRANSITIONS: dict[str, Transition] = {
    "approve": Transition(frozenset({SUBMITTED}), PUBLISHED, (DEADLINE_AHEAD,)),
    "reject": Transition(frozenset({SUBMITTED}), REJECTED),
    "claim": Transition(frozenset({PUBLISHED}), CLAIMED, (DEADLINE_AHEAD,)),
    "release": Transition(frozenset({CLAIMED}), PUBLISHED, (HELD_BY_ACTOR,)),
    "fulfill": Transition(frozenset({CLAIMED}), FULFILLED, (HELD_BY_ACTOR,)),
    "confirm": Transition(frozenset({FULFILLED}), CLOSED),
    "cancel": Transition(frozenset({SUBMITTED, PUBLISHED, CLAIMED}), CANCELLED),
    "expire": Transition(frozenset({PUBLISHED}), EXPIRED, (DEADLINE_PASSED,)),
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
    return TRANSITIONS[action].sources


def transition(status: str, action: str) -> str:
    """The state after ``action`` from ``status``; ``TransitionNotAllowed`` if it may not happen."""
    allowed, after, _ = TRANSITIONS[action]
    if status not in allowed:
        raise TransitionNotAllowed(refusal(status, action))
    return after


class WishState(NamedTuple):
    """What the transition rules read of a wish (a stored row has these fields too)."""

    id: str
    status: str
    deadline: datetime
    claimed_by: str | None = None


def refusal_of(action: str, wish: Any, now: datetime, actor: str | None = None) -> str | None:
    """Why ``action`` cannot happen to ``wish`` (a ``WishState`` or a row) at ``now`` by the
    volunteer ``actor``, as the Conflict says it; None when it may. The state is checked first,
    then the action's conditions in their declared order."""
    try:
        transition(wish.status, action)
    except TransitionNotAllowed as exc:
        return f"wish {wish.id}: {exc}"
    for condition in TRANSITIONS[action].conditions:
        if not condition.holds(wish, now, actor):
            return f"wish {wish.id} {condition.refusal}"
    return None


def allows(action: str, wish: Any, now: datetime, actor: str | None = None) -> bool:
    """Whether ``action`` may happen to ``wish`` at ``now`` by ``actor``."""
    return refusal_of(action, wish, now, actor) is None


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
    """The action a review takes."""
    return "approve" if approve else "reject"


def check_deadline(deadline: datetime, now: datetime) -> str | None:
    """Why a new wish's deadline is not acceptable, or None."""
    if deadline <= now:
        return "must be in the future"
    if deadline > now + MAX_LEAD:
        return "must be within a year"
    return None


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    """A published wish past its deadline is due to expire (and can no longer be claimed):
    the ``expire`` transition allows it."""
    return allows("expire", WishState("", status, deadline), now)


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


# What a volunteer's own token reads (staff read their city's records): the wishes anyone may
# claim, those it holds or has done, and the requests it was offered or is assigned.
VOLUNTEER_WISHES = "published wishes (any city), and those it holds or has done"
VOLUNTEER_REQUESTS = "the requests it was offered or is assigned"


def volunteer_reads_wish(volunteer_id: str, status: str, claimed_by: str | None) -> bool:
    """Whether a volunteer may read a wish: published, or held or done by it."""
    return status == PUBLISHED or (
        claimed_by == volunteer_id and status in {CLAIMED, FULFILLED, CLOSED}
    )


def volunteer_reads_request(
    volunteer_id: str, assigned_to: str | None, offered: Iterable[str]
) -> bool:
    """Whether a volunteer may read a request: assigned to it, or offered to it (ever)."""
    return assigned_to == volunteer_id or volunteer_id in set(offered)


def rank_nearby(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[tuple[float, str]]:
    """``(distance_m, id)`` of the candidates within ``radius_m``, nearest first (ties by id),
    only those after the cursor key ``after``, at most ``limit``."""
    cursor = (float(after[0]), str(after[1])) if after else None
    ranked = geo.rank_nearby(candidates, lat, lon, radius_m, after=cursor, limit=limit)
    return [(item.distance_m, item.key) for item in ranked]


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

# As for wishes, the store builds each change's ``WHERE status IN (...)`` from this table.
REQUEST_TRANSITIONS: dict[str, Transition] = {
    "offer": Transition(frozenset({R_NEW, R_DISPATCHED}), R_DISPATCHED),
    "exhaust": Transition(frozenset({R_NEW, R_DISPATCHED}), R_UNASSIGNED),
    "accept": Transition(frozenset({R_DISPATCHED}), R_ACCEPTED),
    "complete": Transition(frozenset({R_ACCEPTED}), R_COMPLETED),
    "rate": Transition(frozenset({R_COMPLETED}), R_CLOSED),
    "cancel": Transition(frozenset({R_NEW, R_DISPATCHED, R_ACCEPTED, R_UNASSIGNED}), R_CANCELLED),
}
# A volunteer is busy (offered nothing more, accepts nothing more) while a request assigned to
# them is in one of these states.
BUSY_WITH = frozenset({R_ACCEPTED})

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
    allowed, after, _ = REQUEST_TRANSITIONS[action]
    if status not in allowed:
        raise TransitionNotAllowed(f"a request that is {status} cannot be {_R_PAST[action]}")
    return after


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


# Dispatch searches the service circle from the inside out: the first circle, and how much
# each next one may grow. A province's city holds thousands of volunteers with a skill inside
# one 2.5 km circle; the nearest few are almost always in the first few hundred metres.
FIRST_DISPATCH_RADIUS_M = 300.0
DISPATCH_GROWTH = (1.5, 4.0)


def first_dispatch_radius(radius_m: float) -> float:
    """The first circle a dispatch searches inside its ``radius_m`` service circle."""
    return min(radius_m, FIRST_DISPATCH_RADIUS_M)


def next_dispatch_radius(
    searched_m: float, found: int, wanted: int, radius_m: float
) -> float | None:
    """After a search of the ``searched_m`` circle chose ``found`` of the ``wanted`` nearest
    candidates, the next circle to search, or None: it held them all, or it was the whole
    service circle.

    Every candidate inside a searched circle is measured, so once a circle holds ``wanted`` of
    them they are the ``wanted`` nearest of the whole service circle: the search from the
    inside out chooses exactly what one search of the whole circle would."""
    if found >= wanted or searched_m >= radius_m:
        return None
    # The area (and so the number of candidates) grows with the radius squared.
    low, high = DISPATCH_GROWTH
    factor = (wanted / found) ** 0.5 * 1.3 if found else high
    return min(radius_m, searched_m * min(high, max(low, factor)))


def choose_candidates(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    excluded: set[str],
    count: int,
) -> list[tuple[float, Any]]:
    """The ``count`` nearest candidates (rows with ``volunteer_id``, ``lat``, ``lon``) within
    ``radius_m`` and not ``excluded`` (already tried, busy, ineligible), as (distance, row); a
    volunteer found in several cells counts once."""
    ranked = geo.rank_nearby(
        candidates,
        lat,
        lon,
        radius_m,
        key=lambda row: row.volunteer_id,
        keep=lambda row: row.volunteer_id not in excluded,
        limit=count,
    )
    return [(item.distance_m, item.row) for item in ranked]


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
