"""messages: sanitized HTML of e-mails, and channel extras (WhatsApp template sends)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("html", sa.Text()))
        batch.add_column(sa.Column("extra", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("extra")
        batch.drop_column("html")
