"""What agents do to conversations: reply, note, assign, transfer, change status and category.

Each action checks its input, writes in one transaction with an event that records who did
what, then tells every console through a live event. Permission checks happen in the API
layer before an action is called; actions trust their caller's `user`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inbox import dispatch, outbox
from inbox.context import InboxContext
from inbox.live import publish_event
from inbox.serialize import conversation_view, message_view
from inbox.store import Tx, utcnow

STATUSES = ("waiting", "open", "pending", "resolved")
SETTABLE_STATUSES = ("open", "pending", "resolved")
CATEGORIES = ("inquiry", "registration", "support")
MAX_REPLY_CHARS = 10_000


class ActionError(Exception):
    """A request that cannot be carried out; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    id: int
    role: str
    queues: tuple[str, ...]

    @property
    def sees_all_queues(self) -> bool:
        return self.role in ("supervisor", "admin")

    def may_see_queue(self, queue: str | None) -> bool:
        return self.sees_all_queues or (queue is not None and queue in self.queues)


async def _conversation(tx: Tx, conversation_id: int) -> dict[str, Any]:
    conversation = await tx.conversation(conversation_id, for_update=True)
    if conversation is None:
        raise ActionError(f"conversation {conversation_id} not found", 404)
    return conversation


async def _announce(ctx: InboxContext, conversation_id: int,
                    message: dict[str, Any] | None = None) -> None:
    async with ctx.store.read() as tx:
        row = await tx.conversation_row(conversation_id)
    view = conversation_view(row, ctx.zone)
    if message is not None:
        await publish_event(ctx.redis, "message.created", row["queue"], {
            "conversation_id": conversation_id, "message": message_view(message, ctx.zone)})
    await publish_event(ctx.redis, "conversation.updated", row["queue"], {"conversation": view})


async def reply(ctx: InboxContext, actor: Actor, conversation_id: int, body: str,
                private: bool = False) -> dict[str, Any]:
    """An agent's reply (queued for delivery on the conversation's channel) or private note."""
    body = (body or "").strip()
    if not body:
        raise ActionError("body must not be empty")
    if len(body) > MAX_REPLY_CHARS:
        raise ActionError(f"body is longer than {MAX_REPLY_CHARS} characters", 413)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        if private:
            message_id = await tx.insert_message(
                conversation_id=conversation_id, channel=conversation["channel"],
                direction="note", body=body, author_kind="agent", author_id=actor.id,
                created_at=now, delivery_status="received")
            await tx.add_event(conversation_id, "noted", {"message_id": message_id},
                               actor_id=actor.id, at=now)
        else:
            message_id = await outbox.queue_message(tx, conversation, body,
                                                    author_kind="agent", author_id=actor.id)
            changes: dict[str, Any] = {"last_message_at": now}
            first = conversation["first_response_at"] is None
            if first:
                changes["first_response_at"] = now
            if conversation["status"] in ("waiting", "resolved"):
                changes["status"] = "open"
            if conversation["assignee_id"] is None:
                # Whoever answers an unassigned conversation owns it from then on.
                changes.update(assignee_id=actor.id, assigned_at=now)
                await tx.add_event(conversation_id, "assigned",
                                   {"agent_id": actor.id, "reason": "answered it"},
                                   actor_id=actor.id, at=now)
            await tx.update_conversation(conversation_id, **changes)
            await tx.add_event(conversation_id, "replied",
                               {"message_id": message_id, "first_response": first},
                               actor_id=actor.id, at=now)
        message = await tx.message(message_id)
    if not private:
        await ctx.jobs.enqueue_delivery_async([message_id])
    await _announce(ctx, conversation_id, message)
    return message


async def assign(ctx: InboxContext, actor: Actor, conversation_id: int, agent_id: int | None,
                 queue: str | None = None) -> None:
    """Assign to an agent, unassign (agent_id None), or transfer to another queue."""
    if queue is not None and queue not in ctx.config.queue_ids:
        raise ActionError(f"unknown queue {queue!r}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        target_queue = queue or conversation["queue"]
        changes: dict[str, Any] = {}
        if queue is not None and queue != conversation["queue"]:
            changes["queue"] = queue
            await tx.add_event(conversation_id, "transferred",
                               {"from": conversation["queue"], "to": queue},
                               actor_id=actor.id, at=now)
        if agent_id is not None:
            agent = await tx.user(agent_id)
            if agent is None or not agent["active"]:
                raise ActionError(f"agent {agent_id} not found", 404)
            if agent["role"] == "agent" and target_queue not in (agent["queues"] or []):
                raise ActionError(f"agent {agent_id} does not work queue {target_queue!r}")
            changes.update(assignee_id=agent_id, assigned_at=now)
            if conversation["status"] == "waiting":
                changes["status"] = "open"
            await tx.add_event(conversation_id, "assigned",
                               {"agent_id": agent_id, "reason": "assigned by a person"},
                               actor_id=actor.id, at=now)
        elif conversation["assignee_id"] is not None or queue is not None:
            changes.update(assignee_id=None, assigned_at=None)
            if conversation["status"] != "resolved":
                changes["status"] = "waiting"
            await tx.add_event(conversation_id, "unassigned",
                               {"agent_id": conversation["assignee_id"]},
                               actor_id=actor.id, at=now)
        if changes:
            await tx.update_conversation(conversation_id, **changes)
    await _announce(ctx, conversation_id)


async def set_status(ctx: InboxContext, actor: Actor, conversation_id: int, status: str) -> None:
    if status not in SETTABLE_STATUSES:
        raise ActionError(f"status must be one of {', '.join(SETTABLE_STATUSES)}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        previous = conversation["status"]
        if previous == status:
            return
        changes: dict[str, Any] = {"status": status}
        if status == "resolved":
            changes["resolved_at"] = now
            event = "resolved"
        elif previous == "resolved":
            changes["resolved_at"] = None
            event = "reopened"
        else:
            event = "status_changed"
        await tx.update_conversation(conversation_id, **changes)
        await tx.add_event(conversation_id, event, {"from": previous, "to": status},
                           actor_id=actor.id, at=now)
    await _announce(ctx, conversation_id)


async def set_category(ctx: InboxContext, actor: Actor, conversation_id: int, category: str,
                       reroute: bool = False) -> None:
    """A human's correction of the classifier, kept as training data."""
    if category not in CATEGORIES:
        raise ActionError(f"category must be one of {', '.join(CATEGORIES)}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        first = await tx.messages_of(conversation_id, include_notes=False, limit=1)
        await tx.add_correction(conversation_id=conversation_id,
                                text=first[0]["body"] if first else "",
                                language=conversation["language"],
                                predicted=conversation["category"], corrected=category,
                                user_id=actor.id, created_at=now)
        await tx.update_conversation(conversation_id, category=category,
                                     category_confidence=1.0, category_source="human")
        await tx.add_event(conversation_id, "reclassified",
                           {"from": conversation["category"], "to": category},
                           actor_id=actor.id, at=now)
        if reroute:
            await tx.update_conversation(conversation_id, routed_at=None, assignee_id=None,
                                         status="waiting", category_hint=category)
    if reroute:
        await dispatch.route_conversation(ctx, conversation_id, acknowledge=False)
    await _announce(ctx, conversation_id)
