"""The points database, as the use cases need it: every statement of the service lives here.

A ``PointsStore`` is built over a unit of work's session (writes) or a read connection
(``uow.reading()``); both execute the same Core statements. Rows come back as SQLAlchemy rows
(attribute access), accounts as ``domain.Account``; writes take plain values.

What the database itself keeps, whatever the code does: a piece of work, a redemption and its
reversal are booked once (``ledger_entries.source_key`` is unique, inserted with ``ON CONFLICT
DO NOTHING``); a redemption is unique per ``(volunteer_id, idempotency_key)``; stock moves
only through a conditional update; ``CHECK`` constraints stand behind the balance rule the use
cases decide with ``domain.account_after`` on the row ``account(lock=True)`` holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, text, update

from pioneer.db import UtcDateTime, conflict_insert, row_of
from pioneer.replica import VolunteerState, require_eligible, volunteer_replica

from .domain import COMPLETED, REVERSED, Account
from .models import Balance, CatalogItem, LedgerEntry, PeerEntry, Redemption, TeamMember, Total

ledger_t = LedgerEntry.__table__
balances_t = Balance.__table__
totals_t = Total.__table__
items_t = CatalogItem.__table__
redemptions_t = Redemption.__table__
members_t = TeamMember.__table__
peers_t = PeerEntry.__table__
replica_t = volunteer_replica


def _upsert(table: str, columns: list[str], conflict: str, action: str, **types: Any) -> Any:
    """``INSERT ... ON CONFLICT`` as text: the same SQL on SQLite (3.35+) and PostgreSQL.

    Written out rather than built with the dialects' ``insert().on_conflict_*()``, which
    SQLAlchemy does not cache: compiling them anew for every event was a quarter of the work.
    """
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({conflict}) {action}"
    )
    return text(sql).bindparams(*(bindparam(name, type_=kind) for name, kind in types.items()))


ENTRY_COLUMNS = [c.name for c in ledger_t.c]
_TIMES = {"at": UtcDateTime(), "recorded_at": UtcDateTime()}
# One entry, its id back unless its ``source_key`` is already booked.
_BOOK = _upsert("ledger_entries", ENTRY_COLUMNS, "source_key", "DO NOTHING RETURNING id", **_TIMES)
# Many entries (executemany: no RETURNING); ``_BOOKED_AMONG`` tells which ids went in.
_BOOK_MANY = _upsert("ledger_entries", ENTRY_COLUMNS, "source_key", "DO NOTHING", **_TIMES)
_BOOKED_AMONG = select(ledger_t.c.id).where(
    ledger_t.c.id.in_(bindparam("entry_ids", expanding=True))
)
_BALANCE_COLUMNS = ["volunteer_id", "city", "balance", "earned", "spent", "updated_at"]
_CREDIT_ACTION = (
    "DO UPDATE SET balance = balances.balance + excluded.balance,"
    " earned = balances.earned + excluded.earned, updated_at = excluded.updated_at"
)
_CREDIT = _upsert(
    "balances",
    _BALANCE_COLUMNS,
    "volunteer_id",
    _CREDIT_ACTION + " RETURNING balance",
    updated_at=UtcDateTime(),
)
_CREDIT_MANY = _upsert(
    "balances", _BALANCE_COLUMNS, "volunteer_id", _CREDIT_ACTION, updated_at=UtcDateTime()
)
_BALANCES_OF = select(balances_t.c.volunteer_id, balances_t.c.balance).where(
    balances_t.c.volunteer_id.in_(bindparam("volunteer_ids", expanding=True))
)
_ACCOUNT = select(balances_t.c.balance, balances_t.c.earned, balances_t.c.spent).where(
    balances_t.c.volunteer_id == bindparam("volunteer_id")
)
# PostgreSQL holds the row until the commit; SQLite's write transactions run one at a time.
_ACCOUNT_LOCKED = _ACCOUNT.with_for_update()
TOTAL_COUNTERS = ("points", "hours", "activities", "wishes", "requests")
_TOTALS = _upsert(
    "totals",
    ["period", "volunteer_id", "city", *TOTAL_COUNTERS],
    "period, volunteer_id",
    "DO UPDATE SET " + ", ".join(f"{c} = totals.{c} + excluded.{c}" for c in TOTAL_COUNTERS),
)
_REPLICA_VERSIONS = select(replica_t.c.volunteer_id, replica_t.c.version).where(
    replica_t.c.volunteer_id.in_(bindparam("ids", expanding=True))
)
_MEMBERS_OF = delete(members_t).where(
    members_t.c.volunteer_id.in_(bindparam("ids", expanding=True))
)
_BOARD_ORDER = (totals_t.c.points.desc(), totals_t.c.volunteer_id.desc())


def _earned(volunteer_id: str, city: str, points: int, at: datetime) -> dict[str, Any]:
    """The values of a credit: a new account's row, or what an existing one adds."""
    return {
        "volunteer_id": volunteer_id,
        "city": city,
        "balance": points,
        "earned": points,
        "spent": 0,
        "updated_at": at,
    }


class PointsStore:
    """The ledger, balances, ranking totals, the catalog and redemptions, team membership,
    peers' entries, and the volunteer replica's eligibility check."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a Session (unit of work) or a Connection (reads)

    # --- the ledger -----------------------------------------------------------------------------

    def add_entry(self, values: dict[str, Any]) -> bool:
        """Append an entry (every column of ``ENTRY_COLUMNS``); False when its ``source_key``
        is already booked."""
        return self.db.execute(_BOOK, values).scalar() is not None

    def add_entries(self, rows: list[dict[str, Any]]) -> set[str]:
        """Append entries, one statement however many; the ids of those booked (an entry
        whose ``source_key`` is already booked goes in as nothing)."""
        if not rows:
            return set()
        self.db.execute(_BOOK_MANY, rows)
        booked = self.db.execute(_BOOKED_AMONG, {"entry_ids": [r["id"] for r in rows]})
        return set(booked.scalars())

    def entries_page(self, volunteer_id: str, before_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` of the volunteer's entries before ``before_id``, newest first (ids
        are time-ordered)."""
        query = select(ledger_t).where(ledger_t.c.volunteer_id == volunteer_id)
        if before_id is not None:
            query = query.where(ledger_t.c.id < before_id)
        return self.db.execute(query.order_by(ledger_t.c.id.desc()).limit(count)).all()

    # --- balances -------------------------------------------------------------------------------

    def account(self, volunteer_id: str, lock: bool = False) -> Account | None:
        """The volunteer's account, if it has one; with ``lock``, held until the commit."""
        query = _ACCOUNT_LOCKED if lock else _ACCOUNT
        row = self.db.execute(query, {"volunteer_id": volunteer_id}).first()
        return None if row is None else Account(row.balance, row.earned, row.spent)

    def put_account(self, volunteer_id: str, account: Account, at: datetime) -> None:
        """Store the account as the use case decided it (over the row it holds locked)."""
        self.db.execute(
            update(balances_t)
            .where(balances_t.c.volunteer_id == volunteer_id)
            .values(
                balance=account.balance, earned=account.earned, spent=account.spent, updated_at=at
            )
        )

    def credit(self, volunteer_id: str, city: str, points: int, at: datetime) -> int:
        """Add ``points >= 0`` earned (creating the account); the balance after."""
        return self.db.execute(_CREDIT, _earned(volunteer_id, city, points, at)).scalar_one()

    def credit_many(self, earned: dict[str, tuple[str, int]], at: datetime) -> dict[str, int]:
        """Add earned points to many accounts (``{volunteer_id: (city, points >= 0)}``) in one
        statement; the balances after."""
        rows = [
            _earned(volunteer_id, city, points, at)
            # In key order, so concurrent batches lock rows in one order (no deadlocks).
            for volunteer_id, (city, points) in sorted(earned.items())
        ]
        self.db.execute(_CREDIT_MANY, rows)
        found = self.db.execute(_BALANCES_OF, {"volunteer_ids": list(earned)})
        return dict(found.all())

    def is_known(self, volunteer_id: str) -> bool:
        """Whether the volunteer is in the replica or has points here."""
        for column in (replica_t.c.volunteer_id, balances_t.c.volunteer_id):
            if self.db.execute(select(column).where(column == volunteer_id)).first():
                return True
        return False

    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        """The volunteer if known and neither suspended nor removed (``NotFound``/``Suspended``)."""
        return require_eligible(self.db, volunteer_id, now)

    # --- ranking totals -------------------------------------------------------------------------

    def add_totals(self, rows: list[dict[str, Any]]) -> None:
        """Add to totals: rows of ``period, volunteer_id, city`` and ``TOTAL_COUNTERS``."""
        if rows:
            ordered = sorted(rows, key=lambda r: (r["period"], r["volunteer_id"]))
            self.db.execute(_TOTALS, ordered)

    def board(self, period: str, city: str | None, team_id: str | None, count: int) -> list[Any]:
        """The top ``count`` ``(volunteer_id, city, points)`` of ``period``, in a city or
        every city, optionally one team's members: one index range read."""
        filters = [totals_t.c.period == period]
        if city is not None:
            filters.append(totals_t.c.city == city)
        query = select(totals_t.c.volunteer_id, totals_t.c.city, totals_t.c.points).where(*filters)
        if team_id is not None:
            query = query.join(
                members_t,
                and_(
                    members_t.c.volunteer_id == totals_t.c.volunteer_id,
                    members_t.c.team_id == team_id,
                ),
            )
        return self.db.execute(query.order_by(*_BOARD_ORDER).limit(count)).all()

    def totals_page(
        self, period: str, city: str, after: tuple[float, str] | None, count: int
    ) -> list[Any]:
        """Up to ``count`` totals of the city's volunteers for ``period``, highest first,
        after ``(points, volunteer_id)``: one index range read however deep."""
        query = select(totals_t).where(totals_t.c.period == period, totals_t.c.city == city)
        if after is not None:
            points, volunteer_id = after
            query = query.where(
                or_(
                    totals_t.c.points < points,
                    and_(totals_t.c.points == points, totals_t.c.volunteer_id < volunteer_id),
                )
            )
        return self.db.execute(query.order_by(*_BOARD_ORDER).limit(count)).all()

    # --- peers' entries (federated mode) --------------------------------------------------------

    def add_peer_entry(self, values: dict[str, Any]) -> bool:
        """Record a peer's ranked entry; False if it was recorded before."""
        statement = conflict_insert(self.db, peers_t).values(**values)
        return self.db.execute(statement.on_conflict_do_nothing()).rowcount == 1

    # --- the catalog ----------------------------------------------------------------------------

    def add_catalog_item(self, values: dict[str, Any]) -> None:
        """Insert an item of a city's catalog."""
        self.db.execute(insert(items_t).values(**values))

    def catalog_item(self, item_id: str) -> Any | None:
        """An item of any city's catalog."""
        return self.db.execute(select(items_t).where(items_t.c.id == item_id)).first()

    def catalog_page(self, city: str, after_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` items of the city's catalog after ``after_id``, in id order."""
        query = select(items_t).where(items_t.c.city == city)
        if after_id is not None:
            query = query.where(items_t.c.id > after_id)
        return self.db.execute(query.order_by(items_t.c.id).limit(count)).all()

    def take_stock(self, item_id: str, quantity: int) -> int | None:
        """``quantity`` fewer in stock if there are that many (the stock after), else None.
        One conditional update: the stock holds however many redemptions race."""
        return self.db.execute(
            update(items_t)
            .where(items_t.c.id == item_id, items_t.c.stock >= quantity)
            .values(stock=items_t.c.stock - quantity)
            .returning(items_t.c.stock)
        ).scalar()

    def return_stock(self, item_id: str, quantity: int) -> None:
        """``quantity`` more in stock (a reversed redemption's)."""
        self.db.execute(
            update(items_t).where(items_t.c.id == item_id).values(stock=items_t.c.stock + quantity)
        )

    # --- redemptions ----------------------------------------------------------------------------

    def add_redemption(self, values: dict[str, Any]) -> Any | None:
        """Record a redemption; the row as written, or None if the volunteer's idempotency key
        is taken (a concurrent call with the same key waits here until the first commits)."""
        statement = conflict_insert(self.db, redemptions_t).values(**values)
        if self.db.execute(statement.on_conflict_do_nothing()).rowcount != 1:
            return None
        return row_of(values, redemptions_t)

    def redemption(self, redemption_id: str) -> Any | None:
        """A redemption by its id."""
        return self.db.execute(
            select(redemptions_t).where(redemptions_t.c.id == redemption_id)
        ).first()

    def redemption_by_key(self, volunteer_id: str, key: str) -> Any | None:
        """The volunteer's redemption made with idempotency key ``key``."""
        return self.db.execute(
            select(redemptions_t).where(
                redemptions_t.c.volunteer_id == volunteer_id,
                redemptions_t.c.idempotency_key == key,
            )
        ).first()

    def mark_reversed(self, redemption_id: str, at: datetime, reason: str) -> Any | None:
        """``completed -> reversed`` (one conditional update: once however many race); the
        redemption as it now is, or None if there was no completed one."""
        return self.db.execute(
            update(redemptions_t)
            .where(redemptions_t.c.id == redemption_id, redemptions_t.c.status == COMPLETED)
            .values(status=REVERSED, reversed_at=at, reversal_reason=reason)
            .returning(*redemptions_t.c)
        ).first()

    # --- team membership ------------------------------------------------------------------------

    def replica_versions(self, volunteer_ids: list[str]) -> dict[str, int]:
        """The replica's version of each of ``volunteer_ids`` it holds."""
        return dict(self.db.execute(_REPLICA_VERSIONS, {"ids": volunteer_ids}).all())

    def replace_memberships(self, teams: dict[str, list[str]]) -> None:
        """Each volunteer of ``teams`` is a member of exactly its teams (two statements)."""
        # In key order, as the replica's upsert, so two batches lock rows in one order.
        volunteer_ids = sorted(teams)
        self.db.execute(_MEMBERS_OF, {"ids": volunteer_ids})
        rows = [{"team_id": t, "volunteer_id": v} for v in volunteer_ids for t in teams[v]]
        if rows:
            self.db.execute(insert(members_t), rows)
