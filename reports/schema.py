"""The reports' own table: one row of derived facts per conversation (`conversation_facts`).

The table sits in the inbox's `metadata` so that `metadata.sorted_tables` (what the tests
truncate, what Alembic compares) includes it. It is derived data: `reports.rollup` can rebuild
any row from the conversation's events at any time, so nothing here is the only copy of
anything.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, String, Table

from inbox.storage.schema import Id, Time, metadata

conversation_facts = Table(
    "conversation_facts",
    metadata,
    # CASCADE: facts follow their conversation, and TRUNCATE ... CASCADE of conversations
    # empties this table even where reports.schema was never imported.
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("created_at", Time, nullable=False),
    Column("day", Date, nullable=False),            # created_at's date in the report time zone
    Column("channel", String(20), nullable=False),
    Column("queue", String(64)),
    Column("category", String(20)),
    Column("agent_id", Id),                         # no FK: derived data, rebuilt at will
    Column("first_response_s", Integer),
    Column("first_response_business_s", Integer),
    Column("wait_s", Integer),
    Column("handle_s", Integer),
    Column("resolution_s", Integer),
    Column("resolution_business_s", Integer),
    Column("resolved", Boolean, nullable=False),
    Column("reopened", Boolean, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("messages_in", Integer, nullable=False),
    Column("messages_out", Integer, nullable=False),
    Column("last_event_id", Id),                    # the newest event these facts reflect
    Column("refreshed_at", Time, nullable=False),
    Index("ix_conversation_facts_created", "created_at"),
    Index("ix_conversation_facts_day", "day"),
)
