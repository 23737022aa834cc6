"""contact_identities.reply_to: where a web-chat resident asked answers to go while away

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_identities") as batch:
        batch.add_column(sa.Column("reply_to", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place (3.35+): recreating the table, as a batch would, fails
    # while other tables' rows refer to it.
    op.drop_column("contact_identities", "reply_to")
