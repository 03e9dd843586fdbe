"""notify: a signing secret per webhook recipient

Preferences stored before it have none: their webhook deliveries fail (``no_webhook_secret``)
until the recipient sets its preferences again and receives one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("preferences", sa.Column("webhook_secret", sa.String(100), nullable=True))
