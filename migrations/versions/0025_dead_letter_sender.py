"""mail_dead_letters.sender_digest: whose mail a dead letter is, for an erasure to find it

A dead letter keeps a mail's raw bytes, which no message names: an erasure of its sender
found nothing to empty until the retention did. The keyed digest of the sender's address
(`inbox.matching.sender_digest`), never the address, lets it. Letters buried before have
none.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 15:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mail_dead_letters", sa.Column("sender_digest", sa.String(64)))
    op.create_index("ix_mail_dead_letters_sender", "mail_dead_letters", ["sender_digest"])


def downgrade() -> None:
    op.drop_index("ix_mail_dead_letters_sender", table_name="mail_dead_letters")
    with op.batch_alter_table("mail_dead_letters") as batch:
        batch.drop_column("sender_digest")
