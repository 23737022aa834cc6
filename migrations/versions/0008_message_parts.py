"""message_parts: the provider's id of every part of an outbound message

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03 11:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name="fk_message_parts_message_id_messages", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "part", name="pk_message_parts"),
        sa.UniqueConstraint("channel", "external_id",
                            name="uq_message_parts_channel_external_id"),
    )
    # Sends made before parts were recorded kept their first part's id on the message.
    op.execute(
        "INSERT INTO message_parts (message_id, part, channel, external_id, accepted_at) "
        "SELECT id, 0, channel, external_id, COALESCE(sent_at, created_at) FROM messages "
        "WHERE direction = 'out' AND external_id IS NOT NULL")


def downgrade() -> None:
    op.drop_table("message_parts")
