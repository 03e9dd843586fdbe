"""The statements about micro-wishes (the ``wishes`` table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from pioneer import geo
from pioneer.db import row_of

from .. import domain
from ..models import Wish
from .guards import transition_guard, transition_params, transition_update

wishes_t = Wish.__table__

# Built once: the hottest reads skip statement construction on every call.
_WISH_BY_ID = select(wishes_t).where(wishes_t.c.id == bindparam("wish_id"))
_WISH_LOCKED = _WISH_BY_ID.with_for_update()
_WISHES_AMONG = select(wishes_t).where(wishes_t.c.id.in_(bindparam("wish_ids", expanding=True)))


# The expiry timer: the wishes ``expire`` allows, oldest deadline first, and their expiry.
_EXPIRY = domain.TRANSITIONS["expire"]
_OVERDUE = (
    select(wishes_t.c.id)
    .where(transition_guard(wishes_t, _EXPIRY))
    .order_by(wishes_t.c.deadline)
    .limit(bindparam("count"))
)
_EXPIRE = (
    update(wishes_t)
    .where(
        wishes_t.c.id.in_(bindparam("wish_ids", expanding=True)),
        transition_guard(wishes_t, _EXPIRY),
    )
    .values(
        status=_EXPIRY.target,
        version=wishes_t.c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(*wishes_t.c)
)


class WishRecords:
    """Micro-wishes: written, changed by their transitions, listed, found nearby, expired."""

    db: Any

    def wish(self, wish_id: str, for_update: bool = False) -> Any | None:
        """A wish, locked for the transaction with ``for_update`` (PostgreSQL; SQLite's write
        transactions run one at a time): the decision about it and its change are one step."""
        query = _WISH_LOCKED if for_update else _WISH_BY_ID
        return self.db.execute(query, {"wish_id": wish_id}).first()

    def add_wish(self, values: dict[str, Any]) -> Any:
        """Insert a wish; the row as written."""
        self.db.execute(insert(wishes_t).values(**values))
        return row_of(values, wishes_t)

    def change_wish(
        self,
        wish_id: str,
        action: str,
        now: datetime,
        values: dict[str, Any],
        actor: str | None = None,
    ) -> Any | None:
        """Apply ``action`` (and ``values``) with one conditional update whose ``WHERE`` is the
        action's declared rule (``domain.TRANSITIONS``); the wish as it now is, or None if the
        rule refuses."""
        step = domain.TRANSITIONS[action]
        statement = transition_update(wishes_t, step, tuple(sorted(values)))
        return self.db.execute(statement, transition_params(wish_id, now, values, actor)).first()

    def wish_page(
        self,
        city: str,
        status: str | None,
        category: str | None,
        after_id: str | None,
        count: int,
    ) -> list[Any]:
        """Up to ``count`` wishes of ``city`` after ``after_id`` in id order, filtered."""
        query = select(wishes_t).where(*self._filters(city, status, category))
        if after_id is not None:
            query = query.where(wishes_t.c.id > after_id)
        return self.db.execute(query.order_by(wishes_t.c.id).limit(count)).all()

    def wishes_in_cells(
        self,
        ranges: list[tuple[int, int]],
        city: str,
        status: str | None,
        category: str | None,
    ) -> list[Any]:
        """``(id, lat, lon)`` of the wishes in the geocell ``ranges``, filtered."""
        filters = self._filters(city, status, category)
        query = select(wishes_t.c.id, wishes_t.c.lat, wishes_t.c.lon).where(
            geo.within_cells(wishes_t.c.geocell, ranges, *filters)
        )
        return self.db.execute(query).all()

    def wishes_among(self, wish_ids: list[str]) -> dict[str, Any]:
        """The wishes of ``wish_ids`` by id."""
        rows = self.db.execute(_WISHES_AMONG, {"wish_ids": wish_ids})
        return {row.id: row for row in rows}

    @staticmethod
    def _filters(city: str, status: str | None, category: str | None) -> list[Any]:
        filters = [wishes_t.c.city == city]
        if status is not None:
            filters.append(wishes_t.c.status == status)
        if category is not None:
            filters.append(wishes_t.c.category == category)
        return filters

    def overdue_wishes(self, now: datetime, count: int) -> list[str]:
        """The ids of up to ``count`` wishes the ``expire`` rule allows at ``now``, oldest
        deadline first."""
        return list(self.db.execute(_OVERDUE, {"now": now, "count": count}).scalars())

    def expire_wishes(self, wish_ids: list[str], now: datetime) -> list[Any]:
        """Expire those of ``wish_ids`` the rule still allows (one claimed meanwhile is not);
        the expired wishes as they now are."""
        return self.db.execute(_EXPIRE, {"wish_ids": wish_ids, "now": now}).all()
