"""The rules of points, as plain Python (no database, no nameko).

- Whose points a deployment keeps (the volunteer's home city's).
- What an event earns (``Credit``), and the business key that makes it count once.
- Which periods an entry counts in (``all``, its year, its month, in the cities' time zone).
- Which entries count towards rankings: earnings and admin adjustments do; redemptions and
  their reversals do not (spending points must not lower a volunteer's rank — the usual
  practice of volunteer-time banks; the balance is what goes down).
- Competition ranking (1, 1, 3) over points sorted high to low.
- An account never goes below a zero balance (``balance_after``, ``account_after``): the use
  cases decide with it on the row they hold locked.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from pioneer import clock, ids

# Ledger entry kinds.
CHECKIN = "checkin"
WISH = "wish"
REQUEST = "request"
RATING_BONUS = "rating_bonus"
ADJUST = "adjust"
REDEEM = "redeem"
REVERSE = "reverse"
KINDS = (CHECKIN, WISH, REQUEST, RATING_BONUS, ADJUST, REDEEM, REVERSE)
# Kinds that count towards rankings and "earned".
RANKED = frozenset({CHECKIN, WISH, REQUEST, RATING_BONUS, ADJUST})

ALL_TIME = "all"
PERIOD_PATTERN = r"^(all|[0-9]{4}|[0-9]{4}-(0[1-9]|1[0-2]))$"
_PERIOD_RE = re.compile(PERIOD_PATTERN)

# Redemption states.
COMPLETED = "completed"
REVERSED = "reversed"

# Events published per kind.
EVENT_OF_KIND = {
    CHECKIN: "points_awarded",
    WISH: "points_awarded",
    REQUEST: "points_awarded",
    RATING_BONUS: "points_awarded",
    ADJUST: "points_awarded",
    REDEEM: "points_redeemed",
    REVERSE: "points_reversed",
}


@dataclass(frozen=True)
class EarningRules:
    """A city's amounts: a closed wish, a completed request, the bonus for a top rating, and
    the most a check-in may earn."""

    wish_closed: int
    request_completed: int
    top_rating: int
    top_rating_bonus: int
    max_checkin: int = 10_000


@dataclass(frozen=True)
class Credit:
    """What one piece of work earns: points, hours, and which annual counter it adds to."""

    kind: str
    delta: int
    reason: str
    source_key: str
    hours: float = 0.0
    activities: int = 0
    wishes: int = 0
    requests: int = 0


def kept_here(
    volunteer_id: str | None, volunteer_city: str | None, cities: Collection[str]
) -> bool:
    """Whether a deployment serving ``cities`` keeps the volunteer's points: they are kept in
    the volunteer's home city, wherever the work was done (the home deployment receives its
    own federated copy of the event)."""
    if not volunteer_id or not volunteer_city:
        return False
    return volunteer_city in cities and ids.city_of(volunteer_id) == volunteer_city


def checkin_credit(activity_id: str, volunteer_id: str, points: int, hours: float) -> Credit:
    """A check-in earns what the activity says; one per (activity, volunteer)."""
    return Credit(
        kind=CHECKIN,
        delta=max(points, 0),
        reason=f"check-in at activity {activity_id}",
        source_key=f"checkin:{activity_id}:{volunteer_id}",
        hours=max(hours, 0.0),
        activities=1,
    )


def wish_credit(wish_id: str, rules: EarningRules) -> Credit:
    """A closed wish earns the city's amount for whoever did it; once per wish."""
    return Credit(
        kind=WISH,
        delta=rules.wish_closed,
        reason=f"wish {wish_id} closed",
        source_key=f"wish:{wish_id}",
        wishes=1,
    )


def request_credit(request_id: str, rules: EarningRules) -> Credit:
    """A completed request earns the city's amount for its assignee; once per request."""
    return Credit(
        kind=REQUEST,
        delta=rules.request_completed,
        reason=f"request {request_id} completed",
        source_key=f"request:{request_id}",
        requests=1,
    )


def rating_bonus(request_id: str, rating: int | None, rules: EarningRules) -> Credit | None:
    """The bonus for a top rating, or ``None``; once per request (its ``request_rated``)."""
    if rating is None or rating < rules.top_rating or rules.top_rating_bonus <= 0:
        return None
    return Credit(
        kind=RATING_BONUS,
        delta=rules.top_rating_bonus,
        reason=f"request {request_id} rated {rating}",
        source_key=f"rating:{request_id}",
    )


def redemption_key(redemption_id: str) -> str:
    """A redemption is booked once: this key is unique in the ledger."""
    return f"redeem:{redemption_id}"


def reversal_key(redemption_id: str) -> str:
    """A redemption is reversed at most once: this key is unique in the ledger."""
    return f"reverse:{redemption_id}"


def periods_of(at: datetime) -> tuple[str, str, str]:
    """The ranking periods an entry made at ``at`` counts in: all time, its year, its month
    (in Asia/Shanghai, where the work happened)."""
    local = clock.local(at)
    return (ALL_TIME, f"{local.year:04d}", f"{local.year:04d}-{local.month:02d}")


def is_period(value: str) -> bool:
    """Whether ``value`` names a ranking period: ``all``, ``YYYY`` or ``YYYY-MM``."""
    # fullmatch: ``$`` alone would also take a trailing newline.
    return _PERIOD_RE.fullmatch(value) is not None


def counts_for_ranking(kind: str) -> bool:
    """Whether entries of ``kind`` count towards rankings and ``earned``."""
    return kind in RANKED


def competition_ranks(
    points: Iterable[int], first_position: int = 1, previous: tuple[int, int] | None = None
) -> Iterator[int]:
    """Ranks of ``points`` (sorted high to low) where ties share a rank: 1, 1, 3.

    ``first_position`` is the 1-based position of the first value in the whole ordering;
    ``previous`` is ``(points, rank)`` of the item just before it (from a page cursor).
    """
    last_points, last_rank = previous if previous is not None else (None, 0)
    for position, value in enumerate(points, start=first_position):
        rank = last_rank if value == last_points else position
        yield rank
        last_points, last_rank = value, rank


def balance_after(balance: int, delta: int) -> int | None:
    """The balance after ``delta``, or ``None`` if it would go below zero."""
    result = balance + delta
    return result if result >= 0 else None


@dataclass(frozen=True)
class Account:
    """A volunteer's points as stored: ``balance = earned - spent``, never below zero.
    ``earned`` counts ranked work and adjustments; ``spent`` net redemptions."""

    balance: int = 0
    earned: int = 0
    spent: int = 0


def account_after(account: Account | None, earned: int = 0, spent: int = 0) -> Account | None:
    """``account`` (``None``: nothing yet) after ``earned`` more earned and ``spent`` more spent
    (either may be negative: a deduction, a reversal); ``None`` where the balance would go
    below zero."""
    held = account or Account()
    balance = balance_after(held.balance, earned - spent)
    if balance is None:
        return None
    return Account(balance=balance, earned=held.earned + earned, spent=held.spent + spent)
