"""volunteers: volunteers, skills, teams, members, commitments, complaints, kernel tables"""

import sqlalchemy as sa
from alembic import op

from pioneer.db import UtcDateTime
from pioneer.migrations import create_kernel_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_kernel_tables(op)
    op.create_table(
        "volunteers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("district", sa.String(200), nullable=False),
        sa.Column("community", sa.String(200), nullable=False),
        sa.Column("is_party_member", sa.Boolean, nullable=False),
        sa.Column("party_branch", sa.String(200), nullable=True),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("availability", sa.JSON, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("geocell", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suspended_until", UtcDateTime, nullable=True),
        sa.Column("cards", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'removed')", name="ck_volunteers_known_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_volunteers"),
        sa.UniqueConstraint("city", "phone", name="uq_volunteers_city_phone"),
    )
    op.create_index("ix_volunteers_city_status_id", "volunteers", ["city", "status", "id"])
    op.create_index(
        "ix_volunteers_city_status_geocell", "volunteers", ["city", "status", "geocell"]
    )
    op.create_index(
        "ix_volunteers_suspension_due",
        "volunteers",
        ["suspended_until"],
        sqlite_where=sa.text("status = 'suspended'"),
        postgresql_where=sa.text("status = 'suspended'"),
    )
    op.create_table(
        "volunteer_skills",
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(40), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("geocell", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name="fk_volunteer_skills_volunteer_id_volunteers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("volunteer_id", "skill", name="pk_volunteer_skills"),
    )
    op.create_index(
        "ix_volunteer_skills_city_skill_status_id",
        "volunteer_skills",
        ["city", "skill", "status", "volunteer_id"],
    )
    op.create_index(
        "ix_volunteer_skills_city_skill_status_geocell",
        "volunteer_skills",
        ["city", "skill", "status", "geocell"],
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("specialty", sa.String(40), nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
    )
    op.create_index("ix_teams_city_id", "teams", ["city", "id"])
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("joined_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "relation IN ('organization', 'activity')", name="ck_team_members_known_relation"
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_team_members_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteers.id"], name="fk_team_members_volunteer_id_volunteers"
        ),
        sa.PrimaryKeyConstraint("team_id", "volunteer_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_volunteer_id", "team_members", ["volunteer_id"])
    op.create_index(
        "ux_team_members_one_organization",
        "team_members",
        ["volunteer_id"],
        unique=True,
        sqlite_where=sa.text("relation = 'organization'"),
        postgresql_where=sa.text("relation = 'organization'"),
    )
    op.create_table(
        "commitments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteers.id"], name="fk_commitments_volunteer_id_volunteers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_commitments"),
        sa.UniqueConstraint("volunteer_id", "year", name="uq_commitments_volunteer_id_year"),
    )
    op.create_index("ix_commitments_city_year_id", "commitments", ["city", "year", "id"])
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'upheld', 'dismissed')", name="ck_complaints_known_status"
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteers.id"], name="fk_complaints_volunteer_id_volunteers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
    )
    op.create_index("ix_complaints_volunteer_id", "complaints", ["volunteer_id"])


def downgrade() -> None:
    for table in (
        "complaints",
        "commitments",
        "team_members",
        "teams",
        "volunteer_skills",
        "volunteers",
        "processed_events",
        "outbox",
    ):
        op.drop_table(table)
