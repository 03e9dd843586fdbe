"""The bookkeeping every points use case shares: a ledger entry's row, the totals it adds to,
its event, and a change of an account decided by the domain's rule under the row's lock."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pioneer import clock, ids

from .. import domain, presenters

# The widths of ``ledger_entries.reason`` and ``.actor``: longer text is cut to fit (events
# carry the full reason).
REASON_WIDTH = 200
ACTOR_WIDTH = 128


def new_entry(
    volunteer_id: str,
    city: str,
    kind: str,
    delta: int,
    reason: str,
    at: datetime,
    *,
    source_key: str | None = None,
    source_event_id: str | None = None,
    hours: float = 0.0,
    redemption_id: str | None = None,
    actor: str | None = None,
    recorded_at: datetime | None = None,
) -> SimpleNamespace:
    """A ledger entry as it is stored (every column), with a new id of the volunteer's city."""
    return SimpleNamespace(
        id=ids.new_id(city, "pe"),
        volunteer_id=volunteer_id,
        city=city,
        kind=kind,
        delta=delta,
        reason=reason[:REASON_WIDTH],
        hours=hours,
        source_event_id=source_event_id,
        source_key=source_key,
        redemption_id=redemption_id,
        actor=None if actor is None else actor[:ACTOR_WIDTH],
        at=at,
        recorded_at=recorded_at or clock.utcnow(),
    )


def totals_rows(
    volunteer_id: str,
    city: str,
    at: datetime,
    points: int,
    hours: float = 0.0,
    activities: int = 0,
    wishes: int = 0,
    requests: int = 0,
) -> list[dict[str, Any]]:
    """What one ranked entry adds to the totals of all time, ``at``'s year and its month."""
    return [
        {
            "period": period,
            "volunteer_id": volunteer_id,
            "city": city,
            "points": points,
            "hours": hours,
            "activities": activities,
            "wishes": wishes,
            "requests": requests,
        }
        for period in domain.periods_of(at)
    ]


def emit_entry(uow: Any, entry: Any, balance: int, reason: str | None = None, **item: Any) -> None:
    """The entry's event (``domain.EVENT_OF_KIND``), with the balance right after it."""
    event = presenters.entry_event(entry, balance, reason, **item)
    uow.emit(domain.EVENT_OF_KIND[entry.kind], entry.city, event)


def change_account(
    store: Any, volunteer_id: str, at: datetime, earned: int = 0, spent: int = 0
) -> domain.Account | None:
    """Apply ``earned``/``spent`` to the volunteer's account if ``domain.account_after`` allows
    it; the account after, or ``None`` (nothing changed) where the balance would go below zero.
    The row is held locked from the read to the commit, so racing debits decide one at a time."""
    return settle_account(
        store, volunteer_id, store.account(volunteer_id, lock=True), at, earned, spent
    )


def settle_account(
    store: Any,
    volunteer_id: str,
    held: domain.Account | None,
    at: datetime,
    earned: int = 0,
    spent: int = 0,
) -> domain.Account | None:
    """``change_account`` over an account the caller already holds locked (``held``)."""
    if held is None:
        return None
    after = domain.account_after(held, earned=earned, spent=spent)
    if after is not None:
        store.put_account(volunteer_id, after, at)
    return after
