"""wishes: complaints kept until the volunteers service has recorded them"""

import sqlalchemy as sa
from alembic import op

from pioneer.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "complaint_deliveries",
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered')", name="ck_complaint_deliveries_known_status"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name="fk_complaint_deliveries_request_id_service_requests",
        ),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_complaint_deliveries"),
    )
    op.create_index(
        "ix_complaint_deliveries_status_next_attempt_at",
        "complaint_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_complaint_deliveries_request_id", "complaint_deliveries", ["request_id"])
