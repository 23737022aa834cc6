"""mail_cursors, mail_attempts, mail_dead_letters: reading the e-mail channel's mailboxes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 20:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mail_cursors",
        sa.Column("mailbox", sa.String(100), nullable=False),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "folder", name="pk_mail_cursors"),
    )
    op.create_table(
        "mail_attempts",
        sa.Column("mailbox", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "digest", name="pk_mail_attempts"),
    )
    op.create_table(
        "mail_dead_letters",
        sa.Column("id", Id, nullable=False),
        sa.Column("mailbox", sa.String(100), nullable=False),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_dead_letters"),
        sa.UniqueConstraint("mailbox", "digest", name="uq_mail_dead_letters_mailbox_digest"),
    )


def downgrade() -> None:
    op.drop_table("mail_dead_letters")
    op.drop_table("mail_attempts")
    op.drop_table("mail_cursors")
