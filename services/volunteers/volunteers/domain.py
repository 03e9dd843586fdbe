"""Volunteers' rules, free of nameko, the broker and the database.

- The discipline ladder (纪律阶梯): every upheld complaint is a card. The first is a warning and
  30 days' suspension, the second a yellow card and 90 days, the third a red card: removed.
  A suspension ends when ``suspended_until`` passes, or earlier by an admin's ``reinstate``.
  Removal is final here (no transition out of ``removed``).
- Complaints are decided once: ``open`` -> ``upheld`` or ``dismissed``.
- A party branch is for party members: leaving the party clears it unless a branch is given.
- Nearby search: candidates found through the geocell index are measured exactly, filtered by
  radius, availability and the page's position, and ranked by (distance, id); the circle
  searched grows until it holds a page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pioneer import geo
from pioneer.schedule import is_open_at
from pioneer.standing import effective_status

ACTIVE, SUSPENDED, REMOVED = "active", "suspended", "removed"
WARNING, YELLOW_CARD, RED_CARD = "warning", "yellow_card", "red_card"
# cards after upholding -> (level, days suspended; None means removed)
LADDER: dict[int, tuple[str, int | None]] = {
    1: (WARNING, 30),
    2: (YELLOW_CARD, 90),
    3: (RED_CARD, None),
}
OPEN, UPHELD, DISMISSED = "open", "upheld", "dismissed"


class TransitionError(ValueError):
    """The volunteer's or complaint's state does not allow this change."""


class ProfileError(ValueError):
    """A profile whose fields contradict each other."""


@dataclass(frozen=True)
class Standing:
    """A volunteer's disciplinary state."""

    status: str
    suspended_until: datetime | None
    cards: int


@dataclass(frozen=True)
class Sanction:
    """What upholding a complaint does: the ladder level reached and the standing after it."""

    level: str
    standing: Standing

    @property
    def event_type(self) -> str:
        """The event that announces the volunteer's new standing."""
        return "volunteer_removed" if self.standing.status == REMOVED else "volunteer_suspended"


def status_after(level: str) -> str:
    """The volunteer's status once a card of ``level`` is upheld (the ladder says)."""
    days = next(days for rung, days in LADDER.values() if rung == level)
    return REMOVED if days is None else SUSPENDED


def uphold(standing: Standing, now: datetime) -> Sanction:
    """Climb one rung. A suspension never shortens one already running."""
    if standing.status == REMOVED:
        raise TransitionError("the volunteer has already been removed")
    cards = standing.cards + 1
    level, days = LADDER[min(cards, max(LADDER))]
    if days is None:
        return Sanction(level, Standing(REMOVED, None, cards))
    until = now + timedelta(days=days)
    if (
        standing.status == SUSPENDED
        and standing.suspended_until
        and standing.suspended_until > until
    ):
        until = standing.suspended_until
    return Sanction(level, Standing(SUSPENDED, until, cards))


def reinstate(standing: Standing) -> Standing:
    """End a suspension (early, by an admin, or because it is due); cards stay."""
    if standing.status != SUSPENDED:
        raise TransitionError(f"the volunteer is {standing.status}, not suspended")
    return replace(standing, status=ACTIVE, suspended_until=None)


def suspension_due(standing: Standing, now: datetime) -> bool:
    """Whether a suspension has run its course: suspended, and ``suspended_until`` reached.

    The reinstatement timer ends exactly the suspensions this accepts; its query only finds the
    candidates (suspended, by the partial index on ``suspended_until``). The rule is the
    replicas' own (``pioneer.replica.effective_status``): the other services count such a
    suspension as over before ``volunteer_reinstated`` reaches them."""
    return (
        standing.status == SUSPENDED
        and effective_status(standing.status, standing.suspended_until, now) == ACTIVE
    )


def decide(complaint_status: str) -> None:
    """A complaint is decided once."""
    if complaint_status != OPEN:
        raise TransitionError(f"the complaint is already {complaint_status}")


def party_branch_after(
    is_member: bool, branch: str | None, member_changed: bool, branch_given: bool
) -> str | None:
    """The party branch once a profile change applies: leaving the party clears the branch
    unless one is given with it; a branch without membership is a ``ProfileError``."""
    if member_changed and not is_member and not branch_given:
        branch = None
    if branch is not None and not is_member:
        raise ProfileError("party_branch is for party members (is_party_member true)")
    return branch


# --- nearby search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A candidate within the radius, measured."""

    distance_m: float
    id: str
    row: Any


def measure(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    after: tuple[float, str] | None,
    available_at: datetime | None,
) -> list[Found]:
    """Candidates within ``radius_m``, past ``after`` in (distance, id) order and available at
    ``available_at``, sorted nearest first (``geo.rank_nearby``). Rows need ``id``, ``lat``,
    ``lon`` (and ``availability`` when ``available_at`` is given)."""
    keep = None
    if available_at is not None:
        keep = lambda row: is_open_at(row.availability or [], available_at)  # noqa: E731
    ranked = geo.rank_nearby(candidates, lat, lon, radius_m, keep=keep, after=after)
    return [Found(item.distance_m, item.key, item.row) for item in ranked]


# Where a first page's search starts. Small, because every candidate inside is measured and a
# dense city centre holds thousands within 300 m; a sparse one grows it (``next_radius``, up to
# four times a round) in one or two more index reads, each of them cheap.
FIRST_RADIUS_M = 100.0


def first_radius(after_m: float | None, limit: int, max_radius_m: float) -> float:
    """Where an expanding search starts: just past the previous page, or ``FIRST_RADIUS_M``
    (and a metre more per volunteer asked for) on the first."""
    start = FIRST_RADIUS_M if after_m is None else after_m * 1.2 + 300.0
    return min(max_radius_m, max(start, FIRST_RADIUS_M + limit))


def next_radius(radius_m: float, found: int, wanted: int, max_radius_m: float) -> float:
    """Grow the search circle so it probably holds ``wanted`` (area grows with the radius squared)."""
    factor = math.sqrt(wanted / found) * 1.3 if found else 4.0
    return min(max_radius_m, radius_m * min(4.0, max(1.5, factor)))
