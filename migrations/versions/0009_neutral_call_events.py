"""events: a call's events name it by call_id, and a ring nobody answered is "no_answer"

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00.000000

The inbox's call record no longer speaks its provider's words: events written before named
the call by its "call_sid" and kept the provider's "no-answer" status as a missed call's
reason and a call's end status. Rewritten here, so a call recorded across the upgrade keeps
each event type once (its events are found by call_id) and reports read one set of words.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CALL_EVENTS = ("call_started", "ivr_choice", "ringing", "connected", "missed", "call_ended",
               "callback_requested")
OUTCOME_KEYS = ("reason", "status")

events = sa.table("events", sa.column("id", _ID), sa.column("type", sa.String),
                  sa.column("data", sa.JSON))


def _rewrite(key: tuple[str, str], outcome: tuple[str, str]) -> None:
    """Every call event's `key[0]` becomes `key[1]`, and an outcome `outcome[0]` becomes
    `outcome[1]`."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(events.c.id, events.c.data)
                        .where(events.c.type.in_(CALL_EVENTS))).all()
    for event_id, data in rows:
        changed = dict(data or {})
        if key[0] in changed:
            changed[key[1]] = changed.pop(key[0])
        for name in OUTCOME_KEYS:
            if changed.get(name) == outcome[0]:
                changed[name] = outcome[1]
        if changed != data:
            bind.execute(events.update().where(events.c.id == event_id).values(data=changed))


def upgrade() -> None:
    _rewrite(("call_sid", "call_id"), ("no-answer", "no_answer"))


def downgrade() -> None:
    _rewrite(("call_id", "call_sid"), ("no_answer", "no-answer"))
