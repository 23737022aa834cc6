"""contacts: the merged_into index holds only merged contacts

An index on every contact's merged_into (NULL for all but the few merged ones) let SQLite's
planner, which has no statistics, read `merged_into IS NULL` through it as if it were
selective: a look-up of a batch's phones or typed identifiers scanned every contact, and
took longer with each resident the system had ever met.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 15:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

MERGED = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_contacts_merged_into", table_name="contacts")
    op.create_index("ix_contacts_merged_into", "contacts", ["merged_into"],
                    sqlite_where=MERGED, postgresql_where=MERGED)


def downgrade() -> None:
    op.drop_index("ix_contacts_merged_into", table_name="contacts")
    op.create_index("ix_contacts_merged_into", "contacts", ["merged_into"])
