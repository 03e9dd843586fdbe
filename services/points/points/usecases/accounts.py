"""A volunteer's account: its balance and history, and admins' adjustments.

Who may call these is declared with the entrypoints (a volunteer reads only its own points;
staff of its city read and adjust them; the volunteer's city is served here)."""

from __future__ import annotations

from typing import Any

from pioneer import clock, ids
from pioneer.errors import Conflict, NotFound, ValidationError
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import AdjustmentOut, BalanceOut, EntryOut
from .ledger import change_account, emit_entry, new_entry, totals_rows


def balance(uow: Any, volunteer_id: str) -> BalanceOut:
    """``{volunteer_id, balance, earned, spent}``; a known volunteer without points has 0."""
    with uow.reading() as store:
        account = store.account(volunteer_id)
        if account is None and not store.is_known(volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
    return presenters.balance_out(volunteer_id, account)


def history(uow: Any, volunteer_id: str, limit: int, cursor: str | None) -> Page[EntryOut]:
    """The volunteer's entries, newest first (ids are time-ordered ULIDs), paged."""
    before = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.entries_page(volunteer_id, before, limit + 1)
        if not rows and before is None and not store.is_known(volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[EntryOut](items=[presenters.entry_out(r) for r in items], next_cursor=next_cursor)


def adjust(uow: Any, volunteer_id: str, delta: int, reason: str, actor: str) -> AdjustmentOut:
    """An admin's correction (``actor`` made it), booked as an ``adjust`` entry that counts
    towards rankings. A deduction may not take the balance below zero (``Conflict``)."""
    if delta == 0:
        raise ValidationError("delta", "must not be zero")
    city = ids.city_of(volunteer_id)
    now = clock.utcnow()
    with uow:
        store = uow.store
        if not store.is_known(volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
        if delta > 0:
            new_balance = store.credit(volunteer_id, city, delta, now)
        else:
            account = change_account(store, volunteer_id, now, earned=delta)
            if account is None:
                raise Conflict(f"volunteer {volunteer_id} has fewer than {-delta} points")
            new_balance = account.balance
        entry = new_entry(
            volunteer_id, city, domain.ADJUST, delta, reason, now, actor=actor, recorded_at=now
        )
        store.add_entry(vars(entry))
        store.add_totals(totals_rows(volunteer_id, city, now, delta))
        emit_entry(uow, entry, new_balance, reason)
    return presenters.adjustment_out(entry, new_balance)
