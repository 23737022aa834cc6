"""provider_erasures.locator: what finds an erased message at its provider besides its id

A mailbox's server holds a resident's mail under a UID of its own, which no message keeps:
the mail is found again by its Message-ID (and told apart from another sender's mail reusing
that id by the hash of its bytes, which the external id holds). The locator is kept only
until the record is deleted there.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 14:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("provider_erasures", sa.Column("locator", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("provider_erasures") as batch:
        batch.drop_column("locator")
