"""The wishes database: micro-wishes (and, through the kernel, the volunteer replica)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    Index,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pioneer.db import NAMING_CONVENTION, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Wish(Base):
    """A micro-wish. ``beneficiary`` ({name, phone, address}) never leaves this table in events.

    ``status`` changes only through conditional updates (``WHERE status IN (...)``), so racing
    claims cannot both win.
    """

    __tablename__ = "wishes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000))
    category: Mapped[str] = mapped_column(String(40))
    beneficiary: Mapped[dict[str, Any]] = mapped_column(JSON)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    geocell: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_by: Mapped[str] = mapped_column(String(128))
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_by_city: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    fulfillment_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('submitted', 'published', 'rejected', 'claimed', 'fulfilled', 'closed',"
            " 'cancelled', 'expired')",
            name="known_status",
        ),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_1_to_5"),
        # list_wishes: by city (and status or category), keyset on id.
        Index("ix_wishes_city_status_id", "city", "status", "id"),
        Index("ix_wishes_city_category_id", "city", "category", "id"),
        # list_wishes(near=...): range scans over the covering cells.
        Index("ix_wishes_geocell", "geocell"),
        # The expiry timer: published wishes in deadline order.
        Index("ix_wishes_status_deadline", "status", "deadline"),
        Index("ix_wishes_claimed_by", "claimed_by"),
    )
