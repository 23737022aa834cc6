"""users.console_language: the language a user chose for the console's pages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("console_language", sa.String(5)))


def downgrade() -> None:
    # SQLite drops a column in place (3.35+): recreating the table, as a batch would, fails
    # while other tables' rows refer to it.
    op.drop_column("users", "console_language")
