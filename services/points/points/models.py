"""The points database: the append-only ledger, balances, maintained ranking totals, the
redemption catalog and redemptions, team membership and peers' entries (federated mode).

The rules the database itself enforces (so no race or replay can break them):
- ``ledger_entries.source_key`` is unique: a piece of work (a check-in, a closed wish, a
  completed or top-rated request), a redemption and its reversal each count once.
- ``balances``: ``balance >= 0`` and ``balance = earned - spent``.
- ``catalog_items.stock >= 0``.
- ``redemptions``: one per ``(volunteer_id, idempotency_key)``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pioneer.db import NAMING_CONVENTION, UtcDateTime

from . import domain


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """``column IN ('a', 'b')``: a CHECK built from the domain's list of values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LedgerEntry(Base):
    """One change of a volunteer's points; never updated or deleted.

    ``at`` is when the work happened (the check-in time, the event's ``occurred_at``), so the
    annual report counts work in the year it was done; ``recorded_at`` is when it was booked.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64))
    city: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    hours: Mapped[float] = mapped_column(Float)
    source_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_key: Mapped[str | None] = mapped_column(String(160), nullable=True)
    redemption_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("source_key", name="uq_ledger_entries_source_key"),
        CheckConstraint(_one_of("kind", domain.KINDS), name="known_kind"),
        Index("ix_ledger_entries_volunteer_id_id", "volunteer_id", "id"),
    )


class Balance(Base):
    """A volunteer's balance, changed in the same transaction as each ledger entry."""

    __tablename__ = "balances"

    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(Integer)
    earned: Mapped[int] = mapped_column(Integer)
    spent: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("balance >= 0", name="never_negative"),
        CheckConstraint("spent >= 0", name="spent_not_negative"),
        CheckConstraint("balance = earned - spent", name="adds_up"),
    )


class Total(Base):
    """Ranking totals per period (``all``, ``YYYY``, ``YYYY-MM``) and volunteer, maintained in
    each ranked entry's transaction; also the annual report's counters. Peers' volunteers
    (federated mode) are here too, from their ``points_awarded`` events."""

    __tablename__ = "totals"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    hours: Mapped[float] = mapped_column(Float)
    activities: Mapped[int] = mapped_column(Integer)
    wishes: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # A city's board and the annual report: top of (period, city) by points.
        Index("ix_totals_period_city_points", "period", "city", "points", "volunteer_id"),
        # The all-cities board.
        Index("ix_totals_period_points", "period", "points", "volunteer_id"),
    )


class CatalogItem(Base):
    """Something a city's volunteers can redeem points for; ``stock`` never goes below zero."""

    __tablename__ = "catalog_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("cost > 0", name="cost_positive"),
        Index("ix_catalog_items_city_id", "city", "id"),
    )


class Redemption(Base):
    """A redemption, unique per (volunteer, idempotency key); ``balance`` is the balance right
    after it, so a repeated call returns exactly the first result."""

    __tablename__ = "redemptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64))
    city: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    cost: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reversal_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        UniqueConstraint("volunteer_id", "idempotency_key", name="uq_redemptions_idempotency"),
        CheckConstraint(
            _one_of("status", (domain.COMPLETED, domain.REVERSED)), name="known_status"
        ),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class TeamMember(Base):
    """Team membership from volunteers' events (the replica's version guards the order)."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_team_members_volunteer_id", "volunteer_id"),)


class PeerEntry(Base):
    """A peer deployment's ranked entry (federated mode), applied to ``totals`` once."""

    __tablename__ = "peer_entries"

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64))
    city: Mapped[str] = mapped_column(String(32))
    delta: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
