"""The wishes database: micro-wishes, service requests with their offers, and the dispatch
index built from the volunteer replica (which the kernel defines)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
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


class ServiceRequest(Base):
    """A hotline service request (the 96345 way). ``requester`` ({name, phone}) and ``address``
    never travel in events; ``assigned_to`` is set once an offer is accepted."""

    __tablename__ = "service_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(40))
    urgency: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(2000))
    address: Mapped[str] = mapped_column(String(200))
    requester: Mapped[dict[str, Any]] = mapped_column(JSON)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    raised_by: Mapped[str] = mapped_column(String(128))
    assigned_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assigned_city: Mapped[str | None] = mapped_column(String(32), nullable=True)
    completion_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'dispatched', 'accepted', 'completed', 'closed', 'unassigned',"
            " 'cancelled')",
            name="known_status",
        ),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_1_to_5"),
        Index("ix_service_requests_city_status_id", "city", "status", "id"),
        Index("ix_service_requests_city_id", "city", "id"),
        # "Busy": a volunteer with an accepted, unfinished request.
        Index("ix_service_requests_assigned_to_status", "assigned_to", "status"),
    )


class RequestOffer(Base):
    """One attempt to place a request with a volunteer: ``open`` until accepted, declined,
    timed out or withdrawn. An emergency has up to three open offers at once."""

    __tablename__ = "request_offers"

    request_id: Mapped[str] = mapped_column(ForeignKey("service_requests.id"), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_city: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    distance_m: Mapped[float] = mapped_column(Float)
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'timed_out', 'withdrawn')",
            name="known_status",
        ),
        # The offer timer: open offers in expiry order.
        Index("ix_request_offers_status_expires_at", "status", "expires_at"),
        Index("ix_request_offers_volunteer_id", "volunteer_id"),
    )


class ComplaintDelivery(Base):
    """A complaint filed here about a request's assigned volunteer, until the volunteers service
    has recorded it (``pending`` -> ``delivered``). Its ``complaint_id`` is chosen here and sent
    along, so a retried delivery never records it twice."""

    __tablename__ = "complaint_deliveries"

    complaint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("service_requests.id"))
    city: Mapped[str] = mapped_column(String(32))
    volunteer_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered')", name="known_status"),
        Index("ix_complaint_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_complaint_deliveries_request_id", "request_id"),
    )
