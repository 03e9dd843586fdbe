"""volunteers: drop availability entries no evaluation can read (stored before rules were
checked)"""

from alembic import op

from pioneer.migrations import drop_unreadable_schedule_entries

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    drop_unreadable_schedule_entries(op, "volunteers", "availability")
