"""Taking in one resident's message: dedupe, contact, conversation, persist; then route.

The message is committed in one transaction before anything else happens, so a channel may
acknowledge its provider as soon as `ingest` returns. Routing runs right after, in its own
transaction; a crash between the two leaves a conversation with `routed_at` unset, which the
worker's sweep routes (`dispatch.route_unrouted`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from inbox import assignment, dispatch, lifecycle, matching
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.live import publish_event
from inbox.messages import Attachment, InboundMessage
from inbox.sanitize import clean_html
from inbox.serialize import message_view
from inbox.storage import Duplicate, UnitOfWork, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    duplicate: bool
    new_conversation: bool
    queue: str | None = None
    message: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    woke_up: bool = False     # a pending conversation the resident's message reopened
    released_from: int | None = None   # the absent agent it was taken back from
    named: bool = False       # the message's name filled the contact's empty one


def _attachment(attachment: Attachment) -> dict[str, Any]:
    """As stored: where the provider keeps it (`source_url`, fetched by the media job), and
    `url` only once it is ours to serve."""
    return {"content_type": attachment.content_type, "filename": attachment.filename,
            "size": attachment.size, "source_url": attachment.url, "url": None}


async def _new_identity(ctx: InboxContext, tx: UnitOfWork, msg: InboundMessage) -> dict[str, Any]:
    """A first message from this address: the identity joins the contact that already has
    this phone number, when a carrier delivered it (one resident, one contact), else a new
    contact. Nothing the resident typed joins anyone (`inbox.matching`)."""
    phone = matching.vouched_phone(ctx.channels[msg.channel], msg.phone)
    contact = await tx.contacts.by_phone(phone) if phone else None
    if contact is not None:
        contact_id = contact["id"]
        if not contact["name"] and msg.display_name:
            await tx.contacts.update(contact_id, name=msg.display_name)
    else:
        contact_id = await tx.contacts.create(name=msg.display_name, language=msg.language,
                                             phone=phone)
        if phone:
            await matching.match_vouched_phone(tx, ctx.claim_key, contact_id, phone, utcnow())
    identity_id = await tx.contacts.create_identity(contact_id, msg.channel, msg.address,
                                                    msg.display_name)
    name = contact["name"] if contact is not None and contact["name"] else msg.display_name
    return {"id": identity_id, "contact_id": contact_id, "contact_name": name}


async def _store(ctx: InboxContext, msg: InboundMessage,
                 intake_id: int | None) -> IngestResult:
    now = utcnow()
    async with ctx.store.transaction() as tx:
        if intake_id is not None:
            await tx.journal.discard(intake_id)   # the journal entry ends as the message lands
        # No look-up of the external id first: a provider's retry is rare, and the unique key
        # refuses it (Duplicate) at the insert below, rolling back everything before it.
        identity, conversation = await tx.contacts.identity_and_open_conversation(msg.channel,
                                                                         msg.address)
        if identity is None:
            identity = await _new_identity(ctx, tx, msg)
        elif msg.thread_key:
            # A reply in a thread (an e-mail's References) joins that thread's conversation
            # while it is unresolved, though the resident may have opened a newer one since;
            # only the same contact's, so a thread key copied by someone else joins nothing.
            conversation = await tx.conversations.open_of_thread(
                identity["contact_id"], msg.channel, msg.thread_key) or conversation
        named = False
        if msg.display_name and not identity["contact_name"]:
            # A name the resident gave after their first message (web chat asks for it
            # beside the text box) fills a contact that has none; an agent's stands.
            named = await tx.contacts.name_if_unnamed(identity["contact_id"], msg.display_name)
        new_conversation = conversation is None
        woke_up = False
        if new_conversation:
            conversation_id = await tx.conversations.create(
                contact_id=identity["contact_id"], identity_id=identity["id"],
                channel=msg.channel, status="waiting", language=msg.language,
                queue_hint=msg.queue_hint, category_hint=msg.category_hint,
                thread_key=msg.thread_key,
                created_at=now, last_message_at=now, last_inbound_at=now)
        else:
            conversation_id = conversation["id"]
            # A resident writing into a conversation parked as pending wakes it up.
            woke_up = conversation["status"] == "pending"
            await tx.conversations.update(conversation_id, last_message_at=now,
                                         last_inbound_at=now,
                                         status="open" if woke_up else conversation["status"])
        message = {
            "conversation_id": conversation_id, "channel": msg.channel, "direction": "in",
            "external_id": msg.external_id, "body": msg.text,
            "html": clean_html(msg.html) if msg.html else None,
            "attachments": [_attachment(a) for a in msg.attachments],
            "author_kind": "resident",
            "author_id": None, "created_at": now, "delivery_status": "received",
        }
        message["id"] = await tx.messages.insert(**message)
        await tx.events.add(conversation_id, EventType.RECEIVED,
                            {"message_id": message["id"], "channel": msg.channel}, at=now)
        released_from = None if new_conversation else \
            await assignment.release_on_message(tx, conversation, now)
    return IngestResult(message["id"], conversation_id, False, new_conversation,
                        queue=None if new_conversation else conversation["queue"],
                        message=message, woke_up=woke_up, released_from=released_from,
                        named=named)


async def _queue_of(ctx: InboxContext, result: IngestResult) -> str | None:
    """The queue of the conversation a message joined, to announce the message to that
    queue's agents. A conversation whose first message is being routed right now (this one
    came before that routing committed) has none yet: the message waits for the routing's
    transaction (the conversation's row lock; SQLite's one writer) and takes the queue it
    chose. One left unrouted by a crash has none until the sweep routes it: its message
    reaches supervisors and admins only, and the queue's agents get the conversation, this
    message included, once it is routed."""
    if result.queue is not None:
        return result.queue
    async with ctx.store.transaction() as tx:
        return (await tx.conversations.get(result.conversation_id, for_update=True))["queue"]


async def ingest(ctx: InboxContext, msg: InboundMessage,
                 intake_id: int | None = None) -> IngestResult:
    """Store `msg` once, then route it. `intake_id`: the journal entry it came from
    (inbox.intake), deleted in the same transaction."""
    try:
        result = await _store(ctx, msg, intake_id)
    except Duplicate:
        # Another process committed the same external id (or identity) between our read
        # and our insert; that transaction is rolled back, so read what the winner stored.
        async with ctx.store.read() as tx:
            existing = await tx.messages.by_external_id(msg.channel, msg.external_id)
        if existing is None:
            result = await _store(ctx, msg, intake_id)  # the identity race: the retry finds it
        else:
            if intake_id is not None:
                async with ctx.store.transaction() as tx:
                    await tx.journal.discard(intake_id)
            return IngestResult(existing["id"], existing["conversation_id"], True, False)
    if result.duplicate:
        log.info("duplicate %s message %s ignored", msg.channel, result.message_id)
        return result
    if any(a.url for a in msg.attachments):
        await ctx.jobs.enqueue_media_async(result.message_id)
    log.info("stored %s message %s in conversation %s", msg.channel, result.message_id,
             result.conversation_id)
    if result.new_conversation:
        await dispatch.route_conversation(ctx, result.conversation_id)
    else:
        await publish_event(ctx.redis, "message.created", await _queue_of(ctx, result), {
            "conversation_id": result.conversation_id,
            "message": message_view(result.message, ctx.zone),
        })
        if result.woke_up or result.named or result.released_from is not None:
            await lifecycle.announce(ctx, result.conversation_id)
        if result.released_from is not None:
            await assignment.assign_waiting(ctx, result.conversation_id,
                                            exclude={result.released_from})
    return result
