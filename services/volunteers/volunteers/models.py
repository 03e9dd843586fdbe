"""The volunteers database: volunteers and their skills (located, for indexed search), teams and
memberships, yearly commitments and complaints."""

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
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pioneer.db import NAMING_CONVENTION, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Volunteer(Base):
    """A registered volunteer. One phone per city (``uq_volunteers_city_phone``).

    ``version`` grows with every change and travels in the events, so replicas apply them in order.
    ``geocell`` is the Morton cell of the location (null without one) for indexed nearby search.
    """

    __tablename__ = "volunteers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(11))
    district: Mapped[str] = mapped_column(String(200))
    community: Mapped[str] = mapped_column(String(200))
    is_party_member: Mapped[bool] = mapped_column(Boolean)
    party_branch: Mapped[str | None] = mapped_column(String(200), nullable=True)
    skills: Mapped[list[str]] = mapped_column(JSON)
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    geocell: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    suspended_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cards: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("city", "phone"),
        CheckConstraint("status IN ('active', 'suspended', 'removed')", name="known_status"),
        Index("ix_volunteers_city_status_id", "city", "status", "id"),
        Index("ix_volunteers_city_status_geocell", "city", "status", "geocell"),
        # Only suspended volunteers are indexed for the reinstatement timer.
        Index(
            "ix_volunteers_suspension_due",
            "suspended_until",
            sqlite_where=text("status = 'suspended'"),
            postgresql_where=text("status = 'suspended'"),
        ),
    )


class VolunteerSkill(Base):
    """One row per skill of a volunteer, with the volunteer's city, status and place copied in,
    so "active volunteers with this skill near here" is one index range scan per geocell range."""

    __tablename__ = "volunteer_skills"

    volunteer_id: Mapped[str] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(40), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    geocell: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index(
            "ix_volunteer_skills_city_skill_status_id", "city", "skill", "status", "volunteer_id"
        ),
        Index(
            "ix_volunteer_skills_city_skill_status_geocell", "city", "skill", "status", "geocell"
        ),
    )


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str] = mapped_column(String(40))
    members: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_teams_city_id", "city", "id"),)


class TeamMember(Base):
    """A volunteer in a team. A volunteer belongs to one organisational team at most: the
    partial unique index ``ux_team_members_one_organization`` holds however many joins race."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(ForeignKey("volunteers.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("relation IN ('organization', 'activity')", name="known_relation"),
        Index("ix_team_members_volunteer_id", "volunteer_id"),
        Index(
            "ux_team_members_one_organization",
            "volunteer_id",
            unique=True,
            sqlite_where=text("relation = 'organization'"),
            postgresql_where=text("relation = 'organization'"),
        ),
    )


class Commitment(Base):
    """A volunteer's public commitment (承诺) for a year; one per volunteer and year."""

    __tablename__ = "commitments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(ForeignKey("volunteers.id"))
    city: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("volunteer_id", "year"),
        Index("ix_commitments_city_year_id", "city", "year", "id"),
    )


class Complaint(Base):
    """A complaint against a volunteer: ``open``, then ``upheld`` (with its ladder ``level``) or
    ``dismissed``."""

    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(ForeignKey("volunteers.id"))
    city: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'upheld', 'dismissed')", name="known_status"),
        Index("ix_complaints_volunteer_id", "volunteer_id"),
    )
