"""canned_responses: what admins changed of the canned responses

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 04:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # The shipped defaults are not copied here: a default without a row is in force as
    # shipped (inbox/canned.py), so this table starts empty.
    op.create_table(
        "canned_responses",
        sa.Column("id", Id, nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(100), nullable=True),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_by", Id, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"],
                                name="fk_canned_responses_updated_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_canned_responses"),
        sa.UniqueConstraint("key", name="uq_canned_responses_key"),
    )


def downgrade() -> None:
    op.drop_table("canned_responses")
