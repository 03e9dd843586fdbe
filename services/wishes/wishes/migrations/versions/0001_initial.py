"""wishes: wishes, kernel tables, volunteer replica"""

import sqlalchemy as sa
from alembic import op

from pioneer.db import UtcDateTime
from pioneer.migrations import create_kernel_tables
from pioneer.replica import create_volunteer_replica

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_kernel_tables(op)
    create_volunteer_replica(op)
    op.create_table(
        "wishes",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("beneficiary", sa.JSON, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("geocell", sa.BigInteger, nullable=False),
        sa.Column("deadline", UtcDateTime, nullable=False),
        sa.Column("submitted_by", sa.String(128), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_by_city", sa.String(32), nullable=True),
        sa.Column("claimed_at", UtcDateTime, nullable=True),
        sa.Column("fulfillment_note", sa.String(2000), nullable=True),
        sa.Column("fulfilled_at", UtcDateTime, nullable=True),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("feedback", sa.String(2000), nullable=True),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'published', 'rejected', 'claimed', 'fulfilled', 'closed',"
            " 'cancelled', 'expired')",
            name="ck_wishes_known_status",
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_wishes_rating_1_to_5"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_wishes"),
    )
    op.create_index("ix_wishes_city_status_id", "wishes", ["city", "status", "id"])
    op.create_index("ix_wishes_city_category_id", "wishes", ["city", "category", "id"])
    op.create_index("ix_wishes_geocell", "wishes", ["geocell"])
    op.create_index("ix_wishes_status_deadline", "wishes", ["status", "deadline"])
    op.create_index("ix_wishes_claimed_by", "wishes", ["claimed_by"])
