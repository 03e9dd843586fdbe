"""notify: kernel tables, volunteer replica, notifications, preferences, directory, offers"""

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
        "notifications",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.String(80), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.String(1000), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("read", sa.Boolean, nullable=False),
        sa.Column("read_at", UtcDateTime, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("held_until", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(
            "channel IN ('inbox', 'webhook', 'sms', 'wechat')",
            name="ck_notifications_known_channel",
        ),
        sa.CheckConstraint(
            "status IN ('stored', 'pending', 'sent', 'failed')",
            name="ck_notifications_known_status",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "source_event_id",
            "recipient_id",
            "channel",
            name="uq_notifications_source_event_id_recipient_id_channel",
        ),
    )
    op.create_index("ix_notifications_inbox", "notifications", ["recipient_id", "channel", "id"])
    op.create_index(
        "ix_notifications_unread", "notifications", ["recipient_id", "channel", "read", "id"]
    )
    op.create_index("ix_notifications_status_due", "notifications", ["status", "due_at"])
    op.create_index("ix_notifications_status_city_id", "notifications", ["status", "city", "id"])
    op.create_table(
        "preferences",
        sa.Column("recipient_id", sa.String(80), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("quiet_start", sa.String(5), nullable=True),
        sa.Column("quiet_end", sa.String(5), nullable=True),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("recipient_id", name="pk_preferences"),
    )
    op.create_table(
        "directory_skills",
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("skill", sa.String(40), nullable=False),
        sa.Column("geocell", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint(
            "city", "skill", "geocell", "volunteer_id", name="pk_directory_skills"
        ),
    )
    op.create_index("ix_directory_skills_volunteer_id", "directory_skills", ["volunteer_id"])
    op.create_table(
        "offer_holds",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("offered_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "volunteer_id", name="pk_offer_holds"),
    )
