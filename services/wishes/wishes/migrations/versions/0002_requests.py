"""wishes: service requests, their offers, the dispatch index"""

import sqlalchemy as sa
from alembic import op

from pioneer.db import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "service_requests",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("requester", sa.JSON, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("raised_by", sa.String(128), nullable=False),
        sa.Column("assigned_to", sa.String(64), nullable=True),
        sa.Column("assigned_city", sa.String(32), nullable=True),
        sa.Column("completion_note", sa.String(2000), nullable=True),
        sa.Column("completed_at", UtcDateTime, nullable=True),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("feedback", sa.String(2000), nullable=True),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('new', 'dispatched', 'accepted', 'completed', 'closed', 'unassigned',"
            " 'cancelled')",
            name="ck_service_requests_known_status",
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)",
            name="ck_service_requests_rating_1_to_5",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_service_requests"),
    )
    op.create_index(
        "ix_service_requests_city_status_id", "service_requests", ["city", "status", "id"]
    )
    op.create_index("ix_service_requests_city_id", "service_requests", ["city", "id"])
    op.create_index(
        "ix_service_requests_assigned_to_status", "service_requests", ["assigned_to", "status"]
    )
    op.create_table(
        "request_offers",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("volunteer_city", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("distance_m", sa.Float, nullable=False),
        sa.Column("offered_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'timed_out', 'withdrawn')",
            name="ck_request_offers_known_status",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name="fk_request_offers_request_id_service_requests",
        ),
        sa.PrimaryKeyConstraint("request_id", "volunteer_id", name="pk_request_offers"),
    )
    op.create_index(
        "ix_request_offers_status_expires_at", "request_offers", ["status", "expires_at"]
    )
    op.create_index("ix_request_offers_volunteer_id", "request_offers", ["volunteer_id"])
    op.create_table(
        "dispatch_skills",
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(40), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("geocell", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("volunteer_id", "skill", name="pk_dispatch_skills"),
    )
    op.create_index("ix_dispatch_skills_skill_geocell", "dispatch_skills", ["skill", "geocell"])
