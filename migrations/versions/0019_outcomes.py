"""outcomes and notification_attempts: a case's result and each try to tell the resident

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 04:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", Id, sa.ForeignKey(
            "conversations.id", name="fk_outcomes_conversation_id_conversations"),
            nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("centre", sa.String(64)),
        sa.Column("actor_id", Id, sa.ForeignKey("users.id",
                                                name="fk_outcomes_actor_id_users")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
    )
    op.create_index("ix_outcomes_conversation", "outcomes", ["conversation_id", "id"])
    op.create_table(
        "notification_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("outcome_id", Id, sa.ForeignKey(
            "outcomes.id", name="fk_notification_attempts_outcome_id_outcomes",
            ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("message_id", Id, sa.ForeignKey(
            "messages.id", name="fk_notification_attempts_message_id_messages")),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
        sa.UniqueConstraint("outcome_id", "attempt",
                            name="uq_notification_attempts_outcome_id"),
    )
    op.create_index("ix_notification_attempts_message", "notification_attempts",
                    ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_notification_attempts_message", table_name="notification_attempts")
    op.drop_table("notification_attempts")
    op.drop_index("ix_outcomes_conversation", table_name="outcomes")
    op.drop_table("outcomes")
