"""points: ledger, balances, totals, catalog, redemptions, teams, peers, kernel tables, replica"""

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
        "ledger_entries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=True),
        sa.Column("source_key", sa.String(160), nullable=True),
        sa.Column("redemption_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("source_key", name="uq_ledger_entries_source_key"),
        sa.CheckConstraint(
            "kind IN ('checkin', 'wish', 'request', 'rating_bonus', 'adjust', 'redeem', 'reverse')",
            name="ck_ledger_entries_known_kind",
        ),
    )
    op.create_index("ix_ledger_entries_volunteer_id_id", "ledger_entries", ["volunteer_id", "id"])
    op.create_table(
        "balances",
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("earned", sa.Integer, nullable=False),
        sa.Column("spent", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("volunteer_id", name="pk_balances"),
        sa.CheckConstraint("balance >= 0", name="ck_balances_never_negative"),
        sa.CheckConstraint("spent >= 0", name="ck_balances_spent_not_negative"),
        sa.CheckConstraint("balance = earned - spent", name="ck_balances_adds_up"),
    )
    op.create_table(
        "totals",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("activities", sa.Integer, nullable=False),
        sa.Column("wishes", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("period", "volunteer_id", name="pk_totals"),
    )
    op.create_index(
        "ix_totals_period_city_points", "totals", ["period", "city", "points", "volunteer_id"]
    )
    op.create_index("ix_totals_period_points", "totals", ["period", "points", "volunteer_id"])
    op.create_table(
        "catalog_items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("cost", sa.Integer, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_items"),
        sa.CheckConstraint("stock >= 0", name="ck_catalog_items_stock_not_negative"),
        sa.CheckConstraint("cost > 0", name="ck_catalog_items_cost_positive"),
    )
    op.create_index("ix_catalog_items_city_id", "catalog_items", ["city", "id"])
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("item_name", sa.String(100), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("cost", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("reversed_at", UtcDateTime, nullable=True),
        sa.Column("reversal_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_redemptions"),
        sa.UniqueConstraint("volunteer_id", "idempotency_key", name="uq_redemptions_idempotency"),
        sa.CheckConstraint(
            "status IN ('completed', 'reversed')", name="ck_redemptions_known_status"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_redemptions_quantity_positive"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "volunteer_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_volunteer_id", "team_members", ["volunteer_id"])
    op.create_table(
        "peer_entries",
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_peer_entries"),
    )
