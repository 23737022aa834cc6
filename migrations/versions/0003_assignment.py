"""assignment and SLA: offers, opened marks, round-robin order, merged contacts, SLA state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("merged_into", Id))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("offered_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("opened_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("sla_state", sa.String(10), nullable=False,
                                   server_default="ok"))
        batch.create_index("ix_conversations_sla", ["status", "sla_state", "sla_due_at"])
        batch.create_index("ix_conversations_offered", ["offered_at"])
        batch.create_index("ix_conversations_created", ["created_at"])
        batch.create_index("ix_conversations_contact", ["contact_id", "id"])
        batch.create_index("ix_conversations_waiting_order",
                           ["queue", "status", "priority", "created_at"])
    with op.batch_alter_table("contacts") as batch:
        batch.create_index("ix_contacts_merged_into", ["merged_into"])


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_merged_into")
        batch.drop_column("merged_into")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_waiting_order")
        batch.drop_index("ix_conversations_offered")
        batch.drop_index("ix_conversations_created")
        batch.drop_index("ix_conversations_contact")
        batch.drop_index("ix_conversations_sla")
        batch.drop_column("sla_state")
        batch.drop_column("opened_at")
        batch.drop_column("offered_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_assigned_at")
