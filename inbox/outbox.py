"""Outbound messages: stored as `queued` first, delivered by a job, their state in the database.

A send is claimed with a lease before the channel is called. A worker killed mid-send leaves
the claim to expire, and `redrive_stale` (run by the worker's scheduler) enqueues it again;
the claim's conditional update keeps two workers from sending the same message at once.
The provider may have accepted the message before the worker died, so every attempt after
the first tells the channel so (`OutboundMessage.maybe_sent_since`) together with the parts
already recorded as accepted (`record_part`); the channel reconciles with its provider where
the provider can be asked, and resumes at the first part not accepted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from inbox.context import InboxContext
from inbox.events import EventType
from inbox.live import publish_event
from inbox.messages import Attachment, OutboundMessage
from inbox.serialize import message_view
from inbox.storage import UnitOfWork, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    message: OutboundMessage
    attempt: int


async def queue_message(tx: UnitOfWork, conversation: dict[str, Any], body: str, *,
                        author_kind: str,
                        author_id: int | None = None,
                        extra: dict[str, str] | None = None) -> int:
    now = utcnow()
    return await tx.messages.insert(
        conversation_id=conversation["id"], channel=conversation["channel"], direction="out",
        body=body, author_kind=author_kind, author_id=author_id, created_at=now,
        delivery_status="queued", next_attempt_at=now, extra=extra)


async def claim(ctx: InboxContext, message_id: int) -> Claimed | None:
    """Take the send, or None when it is not ours to send (done, failed, or claimed)."""
    now = utcnow()
    lease = timedelta(seconds=ctx.config.outbox.lease_s)
    async with ctx.store.transaction() as tx:
        if not await tx.messages.claim_delivery(message_id, now, lease):
            return None
        row = await tx.messages.get(message_id)
        conversation = await tx.conversations.get(row["conversation_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
        accepted = await tx.messages.parts_of(message_id)
        # What a channel that threads its replies (an e-mail's In-Reply-To) answers.
        answered = await tx.messages.answered_external_id(message_id)
    outbound = OutboundMessage(
        message_id=row["id"], conversation_id=conversation["id"], channel=row["channel"],
        address=identity["address"], body=row["body"],
        language=conversation["language"] or "az", created_at=row["created_at"],
        author_kind=row["author_kind"], extra=dict(row["extra"] or {}),
        attachments=tuple(Attachment(content_type=a["content_type"], filename=a.get("filename"),
                                     size=a.get("size"), url=a.get("url"))
                          for a in row["attachments"] or []),
        reply_to_external_id=answered,
        thread_key=conversation["thread_key"], accepted_parts=tuple(accepted),
        # Any earlier attempt may have been answered unheard. Its message was created at or
        # after the outbox message was stored, so that is where to start looking.
        maybe_sent_since=row["created_at"] if row["attempts"] > 1 else None)
    return Claimed(outbound, row["attempts"])


async def record_part(ctx: InboxContext, message: OutboundMessage, part: int,
                      external_id: str) -> None:
    """The provider accepted this part (0 first): recorded at once, so that an attempt cut
    short after it resumes with the next part instead of sending this one again."""
    async with ctx.store.transaction() as tx:
        await tx.messages.record_part(message.message_id, part, message.channel, external_id,
                                      utcnow())


async def parts_of_other_messages(ctx: InboxContext, message: OutboundMessage,
                                  external_ids: list[str]) -> set[str]:
    """Which of these provider ids are already accounted for by other messages' parts."""
    async with ctx.store.read() as tx:
        return await tx.messages.parts_of_other_messages(message.channel, external_ids,
                                                message.message_id)


async def mark_sent(ctx: InboxContext, message_id: int, external_id: str | None) -> None:
    async with ctx.store.transaction() as tx:
        moved = await tx.messages.advance_delivery(message_id, "sent", sent_at=utcnow(),
                                          external_id=external_id, claimed_at=None)
        if moved:
            # A retried send that went through clears the earlier attempt's error; a status
            # report that already failed the message keeps its reason.
            await tx.messages.update(message_id, delivery_error=None)


async def announce_delivery(ctx: InboxContext, message_id: int) -> None:
    """Tell consoles a send's state changed (sent, delivered, read, failed)."""
    async with ctx.store.read() as tx:
        row = await tx.messages.get(message_id)
        conversation = await tx.conversations.get(row["conversation_id"])
    view = message_view(row, ctx.zone)
    await publish_event(ctx.redis, "message.updated", conversation["queue"], {
        "conversation_id": row["conversation_id"], "message_id": message_id,
        "delivery_status": view["delivery_status"], "delivery_error": row["delivery_error"],
        "message": view})


async def mark_delivery_status(ctx: InboxContext, message_id: int, status: str) -> bool:
    """A later state reported by the channel (delivered, read); never moves backwards."""
    async with ctx.store.transaction() as tx:
        return await tx.messages.advance_delivery(message_id, status)


async def mark_retry(ctx: InboxContext, message_id: int, error: str, delay_s: int) -> None:
    async with ctx.store.transaction() as tx:
        await tx.messages.update(message_id, delivery_status="queued", delivery_error=error,
                                claimed_at=None,
                                next_attempt_at=utcnow() + timedelta(seconds=delay_s))


async def mark_failed(ctx: InboxContext, message_id: int, error: str) -> None:
    async with ctx.store.transaction() as tx:
        await tx.messages.update(message_id, delivery_status="failed", delivery_error=error,
                                claimed_at=None)
        row = await tx.messages.get(message_id)
        await tx.events.add(row["conversation_id"], EventType.DELIVERY_FAILED,
                            {"message_id": message_id, "error": error})


async def redrive_stale(ctx: InboxContext) -> list[int]:
    """Enqueue again every send whose job is presumed lost, each into the queue its author's
    messages go to. Returns their ids."""
    lease = timedelta(seconds=ctx.config.outbox.lease_s)
    async with ctx.store.read() as tx:
        stale = await tx.messages.stale_sends(utcnow(), lease)
    if stale:
        log.warning("re-driving %d stale outbound message(s)", len(stale))
        by_author: dict[str, list[int]] = {}
        for message_id, author_kind in stale:
            by_author.setdefault(author_kind, []).append(message_id)
        for author_kind, message_ids in by_author.items():
            await ctx.jobs.enqueue_delivery_async(message_ids, author_kind)
    return [message_id for message_id, _ in stale]
