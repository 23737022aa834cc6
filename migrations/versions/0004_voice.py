"""voice: where an agent's phone rings (users.voice_address)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("voice_address", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("voice_address")
