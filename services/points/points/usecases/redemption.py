"""The catalog and redemption (积分兑换): spending points on a city's items, once per
idempotency key, never beyond the stock or the balance; and reversing a redemption, once.

A refused redemption (stock, balance, suspension) writes nothing, so its key stays free for a
retry. Who may call these is declared with the entrypoints."""

from __future__ import annotations

from typing import Any

from pioneer import clock, ids
from pioneer.errors import Conflict, NotFound
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import CatalogItemIn, CatalogItemOut, RedemptionOut
from .ledger import change_account, emit_entry, new_entry, settle_account


def add_catalog_item(uow: Any, city: str, item: CatalogItemIn) -> CatalogItemOut:
    """A new item of the city's catalog."""
    values = {
        "id": ids.new_id(city, "item"),
        "city": city,
        "name": item.name,
        "cost": item.cost,
        "stock": item.stock,
        "created_at": clock.utcnow(),
    }
    with uow:
        uow.store.add_catalog_item(values)
    return CatalogItemOut.model_validate(values)


def catalog(uow: Any, city: str, limit: int, cursor: str | None) -> Page[CatalogItemOut]:
    """The city's catalog with stock, in id order, paged."""
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.catalog_page(city, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[CatalogItemOut](
        items=[presenters.catalog_item_out(r) for r in items], next_cursor=next_cursor
    )


def redeem(
    uow: Any, volunteer_id: str, item_id: str, quantity: int, key: str, actor: str
) -> RedemptionOut:
    """Spend points on ``quantity`` of an item of the volunteer's home city's catalog.

    The same ``(volunteer, key)`` redeems once: a repeat returns the first result, as it now
    is (a later reversal included), whatever its other arguments say.
    """
    city = ids.city_of(volunteer_id)
    now = clock.utcnow()
    with uow:
        store = uow.store
        # The account first, locked until the commit: one volunteer's redemptions (a repeated
        # key among them) decide one at a time, so the key is looked up after any earlier
        # call with it has committed.
        held = store.account(volunteer_id, lock=True)
        first = store.redemption_by_key(volunteer_id, key)
        if first is not None:
            return presenters.redemption_out(first)
        store.eligible_volunteer(volunteer_id, now)
        item = store.catalog_item(item_id)
        if item is None:
            raise NotFound(f"no catalog item {item_id}")
        if item.city != city:
            raise Conflict(
                f"item {item_id} is in the catalog of '{item.city}'; the volunteer's points are"
                f" kept in '{city}'"
            )
        if item.stock < quantity:  # as last read; the guarded take below decides
            raise _short_of_stock(item_id, quantity)
        cost = item.cost * quantity
        account = settle_account(store, volunteer_id, held, now, spent=cost)
        if account is None:
            raise Conflict(f"volunteer {volunteer_id} has fewer than {cost} points")
        redemption_id = ids.new_id(city, "rdm")
        row = store.add_redemption(
            {
                "id": redemption_id,
                "volunteer_id": volunteer_id,
                "city": city,
                "item_id": item_id,
                "item_name": item.name,
                "quantity": quantity,
                "cost": cost,
                "idempotency_key": key,
                "status": domain.COMPLETED,
                "balance": account.balance,
                "created_at": now,
            }
        )
        if row is None:  # a volunteer without an account cannot get here; the key is unique
            raise Conflict(f"redemption {key} could not be recorded; try again")
        entry = new_entry(
            volunteer_id,
            city,
            domain.REDEEM,
            -cost,
            f"redeemed {quantity} x {item.name}",
            now,
            source_key=domain.redemption_key(redemption_id),
            redemption_id=redemption_id,
            actor=actor,
            recorded_at=now,
        )
        store.add_entry(vars(entry))
        emit_entry(
            uow,
            entry,
            account.balance,
            item_id=item_id,
            item_name=item.name,
            quantity=quantity,
        )
        # The stock last: the item's row, which every redemption of the item shares, is then
        # locked only until the commit that follows, not through the writes above (a refusal
        # still rolls them all back).
        if store.take_stock(item_id, quantity) is None:
            raise _short_of_stock(item_id, quantity)
    return presenters.redemption_out(row)


def _short_of_stock(item_id: str, quantity: int) -> Conflict:
    return Conflict(f"item {item_id} has fewer than {quantity} left in stock")


def reverse_redemption(uow: Any, redemption_id: str, reason: str, actor: str) -> RedemptionOut:
    """Undo a redemption: points and stock come back, once."""
    city = ids.city_of(redemption_id)
    now = clock.utcnow()
    with uow:
        store = uow.store
        row = store.mark_reversed(redemption_id, now, reason)
        if row is None:
            if store.redemption(redemption_id) is None:
                raise NotFound(f"no redemption {redemption_id}")
            raise Conflict(f"redemption {redemption_id} is already reversed")
        store.return_stock(row.item_id, row.quantity)
        account = change_account(store, row.volunteer_id, now, spent=-row.cost)
        note = f"reversed redemption {redemption_id}: {reason}"
        entry = new_entry(
            row.volunteer_id,
            city,
            domain.REVERSE,
            row.cost,
            note,
            now,
            source_key=domain.reversal_key(redemption_id),
            redemption_id=redemption_id,
            actor=actor,
            recorded_at=now,
        )
        if account is None or not store.add_entry(vars(entry)):
            raise Conflict(f"redemption {redemption_id} is already reversed")  # the ledger says
        emit_entry(
            uow,
            entry,
            account.balance,
            note,
            item_id=row.item_id,
            item_name=row.item_name,
            quantity=row.quantity,
        )
    return presenters.redemption_out(row)
