"""stations: stations, services, posts, claims, activities, check-ins, kernel tables, replica"""

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
        "stations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("district", sa.String(200), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("geocell", sa.BigInteger, nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("opening_hours", sa.JSON, nullable=False),
        sa.Column("standard", sa.JSON, nullable=False),
        sa.Column("meets_standard", sa.Boolean, nullable=False),
        sa.Column("home", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stations"),
    )
    op.create_index("ix_stations_geocell", "stations", ["geocell"])
    op.create_index("ix_stations_city_id", "stations", ["city", "id"])
    op.create_index("ix_stations_city_district_id", "stations", ["city", "district", "id"])
    op.create_table(
        "station_services",
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("geocell", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name="fk_station_services_station_id_stations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", "service", name="pk_station_services"),
    )
    op.create_index(
        "ix_station_services_service_geocell", "station_services", ["service", "geocell"]
    )
    op.create_index(
        "ix_station_services_city_service_station_id",
        "station_services",
        ["city", "service", "station_id"],
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("claimed", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "claimed >= 0 AND claimed <= capacity", name="ck_posts_claimed_within_capacity"
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_posts_station_id_stations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
    )
    op.create_index("ix_posts_station_id", "posts", ["station_id"])
    op.create_table(
        "post_claims",
        sa.Column("post_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("volunteer_city", sa.String(32), nullable=False),
        sa.Column("claimed_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_post_claims_post_id_posts"),
        sa.PrimaryKeyConstraint("post_id", "volunteer_id", name="pk_post_claims"),
    )
    op.create_index("ix_post_claims_volunteer_id", "post_claims", ["volunteer_id"])
    op.create_table(
        "activities",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("checked_in", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "checked_in >= 0 AND checked_in <= capacity",
            name="ck_activities_checked_in_within_capacity",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name="fk_activities_station_id_stations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_activities"),
    )
    op.create_index("ix_activities_station_id", "activities", ["station_id"])
    op.create_table(
        "checkins",
        sa.Column("activity_id", sa.String(64), nullable=False),
        sa.Column("volunteer_id", sa.String(64), nullable=False),
        sa.Column("volunteer_city", sa.String(32), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("checked_in_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name="fk_checkins_activity_id_activities"
        ),
        sa.PrimaryKeyConstraint("activity_id", "volunteer_id", name="pk_checkins"),
    )
    op.create_index("ix_checkins_volunteer_id", "checkins", ["volunteer_id"])


def downgrade() -> None:
    for table in (
        "checkins",
        "activities",
        "post_claims",
        "posts",
        "station_services",
        "stations",
        "volunteer_replica",
        "processed_events",
        "outbox",
    ):
        op.drop_table(table)
