"""Routing a committed conversation: classify, choose the queue, set the SLA clock, acknowledge.

The decisions are routing's pure functions; this module loads their inputs and applies their
outputs in one transaction, with an event for each decision and its reason. A text that
arrives after routing read the first message (a voicemail's transcript replacing its
placeholder) may classify the conversation again: `reclassify`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from inbox import assignment, lifecycle, matching, outbox, sla
from inbox.acknowledging import acknowledgement_body, within_daily_cap
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.messages import PLACEHOLDER_TEXTS
from inbox.storage import Row, UnitOfWork, utcnow
from routing import Classification, Hints, classify
from routing.rules import RouteDecision, RoutingFacts, choose_queue

log = logging.getLogger(__name__)

# Category sources a later text may replace: the model's guess, or nothing to go on (a call
# without a reason chosen in the menu is "empty"), or none yet. The resident's own menu choice
# ("hint", full confidence), a deployment's keyword rule and a person's correction stand.
RECLASSIFIABLE = frozenset({None, "empty", "model"})
HUMAN = "human"   # the category source of an agent's correction


async def text_to_classify(tx: UnitOfWork, conversation_id: int) -> str:
    """The first message's text. One the inbox wrote in place of words (a call's item, a
    voicemail whose transcript is pending or failed: PLACEHOLDER_TEXTS) is nothing to read:
    the first resident's message after it that has words is read instead (the voicemail's
    transcript, when it came before routing, as after a crash), else nothing ("empty"). A
    transcript that comes later classifies the conversation then (`reclassify`)."""
    first = await tx.messages.of_conversation(conversation_id, include_notes=False, limit=1)
    if not first:
        return ""
    if first[0]["body"] not in PLACEHOLDER_TEXTS:
        return first[0]["body"]
    later = await tx.messages.of_conversation(conversation_id, include_notes=False)
    return next((m["body"] for m in later
                 if m["direction"] == "in" and m["body"] not in PLACEHOLDER_TEXTS), "")


@dataclass(frozen=True)
class Reading:
    """What routing makes of a conversation's text: its classification, the conversation's
    language, and the queue the rules choose for them."""
    classification: Classification
    language: str
    decision: RouteDecision


def hints_of(conversation: Row) -> Hints | None:
    """The resident's menu choice, as a hint to the classifier."""
    return Hints(conversation["category_hint"]) if conversation["category_hint"] else None


def read_conversation(ctx: InboxContext, conversation: Row, text: str, *,
                      language: str | None = None,
                      classification: Classification | None = None) -> Reading:
    """Classify `text` (with the resident's menu choice as a hint; written or spoken in
    `language` if known) and choose the conversation's queue. The conversation's language,
    once known, stays. After an agent's correction their category stands: the reading
    carries it as a person's (source HUMAN, full confidence) and the queue follows it.
    `classification`: the text's, when a batch already classified it so."""
    result = classification or classify(
        text, hints=hints_of(conversation), rules=ctx.category_keywords,
        default_language=language or conversation["language"] or "az")
    if conversation["category_source"] == HUMAN:
        result = replace(result, category=conversation["category"], confidence=1.0,
                         source=HUMAN)
    conversation_language = conversation["language"] or result.language
    decision = choose_queue(
        RoutingFacts(category=result.category, confidence=result.confidence,
                     channel=conversation["channel"], language=conversation_language,
                     text=text, queue_hint=conversation["queue_hint"]),
        ctx.rules, default_queue=ctx.config.routing.default_queue,
        triage_queue=ctx.config.routing.triage_queue,
        min_confidence=ctx.config.routing.min_confidence)
    return Reading(result, conversation_language, decision)


async def _acknowledgeable(ctx: InboxContext, tx: UnitOfWork, conversation: Row,
                           now: datetime) -> bool:
    """As ingest decides for the conversations it routes: not when a machine wrote the
    first message, nor past the sender's daily cap (`inbox.acknowledging`)."""
    first = next((m for m in await tx.messages.of_conversation(conversation["id"],
                                                                include_notes=False)
                  if m["direction"] == "in"), None)
    if first is not None and (first["extra"] or {}).get("automatic"):
        return False
    [allowed] = await within_daily_cap(ctx, tx, [(conversation["channel"],
                                                  conversation["identity_id"])], now)
    return allowed


async def route_conversation(ctx: InboxContext, conversation_id: int, *,
                             acknowledge: bool = True) -> None:
    ack_id = None
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(conversation_id, for_update=True)
        if conversation is None or conversation["routed_at"] is not None:
            return
        reading = read_conversation(ctx, conversation,
                                     await text_to_classify(tx, conversation_id))
        result, language, decision = reading.classification, reading.language, reading.decision
        queue = ctx.config.queue(decision.queue)
        now = utcnow()
        due = sla.due_at(ctx, queue.id, conversation["created_at"], "first_response")
        await tx.conversations.update(
            conversation_id, category=result.category, category_confidence=result.confidence,
            category_source=result.source, language=language, queue=queue.id,
            routed_at=now, sla_due_at=due)
        if result.source != HUMAN:
            # Re-routing after an agent's correction: their `reclassified` event records the
            # category (a `classified` event would show it as the classifier's own guess).
            await tx.events.add(conversation_id, EventType.CLASSIFIED, classified_data(result),
                                at=now)
        await tx.events.add(conversation_id, EventType.ROUTED,
                            {"queue": queue.id, "reason": decision.reason,
                             "why": dict(decision.why)}, at=now)
        channel = ctx.channels[conversation["channel"]]
        if not channel.heard:
            # Typed identifiers never join contacts: they become claims and possible matches.
            # Heard ones (a voicemail's transcript) are shown masked in events but not even
            # kept as claims, as in `reclassify`: a misheard FIN must not join two residents.
            await matching.record_claims(
                tx, ctx.claim_key, conversation["contact_id"], conversation_id,
                matching.residents_own(result.entities, ctx.service_identifiers), now)
        if acknowledge and channel.acknowledged \
                and await _acknowledgeable(ctx, tx, conversation, now):
            stored = await tx.conversations.get(conversation_id)
            contact = await tx.contacts.get(stored["contact_id"])
            position = None
            if queue.kind == "operators":
                position = await tx.conversations.queue_position(queue.id, conversation)
            body = acknowledgement_body(ctx, conversation["channel"], result.category,
                                        language, name=contact.get("name"),
                                        reference=conversation_id, position=position)
            ack_id = await outbox.queue_message(tx, conversation, body, author_kind="system")
        routed = await tx.conversations.with_contact(conversation_id)
    log.info("conversation %s routed to %s (%s)", conversation_id, queue.id, decision.reason)
    if ack_id is not None:
        await ctx.jobs.enqueue_delivery_async([ack_id], "system")
    await lifecycle.announce_routed(ctx, routed)
    await assignment.assign_waiting(ctx, conversation_id)


@dataclass(frozen=True)
class Reclassified:
    conversation_id: int
    queue: str
    moved_from: str | None    # the queue it left, when the new category chose another


def classified_data(result: Classification) -> dict:
    """The `classified` event's data: the decision, and the entities found, masked."""
    return {"category": result.category, "confidence": round(result.confidence, 3),
            "language": result.language, "source": result.source,
            "entities": [{"kind": e.kind, "value": e.masked()} for e in result.entities]}


async def reclassify(ctx: InboxContext, tx: UnitOfWork, conversation_id: int, text: str, *,
                     message_id: int, reason: str,
                     language: str | None = None) -> Reclassified | None:
    """Classify a routed conversation again on `text`, a message routing could not read when
    it routed (a voicemail's transcript, spoken in `language`), unless its category came from
    the resident's menu choice, a keyword rule or a person (RECLASSIFIABLE). Records
    `classified` with the message and the reason; a conversation still waiting for an agent
    moves to the queue the rules now choose, with `routed`. The SLA clock keeps running as it
    was, as on a transfer. Entities found are shown masked in the event but, heard rather than
    written, not kept on the contact: a misheard FIN must not merge two residents. Runs in the
    caller's transaction, so the text and its classification commit together; the caller
    calls `announce_reclassified` after commit. None when the category stands."""
    conversation = await tx.conversations.get(conversation_id, for_update=True)
    if conversation is None or conversation["routed_at"] is None \
            or conversation["category_source"] not in RECLASSIFIABLE:
        return None   # not routed yet: routing will read the conversation as it is then
    reading = read_conversation(ctx, conversation, text, language=language)
    result, decision = reading.classification, reading.decision
    if conversation["category_source"] == "model" \
            and result.confidence < ctx.config.routing.min_confidence:
        return None   # a vaguer text (a second voicemail) does not undo a surer reading
    now = utcnow()
    changes = {"category": result.category, "category_confidence": result.confidence,
               "category_source": result.source, "language": reading.language}
    await tx.events.add(conversation_id, EventType.CLASSIFIED,
                        {**classified_data(result), "message_id": message_id, "reason": reason},
                        at=now)
    moved_from = None
    waiting = conversation["status"] == "waiting" and conversation["assignee_id"] is None
    if waiting and decision.queue != conversation["queue"]:
        moved_from = conversation["queue"]
        changes["queue"] = ctx.config.queue(decision.queue).id
        await tx.events.add(conversation_id, EventType.ROUTED,
                            {"queue": changes["queue"], "reason": f"{reason}: {decision.reason}",
                             # `after`: what was read again (a fixed phrase) before the rules.
                             "why": {**decision.why, "after": reason}},
                            at=now)
    await tx.conversations.update(conversation_id, **changes)
    log.info("conversation %s reclassified as %s (%s) on a %s", conversation_id,
             result.category, result.source, reason)
    return Reclassified(conversation_id, changes.get("queue", conversation["queue"]), moved_from)


async def announce_reclassified(ctx: InboxContext, done: Reclassified) -> None:
    """After a committed `reclassify` (the caller announces the conversation itself): a moved
    conversation updates both queues and is offered to an agent of its new one."""
    if done.moved_from is None:
        return
    await lifecycle.announce_queues(ctx, (done.moved_from, done.queue))
    await assignment.assign_waiting(ctx, done.conversation_id)


async def route_unrouted(ctx: InboxContext, older_than_s: int = 30) -> list[int]:
    """Route conversations left unrouted by a crash between commit and routing."""
    async with ctx.store.read() as tx:
        pending = await tx.conversations.unrouted(utcnow() - timedelta(seconds=older_than_s))
    for conversation_id in pending:
        await route_conversation(ctx, conversation_id)
    return pending
