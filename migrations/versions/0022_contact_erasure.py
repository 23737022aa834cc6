"""contacts: when a resident's personal data was erased; the audit trail names no actor
for what the system did itself

An admin's erasure, or the retention the deployment keeps, empties a contact's name,
numbers, addresses and everything they wrote (`inbox.erasure`); `erased_at` says it was
done, and when, so the console shows an erased resident as such and the retention's sweep
passes them over. An erasure the retention made is audited as well, by nobody: the
audit trail's actor may be empty.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would copy contacts on SQLite, and dropping the old table
    # breaks the foreign keys that point at it once it holds rows.
    op.add_column("contacts", sa.Column("erased_at", sa.DateTime(timezone=True)))
    # Nothing points at the audit trail: SQLite's copy of it is safe.
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor_id", existing_type=sa.BigInteger().with_variant(
            sa.Integer(), "sqlite"), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM audit_events WHERE actor_id IS NULL")
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor_id", existing_type=sa.BigInteger().with_variant(
            sa.Integer(), "sqlite"), nullable=False)
    op.drop_column("contacts", "erased_at")
