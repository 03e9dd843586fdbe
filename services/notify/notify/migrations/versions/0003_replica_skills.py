"""notify: the directory reads the kernel's per-skill geo index (``replica_skills``), filled
from the replica held; its own ``directory_skills`` goes"""

from alembic import op

from pioneer.replica_skills import create_replica_skills

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_replica_skills(op)
    op.drop_table("directory_skills")
