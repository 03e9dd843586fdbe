"""wishes: dispatch reads the kernel's per-skill geo index (``replica_skills``), filled from the
replica held; its own ``dispatch_skills`` goes"""

from alembic import op

from pioneer.replica_skills import create_replica_skills

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_replica_skills(op)
    op.drop_table("dispatch_skills")
