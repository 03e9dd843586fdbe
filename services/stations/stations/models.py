"""The stations database: stations (own and federated replicas), their services, posts,
claims, activities and check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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


class Station(Base):
    """A station. ``home`` is false for replicas of federated cities' stations (read-only here)."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    district: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    geocell: Mapped[int] = mapped_column(BigInteger)
    services: Mapped[list[str]] = mapped_column(JSON)
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    standard: Mapped[dict[str, bool]] = mapped_column(JSON)
    meets_standard: Mapped[bool] = mapped_column(Boolean)
    home: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_stations_geocell", "geocell"),
        Index("ix_stations_city_id", "city", "id"),
        Index("ix_stations_city_district_id", "city", "district", "id"),
    )


class StationService(Base):
    """One row per service a station offers, located, so "nearby with this service" is an index scan."""

    __tablename__ = "station_services"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(40), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    geocell: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_station_services_service_geocell", "service", "geocell"),
        Index("ix_station_services_city_service_station_id", "city", "service", "station_id"),
    )


class Post(Base):
    """A post (岗位) volunteers claim; ``claimed`` never exceeds ``capacity`` (checked by the database)."""

    __tablename__ = "posts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), index=True)
    city: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    capacity: Mapped[int] = mapped_column(Integer)
    claimed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("claimed >= 0 AND claimed <= capacity", name="claimed_within_capacity"),
    )


class PostClaim(Base):
    """A volunteer holding a post; the primary key makes holding a post twice impossible."""

    __tablename__ = "post_claims"

    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_city: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_post_claims_volunteer_id", "volunteer_id"),)


class Activity(Base):
    """An activity at a station; ``checked_in`` never exceeds ``capacity``."""

    __tablename__ = "activities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), index=True)
    city: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    points: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    checked_in: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(
            "checked_in >= 0 AND checked_in <= capacity", name="checked_in_within_capacity"
        ),
    )


class CheckIn(Base):
    """A volunteer's check-in at an activity; once per volunteer and activity."""

    __tablename__ = "checkins"

    activity_id: Mapped[str] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_city: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    hours: Mapped[float] = mapped_column(Float)
    checked_in_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_checkins_volunteer_id", "volunteer_id"),)
