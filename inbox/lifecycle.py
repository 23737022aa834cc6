"""A conversation's lifecycle: its status and the columns that move with it, the switch of its
SLA clock at the first response, and telling consoles about a committed change.

    waiting --taken by an agent--> open <--> pending
       ^                            |  ^
       +--- back to the queue ------+  +--- reopened (written to, or an agent's choice)
                                    v
                                 resolved

The functions that change a conversation run inside the caller's transaction and return the
columns to write, so the caller writes them in its one update with its own changes; the
events they record say who did it and why. `announce` and friends run after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from inbox import sla
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.live import publish_event
from inbox.serialize import conversation_view, message_view
from inbox.storage import Row, UnitOfWork

# `intake`: the guided registration intake is still asking (inbox.guided_intake); it becomes
# `waiting` when the bot is done, and no agent chooses it.
STATUSES = ("intake", "waiting", "open", "pending", "resolved")
SETTABLE_STATUSES = ("open", "pending", "resolved")   # what an agent may choose


def status_event(previous: str, status: str) -> EventType:
    """The event that records a chosen move from `previous` to `status`."""
    if status == "resolved":
        return EventType.RESOLVED
    if previous == "resolved":
        return EventType.REOPENED
    return EventType.STATUS_CHANGED


async def change_status(tx: UnitOfWork, conversation: Row, status: str, *, at: datetime,
                        actor_id: int | None = None,
                        reason: str | None = None) -> dict[str, Any]:
    """Move `conversation` to `status`, recording the event (resolved, reopened or
    status_changed, from, to and the `reason` if given), which reports count. Returns the
    columns to write: a resolution's time is kept while resolved, and cleared on reopening."""
    previous = conversation["status"]
    changes: dict[str, Any] = {"status": status}
    if status == "resolved":
        changes["resolved_at"] = at
    elif previous == "resolved":
        changes["resolved_at"] = None
    data: dict[str, Any] = {"from": previous, "to": status}
    if reason is not None:
        data["reason"] = reason
    await tx.events.add(conversation["id"], status_event(previous, status), data,
                        actor_id=actor_id, at=at)
    return changes


def taken(conversation: Row) -> dict[str, Any]:
    """An agent took the conversation up: one that waited is open now. Not an event of its
    own: the assignment or the answer that took it is recorded."""
    return {"status": "open"} if conversation["status"] == "waiting" else {}


def returned(conversation: Row) -> dict[str, Any]:
    """Nobody works the conversation any more: unless resolved, it waits in its queue."""
    return {} if conversation["status"] == "resolved" else {"status": "waiting"}


def first_response(ctx: InboxContext, conversation: Row, at: datetime) -> dict[str, Any]:
    """The columns of a conversation's first response at `at` (an agent's reply, an answered
    call), none after that: the first answer stops the first-response clock and the
    resolution clock takes over, from the conversation's start."""
    if conversation["first_response_at"] is not None:
        return {}
    changes: dict[str, Any] = {"first_response_at": at}
    if conversation["queue"] in ctx.config.queue_ids:
        changes["sla_due_at"] = sla.due_at(ctx, conversation["queue"],
                                           conversation["created_at"], "resolution")
        changes["sla_state"] = "ok"
    return changes


# --- telling consoles, after commit ---------------------------------------------------------


async def announce(ctx: InboxContext, conversation_id: int,
                   message: dict[str, Any] | None = None) -> None:
    """Tell consoles about a committed change (and the `message` it added). While Redis is
    down they learn it at their next read instead: the change stands, so the caller is not
    told it failed (and not invited to do it twice)."""
    async with ctx.store.read() as tx:
        row = await tx.conversations.with_contact(conversation_id)
    view = conversation_view(row, ctx.zone)
    with ctx.redis_outage.best_effort():
        if message is not None:
            await publish_event(ctx.redis, "message.created", row["queue"], {
                "conversation_id": conversation_id, "message": message_view(message, ctx.zone)})
        await publish_event(ctx.redis, "conversation.updated", row["queue"],
                            {"conversation": view})


async def announce_each(ctx: InboxContext, conversation_ids: Iterable[int]) -> None:
    for conversation_id in conversation_ids:
        await announce(ctx, conversation_id)


async def announce_routed(ctx: InboxContext, routed: Row) -> None:
    """A conversation has just entered its queue (`routed`: the row with its contact)."""
    await publish_event(ctx.redis, "conversation.created", routed["queue"],
                        {"conversation": conversation_view(routed, ctx.zone)})
    await announce_queues(ctx, [routed["queue"]])


async def announce_queues(ctx: InboxContext, queues: Iterable[str]) -> None:
    """What waits in these queues changed (a conversation came or left)."""
    for queue in queues:
        await publish_event(ctx.redis, "queue.updated", queue, {"queue": queue})
