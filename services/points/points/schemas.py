"""The points contract's shapes: inputs (strict) and results."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from pioneer.schemas import Input, LocalTime, Name, Output

from .domain import PERIOD_PATTERN, is_period


def _period(value: str) -> str:
    if not is_period(value):
        raise ValueError("must be all, YYYY or YYYY-MM")
    return value


# ``domain.is_period`` decides; the pattern only describes it in the JSON schema (the API
# reference shows it).
Period = Annotated[
    str,
    AfterValidator(_period),
    WithJsonSchema({"type": "string", "pattern": PERIOD_PATTERN}),
]
Year = Annotated[int, Field(ge=2000, le=2199)]
Quantity = Annotated[int, Field(ge=1, le=1000)]
# An adjustment is at most a million points either way, and never zero.
Delta = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
]
BoardLimit = Annotated[int, Field(ge=1, le=500)]


class CatalogItemIn(Input):
    """``{name, cost, stock}``: cost in points per unit, stock in units."""

    name: Name
    cost: Annotated[int, Field(ge=1, le=1_000_000)]
    stock: Annotated[int, Field(ge=0, le=1_000_000)]


class CatalogItemOut(Output):
    id: str
    city: str
    name: str
    cost: int
    stock: int
    created_at: LocalTime


class BalanceOut(Output):
    """``balance = earned - spent``; ``earned`` counts work and adjustments, ``spent`` net
    redemptions (reversals give back)."""

    volunteer_id: str
    balance: int
    earned: int
    spent: int


class EntryOut(Output):
    """A ledger entry as the contract shows it, plus its kind, hours and redemption."""

    id: str
    volunteer_id: str
    city: str
    delta: int
    reason: str
    source_event_id: str | None
    at: LocalTime
    kind: str
    hours: float
    redemption_id: str | None
    actor: str | None


class AdjustmentOut(EntryOut):
    """``adjust``'s result: the entry it booked and the balance right after it."""

    balance: int


class RedemptionOut(Output):
    """A redemption; ``balance`` is the volunteer's balance right after it."""

    id: str
    volunteer_id: str
    city: str
    item_id: str
    item_name: str
    quantity: int
    cost: int
    idempotency_key: str
    status: str
    balance: int
    created_at: LocalTime
    reversed_at: LocalTime | None = None
    reversal_reason: str | None = None


class BoardItem(Output):
    rank: int
    volunteer_id: str
    city: str
    points: int


class Board(Output):
    """``leaderboard``'s result: the top ``limit`` of the board, ties sharing a rank."""

    period: str
    city: str | None
    team_id: str | None
    items: list[BoardItem]
    next_cursor: str | None = None


class ReportItem(Output):
    volunteer_id: str
    points: int
    hours: float
    activities: int
    wishes: int
    requests: int
    rank: int
