"""conversations.tags: the labels and wrap-up codes agents put on a conversation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 00:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # SQLite drops a column in place (3.35+): recreating the table, as a batch would, fails
    # while other tables' rows refer to it.
    op.drop_column("conversations", "tags")
