"""``PointsStore`` in memory, for the use-case tests (``tests/unit/test_usecases.py``).

It keeps the same rows as the real store, as ``SimpleNamespace`` objects, and answers the same
questions; what the real store leaves to the database is kept the same way here: a unique
``source_key`` per entry, one redemption per (volunteer, key), a stock that only a
conditional take lowers, and the balances' ``CHECK`` constraints (a use case that stored a
negative or unbalanced account fails the test).
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pioneer.replica import VolunteerState, eligible
from points.domain import COMPLETED, REVERSED, Account
from points.store import TOTAL_COUNTERS


class FakePointsStore:
    def __init__(self) -> None:
        self.entries: dict[str, SimpleNamespace] = {}
        self.accounts: dict[str, tuple[str, Account]] = {}  # volunteer -> (city, account)
        self.totals: dict[tuple[str, str], SimpleNamespace] = {}  # (period, volunteer)
        self.items: dict[str, SimpleNamespace] = {}
        self.redemptions: dict[str, SimpleNamespace] = {}
        self.members: set[tuple[str, str]] = set()  # (team, volunteer)
        self.peer_entries: dict[str, dict[str, Any]] = {}
        self.volunteers: dict[str, VolunteerState] = {}
        self.versions: dict[str, int] = {}

    # test set-up: the volunteer replica
    def enrol(
        self,
        volunteer_id: str,
        status: str = "active",
        suspended_until: datetime | None = None,
        version: int = 1,
    ) -> str:
        city = volunteer_id.split("-", 1)[0]
        self.volunteers[volunteer_id] = VolunteerState(
            volunteer_id, city, status, suspended_until, []
        )
        self.versions[volunteer_id] = version
        return volunteer_id

    # the ledger
    def add_entry(self, values: dict[str, Any]) -> bool:
        return bool(self.add_entries([values]))

    def add_entries(self, rows: list[dict[str, Any]]) -> set[str]:
        taken = {e.source_key for e in self.entries.values() if e.source_key is not None}
        booked = set()
        for row in rows:
            if row["source_key"] is not None and row["source_key"] in taken:
                continue
            taken.add(row["source_key"])
            self.entries[row["id"]] = SimpleNamespace(**row)
            booked.add(row["id"])
        return booked

    def entries_page(self, volunteer_id: str, before_id: str | None, count: int) -> list[Any]:
        rows = [
            e
            for _, e in sorted(self.entries.items(), reverse=True)
            if e.volunteer_id == volunteer_id and (before_id is None or e.id < before_id)
        ]
        return rows[:count]

    # balances
    def account(self, volunteer_id: str, lock: bool = False) -> Account | None:
        held = self.accounts.get(volunteer_id)
        return None if held is None else held[1]

    def put_account(self, volunteer_id: str, account: Account, at: datetime) -> None:
        # The database's CHECK constraints.
        assert account.balance >= 0 and account.spent >= 0
        assert account.balance == account.earned - account.spent
        self.accounts[volunteer_id] = (self.accounts[volunteer_id][0], account)

    def credit(self, volunteer_id: str, city: str, points: int, at: datetime) -> int:
        return self.credit_many({volunteer_id: (city, points)}, at)[volunteer_id]

    def credit_many(self, earned: dict[str, tuple[str, int]], at: datetime) -> dict[str, int]:
        for volunteer_id, (city, points) in earned.items():
            city, held = self.accounts.get(volunteer_id, (city, Account()))
            self.accounts[volunteer_id] = (
                city,
                Account(held.balance + points, held.earned + points, held.spent),
            )
        return {v: self.accounts[v][1].balance for v in earned}

    def is_known(self, volunteer_id: str) -> bool:
        return volunteer_id in self.volunteers or volunteer_id in self.accounts

    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        return eligible(self.volunteers.get(volunteer_id), volunteer_id, now)

    # ranking totals
    def add_totals(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = (row["period"], row["volunteer_id"])
            held = self.totals.get(key)
            if held is None:
                self.totals[key] = SimpleNamespace(**row)
            else:
                for name in TOTAL_COUNTERS:
                    setattr(held, name, getattr(held, name) + row[name])

    def _ranked(self, period: str, city: str | None) -> list[Any]:
        rows = [t for t in self.totals.values() if t.period == period and city in (None, t.city)]
        return sorted(rows, key=lambda r: (r.points, r.volunteer_id), reverse=True)

    def board(self, period: str, city: str | None, team_id: str | None, count: int) -> list[Any]:
        rows = self._ranked(period, city)
        if team_id is not None:
            rows = [r for r in rows if (team_id, r.volunteer_id) in self.members]
        return rows[:count]

    def totals_page(
        self, period: str, city: str, after: tuple[float, str] | None, count: int
    ) -> list[Any]:
        rows = self._ranked(period, city)
        if after is not None:
            rows = [r for r in rows if (r.points, r.volunteer_id) < after]
        return rows[:count]

    # peers' entries
    def add_peer_entry(self, values: dict[str, Any]) -> bool:
        if values["entry_id"] in self.peer_entries:
            return False
        self.peer_entries[values["entry_id"]] = values
        return True

    # the catalog
    def add_catalog_item(self, values: dict[str, Any]) -> None:
        self.items[values["id"]] = SimpleNamespace(**values)

    def catalog_item(self, item_id: str) -> Any | None:
        return self.items.get(item_id)

    def catalog_page(self, city: str, after_id: str | None, count: int) -> list[Any]:
        rows = [
            i
            for _, i in sorted(self.items.items())
            if i.city == city and (after_id is None or i.id > after_id)
        ]
        return rows[:count]

    def take_stock(self, item_id: str, quantity: int) -> int | None:
        item = self.items[item_id]
        if item.stock < quantity:
            return None
        item.stock -= quantity
        return item.stock

    def return_stock(self, item_id: str, quantity: int) -> None:
        self.items[item_id].stock += quantity

    # redemptions
    def add_redemption(self, values: dict[str, Any]) -> Any | None:
        if self.redemption_by_key(values["volunteer_id"], values["idempotency_key"]):
            return None
        self.redemptions[values["id"]] = SimpleNamespace(
            **values, reversed_at=None, reversal_reason=None
        )
        return SimpleNamespace(**vars(self.redemptions[values["id"]]))

    def redemption(self, redemption_id: str) -> Any | None:
        return self.redemptions.get(redemption_id)

    def redemption_by_key(self, volunteer_id: str, key: str) -> Any | None:
        for r in self.redemptions.values():
            if r.volunteer_id == volunteer_id and r.idempotency_key == key:
                return r
        return None

    def mark_reversed(self, redemption_id: str, at: datetime, reason: str) -> Any | None:
        row = self.redemptions.get(redemption_id)
        if row is None or row.status != COMPLETED:
            return None
        row.status, row.reversed_at, row.reversal_reason = REVERSED, at, reason
        return SimpleNamespace(**vars(row))

    # team membership
    def replica_versions(self, volunteer_ids: list[str]) -> dict[str, int]:
        return {v: self.versions[v] for v in volunteer_ids if v in self.versions}

    def replace_memberships(self, teams: dict[str, list[str]]) -> None:
        self.members = {(t, v) for t, v in self.members if v not in teams}
        self.members |= {(t, v) for v, ts in teams.items() for t in ts}
