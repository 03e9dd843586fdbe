"""widgets: initial tables"""

import sqlalchemy as sa
from alembic import op

from pioneer.migrations import create_kernel_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_kernel_tables(op)
    op.create_table(
        "widgets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "seen",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "switch",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("failing", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("switch", "seen", "widgets", "processed_events", "outbox"):
        op.drop_table(table)
