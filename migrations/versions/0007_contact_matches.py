"""contacts: typed identifiers become claims and possible matches, never joining keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00.000000

Typed FINs were kept in clear on the contact and merged contacts on their own; the column
goes (a FIN typed before stays in its message). A phone or e-mail address that no identity
of the contact vouches for (a carrier-delivered number, the address a mail came from) was
typed, so it is cleared: a later SMS from a number someone typed must not join their contact.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_claims",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("masked", sa.String(320), nullable=False),
        sa.Column("conversation_id", _ID),
        sa.Column("found_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name="fk_contact_claims_contact_id_contacts"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name="fk_contact_claims_conversation_id_conversations"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_claims"),
        sa.UniqueConstraint("contact_id", "digest", name="uq_contact_claims_contact_digest"),
    )
    op.create_index("ix_contact_claims_digest", "contact_claims", ["digest"])
    op.create_table(
        "contact_matches",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("other_contact_id", _ID, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("masked", sa.String(320), nullable=False),
        sa.Column("found_at", _TIME, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("decided_by", _ID),
        sa.Column("decided_at", _TIME),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name="fk_contact_matches_contact_id_contacts"),
        sa.ForeignKeyConstraint(["other_contact_id"], ["contacts.id"],
                                name="fk_contact_matches_other_contact_id_contacts"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"],
                                name="fk_contact_matches_decided_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_matches"),
    )
    op.create_index("ix_contact_matches_contact", "contact_matches", ["contact_id"])
    op.create_index("ix_contact_matches_other_contact", "contact_matches",
                    ["other_contact_id"])
    for column, channels in (("phone", "'sms', 'whatsapp', 'voice'"), ("email", "'email'")):
        op.execute(f"""
            UPDATE contacts SET {column} = NULL
            WHERE {column} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM contact_identities i
                WHERE i.contact_id = contacts.id AND i.channel IN ({channels})
                  AND i.address = contacts.{column})""")
    op.drop_index("ix_contacts_fin", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("fin")


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("fin", sa.String(7)))
    op.create_index("ix_contacts_fin", "contacts", ["fin"])
    op.drop_index("ix_contact_matches_other_contact", table_name="contact_matches")
    op.drop_index("ix_contact_matches_contact", table_name="contact_matches")
    op.drop_table("contact_matches")
    op.drop_index("ix_contact_claims_digest", table_name="contact_claims")
    op.drop_table("contact_claims")
