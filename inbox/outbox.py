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

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from inbox import lifecycle
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.live import publish_event
from inbox.messages import CHOICES, DIVERTED, Attachment, InboundMessage, OutboundMessage
from inbox.sanitize import clean_html
from inbox.serialize import message_view
from inbox.storage import Duplicate, Row, Store, UnitOfWork, utcnow
from inbox.storage.deliveries import DeliveryRecords
from inbox.storage.erasure import ERASED_ADDRESS, NOT_SENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    message: OutboundMessage
    attempt: int
    row: dict[str, Any] | None = None   # the message's row as claimed (for the announcement)
    queue: str | None = None            # its conversation's queue (who hears of it)


async def queue_message(tx: UnitOfWork, conversation: dict[str, Any], body: str, *,
                        author_kind: str,
                        author_id: int | None = None,
                        extra: dict[str, Any] | None = None) -> int:
    now = utcnow()
    return await tx.messages.insert(
        conversation_id=conversation["id"], channel=conversation["channel"], direction="out",
        body=body, author_kind=author_kind, author_id=author_id, created_at=now,
        delivery_status="queued", next_attempt_at=now, extra=extra)


async def claim(ctx: InboxContext, message_id: int) -> Claimed | None:
    """Take the send, or None when it is not ours to send (done, failed, or claimed)."""
    return (await claim_many(ctx, [message_id])).get(message_id)


async def claim_many(ctx: InboxContext, message_ids: Sequence[int]) -> dict[int, Claimed]:
    """Take the sends of these messages in one transaction: those that were ours to send,
    by id (the others are done, failed, or claimed by another attempt)."""
    now = utcnow()
    lease = timedelta(seconds=ctx.config.outbox.lease_s)
    # The write transaction (and on SQLite the turn at writing) for the UPDATE alone: the
    # sends it took are this attempt's until their lease lapses, so what they carry is read
    # after its commit, without keeping other processes' writers waiting meanwhile.
    async with ctx.store.transaction() as tx:
        taken = await DeliveryRecords(tx.conn).claim(message_ids, now, lease)
    if not taken:
        return {}
    async with ctx.store.read() as tx:
        records = DeliveryRecords(tx.conn)
        sends = await records.sends(taken)
        accepted = await records.parts(taken)
    claimed = {}
    for row, conversation, address in sends:
        # A message sent elsewhere than its conversation's channel (`divert`) goes to the
        # address recorded with it.
        address = ((row["extra"] or {}).get(DIVERTED) or {}).get("address") or address
        if address.startswith(ERASED_ADDRESS):
            # Its resident was erased after it was queued (a survey, an outcome's notice):
            # there is nobody to send it to.
            await mark_failed(ctx, row["id"], NOT_SENT)
            await announce_delivery(ctx, row["id"])
            continue
        extra = dict(row["extra"] or {})
        # Answers a message offers (the guided intake's question, a survey's 1-5): buttons
        # where the channel has them, text elsewhere (`channels.base.as_text`).
        choices = tuple(extra.pop(CHOICES, None) or ())
        outbound = OutboundMessage(
            message_id=row["id"], conversation_id=conversation["id"], channel=row["channel"],
            address=address, body=row["body"],
            language=conversation["language"] or "az", created_at=row["created_at"],
            author_kind=row["author_kind"], extra=extra, choices=choices,
            attachments=tuple(Attachment(content_type=a["content_type"],
                                         filename=a.get("filename"), size=a.get("size"),
                                         url=a.get("url"), stored=a.get("stored"))
                              for a in row["attachments"] or []),
            # What a channel that threads its replies (an e-mail's In-Reply-To) answers.
            reply_to_external_id=row.pop("answered_external_id"),
            thread_key=conversation["thread_key"],
            accepted_parts=tuple(accepted.get(row["id"], ())),
            # Any earlier attempt may have been answered unheard. Its message was created at
            # or after the outbox message was stored, so that is where to start looking.
            maybe_sent_since=row["created_at"] if row["attempts"] > 1 else None)
        claimed[row["id"]] = Claimed(outbound, row["attempts"], row, conversation["queue"])
    return claimed


async def divert(ctx: InboxContext, message: OutboundMessage, channel: str, address: str,
                 options: dict[str, Any]) -> OutboundMessage:
    """Send this message on `channel` to `address` from now on (a web-chat answer to a
    resident who left, by SMS or e-mail): recorded before the send, so a retry, the sweep's
    re-drive and the provider's status reports follow the same route. The message as that
    channel sends it."""
    extra = {**message.extra, **options,
             DIVERTED: {"from": message.channel, "address": address}}
    async with ctx.store.transaction() as tx:
        await DeliveryRecords(tx.conn).reroute(message.message_id, channel, extra)
    log.info("message %s goes by %s: the resident is not in the %s", message.message_id,
             channel, message.channel)
    return replace(message, channel=channel, address=address, extra=extra)


async def record_part(ctx: InboxContext, message: OutboundMessage, part: int,
                      external_id: str) -> None:
    """The provider accepted this part (0 first): recorded at once, so that an attempt cut
    short after it resumes with the next part instead of sending this one again. Returns
    once committed; the parts concurrent sends record meanwhile share the transaction."""
    writer = _part_writers.get(ctx.store)
    if writer is None:
        writer = _part_writers[ctx.store] = PartWriter(ctx.store)
    await writer.write((message.message_id, part, message.channel, external_id))


class PartWriter:
    """Group commit for accepted parts: a send waits for its part's commit as before, but
    the parts that arrive while one transaction runs go together in the next one, so a
    batch of concurrent sends pays a transaction per group instead of one per part."""

    def __init__(self, store: Store):
        self.store = store
        self.pending: list[tuple[tuple[int, int, str, str], asyncio.Future[None]]] = []
        self.flusher: asyncio.Task[None] | None = None

    async def write(self, part: tuple[int, int, str, str]) -> None:
        done = asyncio.get_running_loop().create_future()
        self.pending.append((part, done))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self.pending:
            group, self.pending = self.pending, []
            try:
                async with self.store.transaction() as tx:
                    await DeliveryRecords(tx.conn).record_parts([p for p, _ in group], utcnow())
            except Exception:
                # One part may be a duplicate (or the group too much): each on its own, so
                # every send learns its own outcome.
                for part, done in group:
                    await self._alone(part, done)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _alone(self, part: tuple[int, int, str, str], done: asyncio.Future[None]) -> None:
        try:
            async with self.store.transaction() as tx:
                await DeliveryRecords(tx.conn).record_parts([part], utcnow())
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)


# One group writer per store (a worker's long-lived context, or a job's own).
_part_writers: weakref.WeakKeyDictionary[Store, PartWriter] = weakref.WeakKeyDictionary()


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


async def mark_sent_many(ctx: InboxContext,
                         sent: Sequence[tuple[Claimed, str | None]]) -> None:
    """Record these claimed sends (each with the provider's id) as sent in one transaction,
    then tell consoles, as `mark_sent` and `announce_delivery` do for one."""
    if not sent:
        return
    now = utcnow()
    async with ctx.store.transaction() as tx:
        moved = await DeliveryRecords(tx.conn).mark_sent(
            [(claimed.message.message_id, external_id) for claimed, external_id in sent], now)
    # The announcements of the whole group in one round trip to Redis.
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for claimed, external_id in sent:
            message_id = claimed.message.message_id
            if message_id not in moved or claimed.row is None:
                continue
            row = {**claimed.row, "delivery_status": "sent", "delivery_error": None,
                   "sent_at": now, "external_id": external_id, "claimed_at": None}
            view = message_view(row, ctx.zone)
            await publish_event(pipe, "message.updated", claimed.queue, {
                "conversation_id": row["conversation_id"], "message_id": message_id,
                "delivery_status": view["delivery_status"], "delivery_error": None,
                "message": view})
        await pipe.execute()
    for claimed, _ in sent:
        if claimed.message.message_id not in moved or claimed.row is None:
            # A status report moved it first (delivered, failed): announce what is stored.
            await announce_delivery(ctx, claimed.message.message_id)


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


async def defer(ctx: InboxContext, message_id: int, attempt: int, reason: str,
                delay_s: float) -> None:
    """Back to the queue for `delay_s`: the provider (or our share of its rate) had no room,
    so nothing was sent and this attempt does not count towards `outbox.max_attempts`."""
    async with ctx.store.transaction() as tx:
        await tx.messages.update(message_id, delivery_status="queued", delivery_error=reason,
                                claimed_at=None, attempts=max(0, attempt - 1),
                                next_attempt_at=utcnow() + timedelta(seconds=delay_s))


async def _record_failure(tx: UnitOfWork, message_id: int, error: str) -> None:
    await tx.messages.update(message_id, delivery_status="failed", delivery_error=error,
                             claimed_at=None)
    row = await tx.messages.get(message_id)
    await tx.events.add(row["conversation_id"], EventType.DELIVERY_FAILED,
                        {"message_id": message_id, "error": error})


async def mark_failed(ctx: InboxContext, message_id: int, error: str) -> None:
    async with ctx.store.transaction() as tx:
        await _record_failure(tx, message_id, error)


async def mark_bounced(ctx: InboxContext, channel: str, external_ids: Sequence[str],
                       reason: str, report: InboundMessage | None = None) -> list[int]:
    """A delivery report (an e-mail bounce) says our messages known to the provider as
    `external_ids` on `channel` never arrived: each is marked failed with `reason`, as a
    failed send is (a `delivery_failed` event; consoles hear of it). Returns the ids of our
    messages it names, none when it names none of ours (then nothing is stored).

    The `report` itself, when given, is kept as a note in the conversation of the newest
    message it names, under its own external id: the agent sees the server's whole account
    beside the failed message, the resident's conversation is not moved by it (a note
    neither wakes, reopens nor counts as the resident writing), and no conversation is
    opened for the mailer daemon, which nobody could answer. A report already kept changes
    nothing (the mailbox read twice, or by two workers at once)."""
    try:
        ours, failing, note = await _keep_bounce(ctx, channel, external_ids, reason, report)
    except Duplicate:
        # Another process kept the same report a moment before: ours rolled back, and this
        # look finds the report kept.
        ours, failing, note = await _keep_bounce(ctx, channel, external_ids, reason, report)
    for row in failing:
        log.info("outbound message %s bounced", row["id"])
        await announce_delivery(ctx, row["id"])
    if note is not None:
        await lifecycle.announce(ctx, note["conversation_id"], note)
    return [row["id"] for row in ours]


async def _keep_bounce(ctx: InboxContext, channel: str, external_ids: Sequence[str],
                       reason: str, report: InboundMessage | None
                       ) -> tuple[list[Row], list[Row], Row | None]:
    """`mark_bounced`'s transaction: our messages named, those it failed, the note kept."""
    now = utcnow()
    async with ctx.store.transaction() as tx:
        ours = await tx.messages.outbound_by_external_ids(channel, external_ids)
        if not ours or (report is not None and await tx.messages.by_external_id(
                report.channel, report.external_id) is not None):
            return ours, [], None
        failing = [row for row in ours if row["delivery_status"] != "failed"]
        for row in failing:
            await _record_failure(tx, row["id"], reason)
        if report is None:
            return ours, failing, None
        conversation_id = ours[0]["conversation_id"]
        note_id = await tx.messages.insert(
            conversation_id=conversation_id, channel=report.channel, direction="note",
            external_id=report.external_id, body=report.text or reason,
            html=clean_html(report.html) if report.html else None,
            extra={**(report.extra or {}), "automatic": report.automatic or "bounce"},
            author_kind="system", author_id=None, created_at=now, delivery_status="received")
        await tx.events.add(conversation_id, EventType.NOTED, {"message_id": note_id}, at=now)
        return ours, failing, await tx.messages.get(note_id)


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
