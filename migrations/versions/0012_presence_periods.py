"""users.presence_reason and presence_since; presence_periods: agents' time in each state

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 00:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("presence_reason", sa.String(64)))
        batch.add_column(sa.Column("presence_since", sa.DateTime(timezone=True)))
    op.create_table(
        "presence_periods",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("presence", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_presence_periods_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_presence_periods"),
    )
    op.create_index("ix_presence_periods_user_started", "presence_periods",
                    ["user_id", "started_at"])
    op.create_index("ix_presence_periods_started", "presence_periods", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_presence_periods_started", table_name="presence_periods")
    op.drop_index("ix_presence_periods_user_started", table_name="presence_periods")
    op.drop_table("presence_periods")
    # SQLite drops a column in place (3.35+): recreating the table, as a batch would, fails
    # while other tables' rows refer to it.
    op.drop_column("users", "presence_since")
    op.drop_column("users", "presence_reason")
