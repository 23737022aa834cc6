"""surveys: the satisfaction question after an agent's resolution, and its answer

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 04:31:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", Id, sa.ForeignKey(
            "conversations.id", name="fk_surveys_conversation_id_conversations"),
            nullable=False),
        sa.Column("resolution_event_id", Id, nullable=False),
        sa.Column("agent_id", Id, sa.ForeignKey("users.id", name="fk_surveys_agent_id_users"),
                  nullable=False),
        sa.Column("queue", sa.String(64)),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20)),
        sa.Column("message_id", Id, sa.ForeignKey("messages.id",
                                                  name="fk_surveys_message_id_messages")),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer()),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.UniqueConstraint("resolution_event_id", name="uq_surveys_resolution_event_id"),
    )
    op.create_index("ix_surveys_conversation", "surveys", ["conversation_id", "id"])
    op.create_index("ix_surveys_sent", "surveys", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_surveys_sent", table_name="surveys")
    op.drop_index("ix_surveys_conversation", table_name="surveys")
    op.drop_table("surveys")
