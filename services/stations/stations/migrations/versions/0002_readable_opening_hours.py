"""stations: drop opening-hours entries no evaluation can read (stored before rules were checked)"""

from alembic import op

from pioneer.migrations import drop_unreadable_schedule_entries

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    drop_unreadable_schedule_entries(op, "stations", "opening_hours")
