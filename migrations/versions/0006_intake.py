"""intake: provider webhooks journalled before they are acknowledged

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intake"),
        sa.UniqueConstraint("channel", "external_id", name="uq_intake_channel_external_id"),
    )
    op.create_index("ix_intake_accepted_at", "intake", ["accepted_at"])


def downgrade() -> None:
    op.drop_index("ix_intake_accepted_at", table_name="intake")
    op.drop_table("intake")
