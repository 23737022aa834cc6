"""provider_erasures: a provider's records of an erased resident's messages, to delete there

Twilio keeps every SMS and WhatsApp message, with its text and files, until it is deleted.
An erasure (`inbox.erasure`) lists those of the resident's messages here in its own
transaction; the worker deletes them at the provider (`channels.provider_records`) and
retries with back-off until the provider confirms.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 12:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "provider_erasures",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_provider_erasures"),
        sa.UniqueConstraint("channel", "external_id",
                            name="uq_provider_erasures_channel_external_id"),
    )
    op.create_index("ix_provider_erasures_due", "provider_erasures", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_provider_erasures_due", table_name="provider_erasures")
    op.drop_table("provider_erasures")
