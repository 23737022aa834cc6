"""contacts.preferred_channel: where a resident's results go first

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 00:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("preferred_channel", sa.String(20)))


def downgrade() -> None:
    # SQLite drops a column in place (3.35+): recreating the table, as a batch would, fails
    # while other tables' rows refer to it.
    op.drop_column("contacts", "preferred_channel")
