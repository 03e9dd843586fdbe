"""Rankings and the annual assessment, read from the maintained totals (never the ledger)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pioneer.paging import decode_cursor, encode_cursor
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import Board, ReportItem

# ``annual_report_items`` reads the report this many volunteers at a time.
REPORT_BATCH = 500


def leaderboard(uow: Any, city: str | None, period: str, team_id: str | None, limit: int) -> Board:
    """The top of the totals for ``period``: by city, or over every city this deployment knows
    (peers' volunteers included); with ``team_id``, the team's members only (a team is at most
    a few thousand). Ties share a rank (1, 1, 3)."""
    with uow.reading() as store:
        rows = store.board(period, city, team_id, limit)
    ranks = domain.competition_ranks(r.points for r in rows)
    return presenters.board(period, city, team_id, rows, ranks)


def annual_report(
    uow: Any, city: str, year: int, limit: int, cursor: str | None
) -> Page[ReportItem]:
    """Per volunteer of ``city``: points, hours, activities, wishes, requests of the work done
    in ``year`` (entries whose ``at`` falls in it) and the rank among the city's volunteers,
    highest first. The cursor carries the last item's points, id, rank and position, so every
    page is one index range read however deep and ranks continue across pages."""
    key = decode_cursor(cursor, (float, str, float, float))
    after, position, previous = None, 1, None
    if key is not None:
        last_points, last_id, last_rank, last_position = key
        after = (last_points, last_id)
        position, previous = int(last_position) + 1, (last_points, int(last_rank))
    with uow.reading() as store:
        rows = store.totals_page(f"{year:04d}", city, after, limit + 1)
    rows, more = rows[:limit], len(rows) > limit
    ranks = list(domain.competition_ranks((r.points for r in rows), position, previous))
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            [last.points, last.volunteer_id, ranks[-1], position + len(rows) - 1]
        )
    return Page[ReportItem](
        items=[presenters.report_item(r, rank) for r, rank in zip(rows, ranks, strict=True)],
        next_cursor=next_cursor,
    )


def annual_report_items(uow: Any, city: str, year: int) -> Iterator[ReportItem]:
    """Every line of the city's annual report for ``year``, highest first (for a report
    written whole, such as a spreadsheet), read ``REPORT_BATCH`` at a time."""
    cursor = None
    while True:
        got = annual_report(uow, city, year, REPORT_BATCH, cursor)
        yield from got.items
        cursor = got.next_cursor
        if cursor is None:
            return
