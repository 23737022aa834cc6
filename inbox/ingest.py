"""Taking in residents' messages: dedupe, contact, conversation, routing, all in one batch.

A batch of messages (a burst of webhooks, several web-chat sockets) is stored in one
transaction with multi-row statements: what a batch costs in round trips does not grow with
its size, so a storm of new residents is taken in at the speed of the wire. In the same
transaction every new conversation is classified, routed to its queue with its SLA clock,
and given the resident's acknowledgement; so once `store_many` returns, an agent can list
every message of the batch. A channel may acknowledge its provider then.

After the commit, `announce_many` tells consoles (one Redis pipeline), queues the
acknowledgements' sends (one call) and offers new conversations to agents who have room.
A crash between the two loses nothing: the sweeps deliver, assign and announce what was
committed.

A batch holds at most one message per resident (`inbox.intake` sees to that), so each
resident's messages are taken in the order they came. A batch that fails as a whole (another
process stored the same external id or identity a moment before) is retried message by
message by the caller, so one bad message never holds up the others. `ingest` is a batch of
one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inbox import assignment, dispatch, lifecycle, matching, reply_to, sla, surveys, threads
from inbox.acknowledging import acknowledgement_body, within_daily_cap
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.guided_intake import dialogue as guided
from inbox.guided_intake import view as guided_view
from inbox.live import MASKED_MESSAGE, publish_events
from inbox.messages import PLACEHOLDER_TEXTS, Attachment, InboundMessage
from inbox.outage import REDIS_UNAVAILABLE
from inbox.recent_senders import RecentSenders
from inbox.sanitize import clean_html
from inbox.serialize import conversation_view, message_view
from inbox.storage import Duplicate, Row, UnitOfWork, utcnow
from routing.classify import Classification, Hints, classify_many

log = logging.getLogger(__name__)

# Messages classified between two looks at the event loop (some 0.2 ms each).
CLASSIFY_CHUNK = 32
# The largest batch `ingest_many` stores in one transaction (the intake's own limit).
MANY_BATCH_MAX = 200
# A batch this large classifies its openers before its transaction (one read more); a
# smaller one classifies them in it.
PRECLASSIFY_FROM = 8
# The mark in a stored message's `extra` that it answered the satisfaction survey.
SURVEY_ANSWER = "survey_answer"
# Who this process stored a message of just now: their next ones skip that read (a hint).
RECENT = RecentSenders()


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
    acknowledgement_id: int | None = None   # the resident's acknowledgement, queued
    reopened: bool = False    # a resolved conversation the resident's reply in its thread reopened
    bot_replies: tuple[int, ...] = ()   # the guided intake's answers, queued
    released: bool = False    # its guided intake ended: the conversation entered its queue
    rated: bool = False       # it answered the survey of a resolved conversation, which stays so


@dataclass(frozen=True)
class Arrival:
    """A message to take in, and the intake journal entry it came from (deleted in the
    transaction that stores it), if it was journalled."""
    message: InboundMessage
    intake_id: int | None = None


@dataclass
class _Taking:
    """One fresh message's way through the batch: what it joins, and what it created."""
    message: InboundMessage
    identity: Row | None = None
    conversation: Row | None = None      # the conversation it joins, if any
    conversation_id: int | None = None
    reading: dispatch.Reading | None = None   # a new conversation's classification and queue
    classification: Classification | None = None   # classified before the transaction
    named: bool = False
    woke_up: bool = False
    reopened: bool = False
    rated: bool = False       # it answered the conversation's satisfaction survey
    released_from: int | None = None
    row: dict[str, Any] | None = None    # the stored message
    acknowledgement_id: int | None = None
    guided: bool = False                 # a new conversation the guided intake holds
    bot_replies: list[int] = field(default_factory=list)
    released: bool = False


def _attachment(attachment: Attachment) -> dict[str, Any]:
    """As stored: where the provider keeps it (`source_url`, fetched by the media job), and
    `url` only once it is ours to serve."""
    return {"content_type": attachment.content_type, "filename": attachment.filename,
            "size": attachment.size, "source_url": attachment.url, "url": None}


def resident_of(message: InboundMessage) -> tuple[str, str]:
    """Whose message it is, for keeping one resident's messages in order: the phone, shared
    by SMS and WhatsApp, else the channel's address."""
    return ("phone", message.phone) if message.phone else (message.channel, message.address)


# --- the transaction ----------------------------------------------------------------------


def _joined(ctx: InboxContext, message: InboundMessage, open_conversation: Row | None,
            thread: Row | None) -> Row | None:
    """The conversation a message of a known identity joins, given the identity's open
    conversation and the one its thread names (`inbox.threads`): a reply in a thread joins
    that thread's conversation of the same contact, though the resident may have opened a
    newer one since; on a threaded channel (e-mail) a message that names no conversation of
    theirs opens a new one, elsewhere it joins the open one."""
    threaded = ctx.channels[message.channel].threaded
    if threads.has_thread(message) and (thread is not None or threaded):
        return thread
    return None if threaded else open_conversation


async def _threads_of(ctx: InboxContext, tx: UnitOfWork,
                      known: list[tuple[int, InboundMessage]], now: datetime
                      ) -> list[Row | None]:
    """The conversation each message of a known contact names in its thread, None for those
    that name none: two queries for the whole batch, and none for a batch without threads
    (SMS)."""
    replying = [index for index, (_, message) in enumerate(known) if threads.has_thread(message)]
    found: list[Row | None] = [None] * len(known)
    joined = await threads.conversations_of(ctx, tx, [known[i] for i in replying], now)
    for index, thread in zip(replying, joined, strict=True):
        found[index] = thread
    return found


async def _join_identities(ctx: InboxContext, tx: UnitOfWork, takings: list[_Taking],
                           now: datetime) -> None:
    """Each message's identity and the conversation it joins; identities (and contacts) for
    first messages. Only what a carrier vouched for joins a contact (`inbox.matching`): a
    first message joins the contact that already has its phone number, else a new contact.
    A first message joins no conversation of its contact's, whatever thread it names; it may
    join the one whose answer to its address it names (`threads.answers_named`)."""
    found = await tx.contacts.identities_and_open_conversations(
        {(t.message.channel, t.message.address) for t in takings})
    first: list[_Taking] = []
    known: list[tuple[Row, _Taking]] = []
    for taking in takings:
        key = (taking.message.channel, taking.message.address)
        if key in found:
            known.append((found[key][0], taking))
        else:
            first.append(taking)
    named_threads = await _threads_of(
        ctx, tx, [(identity["contact_id"], taking.message) for identity, taking in known], now)
    for (identity, taking), thread in zip(known, named_threads, strict=True):
        msg = taking.message
        taking.identity = identity
        taking.conversation = _joined(ctx, msg, found[(msg.channel, msg.address)][1], thread)
        if taking.conversation is None:
            # A rating answers the survey of the resident's resolved conversation, which it
            # joins (`_rejoin` keeps it resolved) instead of opening a new one.
            taking.conversation = await surveys.surveyed_conversation(
                tx, identity["id"], msg.text, msg.received_at)
        if msg.display_name and not identity["contact_name"]:
            # A name the resident gave after their first message (web chat asks for it
            # beside the text box) fills a contact that has none; an agent's stands.
            taking.named = await tx.contacts.name_if_unnamed(identity["contact_id"],
                                                            msg.display_name)
    if first:
        await _new_identities(ctx, tx, first)
    # A reply that joined nothing of its own may answer our message sent from another
    # channel's conversation (`threads.answers_named`); a first message too, for the address
    # it came from is where that answer went.
    unjoined = [t for t in takings
                if t.conversation is None and threads.has_thread(t.message)]
    if unjoined:
        answered = await threads.answers_named(ctx, tx, [t.message for t in unjoined], now)
        for taking, conversation in zip(unjoined, answered, strict=True):
            taking.conversation = conversation


async def _new_identities(ctx: InboxContext, tx: UnitOfWork, first: list[_Taking]) -> None:
    now = utcnow()
    phones = [matching.vouched_phone(ctx.channels[t.message.channel], t.message.phone)
              for t in first]
    known = await tx.contacts.by_phones(p for p in phones if p)
    contact_of: list[Row | None] = []
    creating: dict[str, int] = {}       # phone -> index in `to_create`, one contact a number
    to_create: list[dict[str, Any]] = []
    for taking, phone in zip(first, phones, strict=True):
        msg = taking.message
        contact = known.get(phone) if phone else None
        if contact is not None:
            if not contact["name"] and msg.display_name:
                await tx.contacts.update(contact["id"], name=msg.display_name)
                contact = {**contact, "name": msg.display_name}
                known[phone] = contact
            contact_of.append(contact)
        elif phone and phone in creating:
            contact_of.append({"index": creating[phone]})
        else:
            if phone:
                creating[phone] = len(to_create)
            contact_of.append({"index": len(to_create)})
            to_create.append({"name": msg.display_name, "language": msg.language,
                              "phone": phone})
    created = await tx.contacts.create_many(to_create)
    if creating:
        # Contacts that typed these numbers before a carrier vouched for them may be the
        # same residents.
        await matching.match_vouched_phones(
            tx, ctx.claim_key, {phone: created[index] for phone, index in creating.items()},
            now)
    identities = []
    for taking, contact in zip(first, contact_of, strict=True):
        if "index" in contact:
            contact_id, name = created[contact["index"]], taking.message.display_name
            contact = {"id": contact_id, "name": name}
        identities.append({"contact_id": contact["id"], "channel": taking.message.channel,
                           "address": taking.message.address,
                           "display_name": taking.message.display_name})
        taking.identity = {"contact_id": contact["id"],
                           "contact_name": contact["name"] or taking.message.display_name}
    for taking, identity_id in zip(first, await tx.contacts.create_identities(identities),
                                   strict=True):
        taking.identity["id"] = identity_id


def _text_to_classify(message: InboundMessage) -> str:
    # A text the inbox wrote in place of words (a call's item, a pending voicemail) is
    # nothing to read; its transcript classifies the conversation when it comes.
    return "" if message.text in PLACEHOLDER_TEXTS else message.text


async def _classify_openers(ctx: InboxContext, messages: list[InboundMessage]
                            ) -> dict[tuple[str, str], Classification]:
    """Classify the messages that will open conversations before the write transaction, so
    it holds SQLite's one writer (and the webhooks' journal writes) only for the SQL. In
    chunks, giving the event loop to webhooks between them."""
    classified: dict[tuple[str, str], Classification] = {}
    for start in range(0, len(messages), CLASSIFY_CHUNK):
        chunk = messages[start:start + CLASSIFY_CHUNK]
        for message, result in zip(chunk, _classify(ctx, chunk), strict=True):
            classified[(message.channel, message.external_id)] = result
        await asyncio.sleep(0)
    return classified


def _classify(ctx: InboxContext, messages: Sequence[InboundMessage]) -> list[Classification]:
    """The classification of each message opening a conversation, in one call: as
    `dispatch.read_conversation` would classify it alone, at a fraction of the cost."""
    if not messages:
        return []
    return classify_many(
        [_text_to_classify(m) for m in messages],
        hints=[Hints(m.category_hint) if m.category_hint else None for m in messages],
        rules=ctx.category_keywords, default_languages=[m.language or "az" for m in messages])


def _new_conversation(ctx: InboxContext, taking: _Taking, now: datetime) -> dict[str, Any]:
    """The row of the conversation a message opens, classified and routed (the decisions
    are routing's pure functions, as in `dispatch.route_conversation`)."""
    msg = taking.message
    row = {"contact_id": taking.identity["contact_id"], "identity_id": taking.identity["id"],
           "channel": msg.channel, "status": "waiting", "language": msg.language,
           "queue_hint": msg.queue_hint, "category_hint": msg.category_hint,
           "thread_key": msg.thread_key, "created_at": now, "last_message_at": now,
           "last_inbound_at": now}
    reading = dispatch.read_conversation(ctx, {**row, "category_source": None},
                                         _text_to_classify(msg),
                                         classification=taking.classification)
    taking.reading = reading
    queue = ctx.config.queue(reading.decision.queue)
    result = reading.classification
    # A registration the guided intake leads waits for no agent yet: no clock runs while the
    # bot collects (`guided.release` starts it).
    taking.guided = guided.holds(ctx, msg.channel, result.category, msg.automatic)
    return {**row, "category": result.category, "category_confidence": result.confidence,
            "category_source": result.source, "language": reading.language,
            "queue": queue.id, "routed_at": now,
            "status": guided.STATUS if taking.guided else "waiting",
            "sla_due_at": None if taking.guided
            else sla.due_at(ctx, queue.id, now, "first_response")}


async def _acknowledge(ctx: InboxContext, tx: UnitOfWork, opened: list[_Taking],
                       now: datetime) -> None:
    """Queue the acknowledgement of each new conversation on a channel that acknowledges,
    telling the resident their reference and, in an operators' queue, their place in line.
    Mail a machine wrote is never acknowledged (one robot answering another is a loop), nor
    a sender past the channel's daily cap."""
    candidates = [t for t in opened
                  if ctx.channels[t.message.channel].acknowledged and t.message.automatic is None]
    acknowledged = [t for t, allowed in zip(candidates, await within_daily_cap(
        ctx, tx, [(t.message.channel, t.identity["id"]) for t in candidates], now),
        strict=True) if allowed]
    places: dict[str, int] = {}
    for queue_id in sorted({t.reading.decision.queue for t in acknowledged}):
        if ctx.config.queue(queue_id).kind == "operators":
            first = min(t.conversation_id for t in acknowledged
                        if t.reading.decision.queue == queue_id)
            # Those ahead of the batch's first conversation in this queue; the batch's
            # own follow in the order they were created.
            places[queue_id] = await tx.conversations.queue_position(
                queue_id, {"id": first, "priority": 0, "created_at": now}) - 1
    rows = []
    for taking in acknowledged:
        queue_id = taking.reading.decision.queue
        position = None
        if queue_id in places:
            places[queue_id] += 1
            position = places[queue_id]
        body = acknowledgement_body(ctx, taking.message.channel,
                                    taking.reading.classification.category,
                                    taking.reading.language,
                                    name=taking.identity["contact_name"],
                                    reference=taking.conversation_id, position=position)
        rows.append({"conversation_id": taking.conversation_id,
                     "channel": taking.message.channel, "direction": "out", "body": body,
                     "author_kind": "system", "author_id": None, "created_at": now,
                     "delivery_status": "queued", "next_attempt_at": now, "extra": None})
    for taking, message_id in zip(acknowledged, await tx.messages.insert_many(rows),
                                  strict=True):
        taking.acknowledgement_id = message_id


async def _rejoin(tx: UnitOfWork, taking: _Taking, now: datetime) -> str:
    """The status of the conversation the message joins, once it is stored. The resident
    writing wakes a conversation parked as pending, and a reply in the thread of one resolved
    within the channel's `reopen_within` reopens it (a `reopened` event, as when an agent
    reopens one): open with its agent, waiting in its queue without one. Mail a machine wrote
    (an out-of-office answering our reply) is kept in the conversation but moves nothing:
    it neither wakes, reopens nor takes it from its agent."""
    conversation = taking.conversation
    status = conversation["status"]
    if taking.message.automatic is not None:
        return status
    if status == "pending":
        taking.woke_up = True
        return "open"
    if status == "resolved" and await surveys.take_answer(
            tx, conversation, taking.message.text, taking.message.received_at):
        taking.rated = True
        return status   # a rating within the survey's expiry: stored, nothing reopened
    if status == "resolved":
        taking.reopened = True
        status = "open" if conversation["assignee_id"] is not None else "waiting"
        changes = await lifecycle.change_status(tx, conversation, status, at=now,
                                                reason="the resident replied")
        await tx.conversations.update(conversation["id"], **changes)
    return status


def _stored_extra(message: InboundMessage, *, rated: bool = False) -> dict[str, Any] | None:
    """The facts kept with the message: the channel's, and why nobody should answer it when a
    machine wrote it, so the console and any later look can tell; whether it answered the
    satisfaction survey (`rated`), so that a resend of it is acknowledged as that answer."""
    marks: dict[str, Any] = {}
    if message.automatic is not None:
        marks["automatic"] = message.automatic
    if rated:
        marks[SURVEY_ANSWER] = True
    return {**(message.extra or {}), **marks} if marks else message.extra


async def _store(ctx: InboxContext, tx: UnitOfWork, takings: list[_Taking]) -> None:
    now = utcnow()
    await _join_identities(ctx, tx, takings, now)
    opened = [t for t in takings if t.conversation is None]
    # Openers the batch did not classify before its transaction (too small a batch to pay
    # for that read, a sender taken for a follow-up who opens a new conversation after all:
    # a mailbox's resident writing again), all in one call.
    unread = [t for t in opened if t.classification is None]
    for taking, result in zip(unread, _classify(ctx, [t.message for t in unread]),
                              strict=True):
        taking.classification = result
    conversation_rows = [_new_conversation(ctx, t, now) for t in opened]
    for taking, conversation_id in zip(
            opened, await tx.conversations.create_many(conversation_rows), strict=True):
        taking.conversation_id = conversation_id
    touched = []
    for taking in takings:
        if taking.conversation is None:
            continue
        taking.conversation_id = taking.conversation["id"]
        touched.append({"id": taking.conversation_id, "at": now,
                        "status": await _rejoin(tx, taking, now)})
    await tx.conversations.touch_many(touched)
    rows = []
    for taking in takings:
        msg = taking.message
        taking.row = {
            "conversation_id": taking.conversation_id, "channel": msg.channel,
            "direction": "in", "external_id": msg.external_id, "body": msg.text,
            "html": clean_html(msg.html) if msg.html else None,
            "extra": _stored_extra(msg, rated=taking.rated),
            "attachments": [_attachment(a) for a in msg.attachments],
            "author_kind": "resident", "author_id": None, "created_at": now,
            "delivery_status": "received"}
        rows.append(taking.row)
    for taking, message_id in zip(takings, await tx.messages.insert_many(rows), strict=True):
        taking.row["id"] = message_id
    events: list[tuple[int, EventType, dict[str, Any], datetime]] = []
    for taking in takings:
        events.append((taking.conversation_id, EventType.RECEIVED,
                       {"message_id": taking.row["id"], "channel": taking.message.channel},
                       now))
        if taking.reading is not None:
            events.append((taking.conversation_id, EventType.CLASSIFIED,
                           dispatch.classified_data(taking.reading.classification), now))
            events.append((taking.conversation_id, EventType.ROUTED,
                           {"queue": taking.reading.decision.queue,
                            "reason": taking.reading.decision.reason,
                            "why": dict(taking.reading.decision.why)}, now))
    await tx.events.add_many(events)
    for taking in takings:
        # A rating leaves the resolved conversation as it is: nobody needs to answer it.
        if taking.conversation is not None and taking.message.automatic is None \
                and not taking.rated:
            taking.released_from = await assignment.release_on_message(
                tx, taking.conversation, now)
    # Typed identifiers never join contacts: they become claims and possible matches. Heard
    # ones (a voicemail's transcript) are not even kept as claims, nor those in what a
    # machine wrote (a bounce names the resident it could not reach, list mail its
    # authors), nor the service's own addresses. Where the resident asked answers to go is
    # typed too: kept on its identity to send to, and claimed alike.
    typed = [(t.identity["contact_id"], t.conversation_id, matching.residents_own(
                 t.reading.classification.entities, ctx.service_identifiers))
             for t in opened
             if not ctx.channels[t.message.channel].heard and t.message.automatic is None]
    for taking in takings:
        if taking.message.reply_to is None:
            continue
        kept = reply_to.stored(taking.message.reply_to, now)
        # The chat sends it with every message: written (and claimed) when it changed.
        if kept is not None and not reply_to.same(kept, taking.identity.get("reply_to")):
            await tx.contacts.set_reply_to(taking.identity["id"], kept)
            typed.append((taking.identity["contact_id"], taking.conversation_id,
                          reply_to.entities(taking.message.reply_to)))
    await matching.record_claims_many(tx, ctx.claim_key, typed, now)
    await _acknowledge(ctx, tx, [t for t in opened if not t.guided], now)
    await _guide(ctx, tx, takings, now)


async def _guide(ctx: InboxContext, tx: UnitOfWork, takings: list[_Taking],
                 now: datetime) -> None:
    """The guided intake's part: its first questions for the conversations it holds, and the
    next turn of those it is leading."""
    opening = [t for t in takings if t.guided]
    for taking, said in zip(opening, await guided.start_many(ctx, tx, [
            ({"id": t.conversation_id, "channel": t.message.channel,
              "language": t.reading.language}, t.identity["contact_name"]) for t in opening],
            now), strict=True):
        taking.bot_replies = said
    answering = [t for t in takings if t.conversation is not None
                 and t.conversation["status"] == guided.STATUS and t.message.automatic is None]
    for taking, taken in zip(answering, await guided.take_many(ctx, tx, [
            ({**t.conversation, "channel": t.message.channel}, t.row) for t in answering],
            now), strict=True):
        taking.bot_replies, taking.released = list(taken.replies), taken.released


async def _likely_openers(ctx: InboxContext, arrivals: list[Arrival],
                          keys: list[tuple[str, str]]) -> list[InboundMessage]:
    """The messages that, as things stand, will open a conversation: not stored yet, from an
    address with no conversation the message would join (`_joined`). Read before the write
    transaction, which reads again: one that turns out otherwise is classified there, or its
    reading is not used."""
    async with ctx.store.read() as tx:
        stored = await tx.messages.stored_external_ids(keys)
        fresh = [a for a, key in zip(arrivals, keys, strict=True) if key not in stored]
        found = await tx.contacts.identities_and_open_conversations(
            {(a.message.channel, a.message.address) for a in fresh})
        known = [(found[(a.message.channel, a.message.address)][0]["contact_id"], a.message)
                 for a in fresh if (a.message.channel, a.message.address) in found]
        thread_of = {id(message): thread for (_, message), thread in
                     zip(known, await _threads_of(ctx, tx, known, utcnow()), strict=True)}
    openers = []
    for arrival in fresh:
        msg = arrival.message
        if (msg.channel, msg.address) not in found or _joined(
                ctx, msg, found[(msg.channel, msg.address)][1], thread_of[id(msg)]) is None:
            openers.append(msg)
    return openers


async def store_many(ctx: InboxContext, arrivals: list[Arrival]) -> list[IngestResult]:
    """Store `arrivals` in one transaction, each message once, new conversations routed and
    acknowledged; their results in order. Raises (and stores nothing) when the batch fails
    as a whole: Duplicate when another process stored one of its messages or identities
    first, which a retry of each message alone settles."""
    results: list[IngestResult | None] = [None] * len(arrivals)
    keys = [(a.message.channel, a.message.external_id) for a in arrivals]
    classified = {}
    if len(arrivals) >= PRECLASSIFY_FROM:
        unknown = [(arrival, key) for arrival, key in zip(arrivals, keys, strict=True)
                   if not RECENT.fresh((arrival.message.channel, arrival.message.address))]
        if unknown:
            classified = await _classify_openers(ctx, await _likely_openers(
                ctx, [a for a, _ in unknown], [k for _, k in unknown]))
    async with ctx.store.transaction() as tx:
        await tx.journal.discard_many([a.intake_id for a in arrivals
                                       if a.intake_id is not None])
        stored = await tx.messages.stored_external_ids(keys)
        fresh: dict[tuple[str, str], int] = {}
        takings: list[tuple[int, _Taking]] = []
        for index, key in enumerate(keys):
            if key in stored:   # a provider's retry, or a resend after a reconnect
                results[index] = IngestResult(
                    stored[key]["id"], stored[key]["conversation_id"], True, False,
                    rated=bool((stored[key]["extra"] or {}).get(SURVEY_ANSWER)))
            elif key not in fresh:
                fresh[key] = index
                takings.append((index, _Taking(arrivals[index].message,
                                               classification=classified.get(key))))
        await _store(ctx, tx, [t for _, t in takings])
    RECENT.saw((t.message.channel, t.message.address) for _, t in takings)
    for index, taking in takings:
        results[index] = IngestResult(
            taking.row["id"], taking.conversation_id, False, taking.conversation is None,
            queue=taking.reading.decision.queue if taking.reading else
            taking.conversation["queue"],
            message=taking.row, woke_up=taking.woke_up, released_from=taking.released_from,
            named=taking.named, acknowledgement_id=taking.acknowledgement_id,
            reopened=taking.reopened, bot_replies=tuple(taking.bot_replies),
            released=taking.released, rated=taking.rated)
    for index, key in enumerate(keys):
        if results[index] is None:   # the same message twice in the batch: stored once
            first = results[fresh[key]]
            results[index] = IngestResult(first.message_id, first.conversation_id, True, False,
                                          rated=first.rated)
    return results  # type: ignore[return-value]


# --- after the commit ---------------------------------------------------------------------


async def _queue_of(ctx: InboxContext, result: IngestResult) -> str | None:
    """The queue of the conversation a message joined, to announce the message to that
    queue's agents. A conversation whose first message is being routed right now (by the
    sweep, after a crash) has none yet: the message waits for that routing's transaction
    (the conversation's row lock; SQLite's one writer) and takes the queue it chose. One left
    unrouted has none until the sweep routes it: its message reaches supervisors and admins
    only, and the queue's agents get the conversation, this message included, once it is
    routed."""
    if result.queue is not None:
        return result.queue
    async with ctx.store.transaction() as tx:
        return (await tx.conversations.get(result.conversation_id, for_update=True))["queue"]


async def announce_many(ctx: InboxContext, results: list[IngestResult]) -> None:
    """After `store_many` committed: queue the sends of the acknowledgements and the media
    fetches, tell consoles what came (one Redis pipeline), then offer the new conversations
    to agents with room and give back what an absent agent lost."""
    taken = [r for r in results if not r.duplicate]
    for result in results:
        if result.duplicate:
            log.info("duplicate message %s ignored", result.message_id)
    await ctx.jobs.enqueue_media_async([
        r.message_id for r in taken if any(a.get("source_url") for a in r.message["attachments"])])
    acknowledgements = [r.acknowledgement_id for r in taken if r.acknowledgement_id]
    acknowledgements += [i for r in taken for i in r.bot_replies]
    if acknowledgements:
        await ctx.jobs.enqueue_delivery_async(acknowledgements, "system")
    opened = [r for r in taken if r.new_conversation]
    joined = [r for r in taken if not r.new_conversation]
    announcements: list[tuple[str, str | None, dict[str, Any]]] = []
    if opened:
        async with ctx.store.read() as tx:
            routed = await tx.conversations.with_contacts([r.conversation_id for r in opened])
        for row in routed:
            log.info("conversation %s routed to %s", row["id"], row["queue"])
            announcements.append(("conversation.created", row["queue"],
                                  {"conversation": conversation_view(row, ctx.zone)}))
        for queue in sorted(Counter(row["queue"] for row in routed)):
            announcements.append(("queue.updated", queue, {"queue": queue}))
    for result in joined:
        log.info("stored message %s in conversation %s", result.message_id,
                 result.conversation_id)
        data = {"conversation_id": result.conversation_id,
                "message": message_view(result.message, ctx.zone)}
        if result.bot_replies:
            # An answer to the guided intake (a FIN, an ID card number): outside the queue it
            # is read masked, as the conversation's API view shows it.
            data[MASKED_MESSAGE] = {**data["message"],
                                    "body": guided_view.masked_body(data["message"]["body"])}
        announcements.append(("message.created", await _queue_of(ctx, result), data))
    # What a follow-up changed (it woke, reopened or released its conversation, named its
    # contact): one read and the same pipeline, however many residents did so at once.
    changed = [r.conversation_id for r in joined if r.woke_up or r.reopened or r.named
               or r.released or r.released_from is not None]
    if changed:
        async with ctx.store.read() as tx:
            rows = await tx.conversations.with_contacts(changed)
        announcements += [("conversation.updated", row["queue"],
                           {"conversation": conversation_view(row, ctx.zone)}) for row in rows]
    # Released by the guided intake (it is over), or reopened without its agent: the case
    # waits in its queue again and is offered like a new one. One its absent agent lost is
    # offered to the others.
    waiting = [r for r in joined if r.released_from is None and (r.released or r.reopened)]
    announcements += [("queue.updated", queue, {"queue": queue})
                      for queue in sorted({r.queue for r in waiting if r.queue})]
    await publish_events(ctx.redis, announcements)
    for result in joined:
        if result.released_from is not None:
            await assignment.assign_waiting(ctx, result.conversation_id,
                                            exclude={result.released_from})
    offered = [r.conversation_id for r in opened] + [r.conversation_id for r in waiting]
    if offered:
        await assignment.assign_many(ctx, offered)


async def ingest_many(ctx: InboxContext, messages: Sequence[InboundMessage],
                      batch_max: int = MANY_BATCH_MAX) -> list[IngestResult | Exception]:
    """Store and announce many messages (a mailbox's poll) in few transactions; each one's
    result, or the exception that kept it out, in order. A batch holds at most one message
    of each resident, so their messages are taken in the order given; a batch that fails is
    taken again message by message, so a bad message fails alone and the others go in."""
    results: list[IngestResult | Exception | None] = [None] * len(messages)
    rounds: list[list[int]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, message in enumerate(messages):
        resident = resident_of(message)
        seen[resident] = seen.get(resident, -1) + 1
        if seen[resident] == len(rounds):
            rounds.append([])
        rounds[seen[resident]].append(index)
    for round_ in rounds:
        for start in range(0, len(round_), batch_max):
            batch = round_[start:start + batch_max]
            try:
                stored = await store_many(ctx, [Arrival(messages[i]) for i in batch])
            except Exception:
                for i in batch:
                    try:
                        [results[i]] = await store_alone(ctx, Arrival(messages[i]))
                    except Exception as exc:
                        results[i] = exc
                        continue
                    await announce_stored(ctx, [results[i]])   # type: ignore[list-item]
                continue
            await announce_stored(ctx, stored)
            for i, result in zip(batch, stored, strict=True):
                results[i] = result
    return results  # type: ignore[return-value]


class _RolledBack(Exception):
    """Ends the warm-up's transaction, undoing everything it wrote."""


# The made-up residents of the warm-up: a registration (the intake's path) with a typed FIN
# (the claims' path), and a question.
_WARM_UP_TEXTS = ("Salam, ilkin qeydiyyatdan keçmək istəyirəm. FIN 5ZJ8K2L",
                  "Salam, pensiyam bu ay gəlməyib, nə etməliyəm?")


async def warm_up(ctx: InboxContext) -> None:
    """Take two made-up messages through the storing path in a transaction that is rolled
    back, so the first batch of a storm finds its statements compiled (and, on PostgreSQL,
    prepared) and its form and templates loaded. Without it that batch paid for them with
    SQLite's one writer held, and the webhooks answered meanwhile waited 110-150 ms; on
    PostgreSQL with the event loop's time. Leaves nothing stored; on PostgreSQL the ids the
    rolled-back inserts took are skipped, as after any rollback (references have gaps).
    Never fails its caller."""
    # A carrier's channel (SMS, WhatsApp), where storms come from, or else any that holds the
    # registration dialogue and acknowledges.
    able = [(not traits.phone_address, name) for name, traits in ctx.channels.items()
            if traits.dialogue and traits.acknowledged]
    if not able:
        return
    channel = min(able)[1]
    now = utcnow()
    messages = [InboundMessage(channel=channel, external_id=f"warm-up-{n}",
                               address=f"+99450000000{n}", phone=f"+99450000000{n}",
                               text=text, received_at=now, language="az")
                for n, text in enumerate(_WARM_UP_TEXTS)]
    keys = [(m.channel, m.external_id) for m in messages]
    try:
        classified = await _classify_openers(ctx, await _likely_openers(
            ctx, [Arrival(m) for m in messages], keys))
        async with ctx.store.transaction() as tx:
            await tx.journal.discard_many([0])
            await tx.messages.stored_external_ids(keys)
            await _store(ctx, tx, [_Taking(m, classification=classified.get(k))
                                   for m, k in zip(messages, keys, strict=True)])
            raise _RolledBack
    except _RolledBack:
        pass
    except Exception as exc:   # a slower first batch, not a process that will not start
        log.warning("the storing path could not be warmed up: %s", type(exc).__name__,
                    exc_info=True)


async def store_alone(ctx: InboxContext, arrival: Arrival) -> list[IngestResult]:
    """One message of a failed batch, tried twice: the first try may meet the same message
    or identity another process stored a moment before, which the second finds. Raises
    what the second try met."""
    try:
        return await store_many(ctx, [arrival])
    except Exception:
        return await store_many(ctx, [arrival])


async def announce_stored(ctx: InboxContext, results: list[IngestResult]) -> None:
    """Announce what is committed, never failing its caller: the messages are in whatever
    Redis says, and the sweeps deliver, assign and announce what an outage held up."""
    try:
        await announce_many(ctx, results)
    except REDIS_UNAVAILABLE as exc:
        ctx.redis_outage.failed(exc)
    except Exception:
        log.exception("%s stored message(s) could not be announced", len(results))


async def ingest(ctx: InboxContext, msg: InboundMessage,
                 intake_id: int | None = None) -> IngestResult:
    """Store `msg` once, route it, and announce it: a batch of one. `intake_id`: the journal
    entry it came from (inbox.intake), deleted in the same transaction."""
    arrival = Arrival(msg, intake_id)
    try:
        [result] = await store_many(ctx, [arrival])
    except Duplicate:
        # Another process committed the same external id (or identity) between our read
        # and our insert; that transaction is rolled back, and the retry finds what the
        # winner stored.
        [result] = await store_many(ctx, [arrival])
    await announce_many(ctx, [result])
    return result

