"""A conversation left unrouted: the state the routing sweep (`dispatch.route_unrouted`)
repairs. Ingest now stores and routes a first message in one transaction, so only a
conversation stored by an older version (which routed in a transaction of its own, and may
have crashed between the two) is left so; tests make one from a routed conversation."""

from __future__ import annotations

from sqlalchemy import delete

from inbox.storage.schema import events, messages


async def unroute(ctx, conversation_id: int) -> None:
    """Undo the routing of a new conversation: no category, queue or SLA clock, no
    `classified` or `routed` event, no acknowledgement."""
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, queue=None, routed_at=None,
                                      category=None, category_source=None,
                                      category_confidence=None, sla_due_at=None)
        await tx.conn.execute(delete(events).where(
            events.c.conversation_id == conversation_id,
            events.c.type.in_(("classified", "routed"))))
        await tx.conn.execute(delete(messages).where(
            messages.c.conversation_id == conversation_id, messages.c.direction == "out",
            messages.c.author_kind == "system"))
