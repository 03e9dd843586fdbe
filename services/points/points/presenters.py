"""Rows as the contract's results and events: what a caller or a peer sees of an account, a
ledger entry, a catalog item, a redemption, a board and the annual report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pioneer.event_contract import PointsChanged
from pioneer.schemas import from_row

from . import domain
from .schemas import (
    AdjustmentOut,
    BalanceOut,
    Board,
    BoardItem,
    CatalogItemOut,
    EntryOut,
    RedemptionOut,
    ReportItem,
)


def balance_out(volunteer_id: str, account: domain.Account | None) -> BalanceOut:
    """The volunteer's account; a volunteer without one has nothing yet."""
    account = account or domain.Account()
    return BalanceOut(
        volunteer_id=volunteer_id,
        balance=account.balance,
        earned=account.earned,
        spent=account.spent,
    )


def entry_out(row: Any) -> EntryOut:
    """A ledger entry as ``history`` shows it."""
    return EntryOut.model_validate(row, from_attributes=True)


def adjustment_out(row: Any, balance: int) -> AdjustmentOut:
    """The ``adjust`` entry and the balance right after it."""
    return AdjustmentOut.model_validate({**entry_out(row).model_dump(), "balance": balance})


def entry_event(row: Any, balance: int, reason: str | None = None, **item: Any) -> PointsChanged:
    """``points_awarded``/``points_redeemed``/``points_reversed`` (``domain.EVENT_OF_KIND``) of
    an entry and the balance after it. ``reason`` is the full text where the entry holds it cut
    to its column; ``item`` the redeemed item's ``item_id``, ``item_name`` and ``quantity``."""
    return from_row(
        PointsChanged,
        row,
        entry_id=row.id,
        reason=row.reason if reason is None else reason,
        balance=balance,
        ranked=domain.counts_for_ranking(row.kind),
        **item,
    )


def catalog_item_out(row: Any) -> CatalogItemOut:
    """An item of a city's catalog, with its stock."""
    return CatalogItemOut.model_validate(row, from_attributes=True)


def redemption_out(row: Any) -> RedemptionOut:
    """A redemption as stored (its ``balance`` is the balance right after it)."""
    return RedemptionOut.model_validate(row, from_attributes=True)


def board(
    period: str, city: str | None, team_id: str | None, rows: list[Any], ranks: Iterable[int]
) -> Board:
    """``leaderboard``'s result: the rows of the board with their ranks."""
    return Board(
        period=period,
        city=city,
        team_id=team_id,
        items=[
            BoardItem(rank=rank, volunteer_id=r.volunteer_id, city=r.city, points=r.points)
            for rank, r in zip(ranks, rows, strict=True)
        ],
    )


def report_item(row: Any, rank: int) -> ReportItem:
    """A volunteer's line of the annual report (hours to two places)."""
    return from_row(ReportItem, row, hours=round(row.hours, 2), rank=rank)
