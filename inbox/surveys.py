"""The satisfaction question: after an agent resolves a conversation, the resident is asked
once (per resolution) to rate the service from 1 to 5, on its channel, in their language.

The question is sent by a consumer of the event log (`resolved` events with an agent as
actor: an automatic resolution asks nothing). The survey row, unique per resolution event,
is written with its outbox message in one transaction, so a worker restart asks once. The
agent who resolved the conversation, its queue, channel and category are recorded then, so
reports group answers as things stood when the resident was asked.

An answer ("4", "5 çox sağ olun", a pressed button) that arrives before the survey expires
is stored with the rest of the message as its comment and leaves the conversation resolved.
Anything else, or anything after expiry, reopens the conversation as any message would.
What is read is the message's text as its channel hands it over: of a mail, the resident's
own words, the quoted question below them already taken off at ingest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from inbox import lifecycle
from inbox.consumers import EventConsumer
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.messages import CHOICES
from inbox.replies import render_reply, reply_language
from inbox.storage import Row, UnitOfWork, utcnow

log = logging.getLogger(__name__)

SCORES = ("1", "2", "3", "4", "5")
MAX_COMMENT_CHARS = 2000

# A score alone, or first and followed by words: "4", "5/5", "3 - uzun gözlədim".
_ANSWER = re.compile(r"\s*([1-5])(?:\s*/\s*5)?(?:(?:\s*[-–—:,.;!)]\s*|\s+)(.*))?\s*",
                     re.DOTALL)


def parse_answer(text: str) -> tuple[int, str | None] | None:
    """(score, comment) of a resident's answer, or None when the text is not one."""
    match = _ANSWER.fullmatch(text or "")
    if match is None:
        return None
    comment = " ".join((match.group(2) or "").split()) or None
    return int(match.group(1)), comment[:MAX_COMMENT_CHARS] if comment else None


async def _open_survey(tx: UnitOfWork, latest: Row | None, at: datetime) -> Row | None:
    """The survey of `latest` (an identity's latest conversation) when that conversation is
    resolved and the survey still open at `at`: the one a rating from the identity answers."""
    if latest is None or latest["status"] != "resolved":
        return None
    return await tx.surveys.open_for(latest["id"], at)


async def surveyed_conversation(tx: UnitOfWork, identity_id: int, text: str,
                                at: datetime) -> Row | None:
    """The identity's latest conversation when it is resolved, its survey is still open at
    `at` and `text` answers it: where a rating goes on a channel whose messages otherwise
    open a new conversation once the last one was resolved."""
    if parse_answer(text) is None:
        return None
    latest = await tx.conversations.latest_of_identity(identity_id)
    return latest if await _open_survey(tx, latest, at) is not None else None


async def open_question(tx: UnitOfWork, latest: Row | None, at: datetime) -> int | None:
    """The id of the question whose scores the identity may still pick at `at` (a rating
    now would answer its survey), or None; `latest` is the identity's latest conversation.
    A chat window replaying its history offers that question's buttons again, and no
    answered or expired one's."""
    survey = await _open_survey(tx, latest, at)
    return None if survey is None else survey["message_id"]


async def take_answer(tx: UnitOfWork, conversation: Row, text: str, at: datetime) -> bool:
    """Inside ingest's transaction: whether this message of the resident answers the
    conversation's open survey (then stored, and the conversation stays resolved)."""
    parsed = parse_answer(text)
    if parsed is None:
        return False
    survey = await tx.surveys.open_for(conversation["id"], at)
    if survey is None:
        return False
    score, comment = parsed
    if not await tx.surveys.answer(survey["id"], score, comment, at):
        return False
    await tx.events.add(conversation["id"], EventType.SURVEY_ANSWERED,
                        {"survey_id": survey["id"], "score": score}, at=at)
    return True


async def ask(ctx: InboxContext, event: Row) -> int | None:
    """Send the survey of this `resolved` event, once; the message's id, None when there is
    none to send (already sent, automatic, disabled, reopened since, or a channel that
    cannot take it now)."""
    survey = ctx.config.survey
    if not survey.enabled or event["actor_id"] is None:
        return None
    now = utcnow()
    async with ctx.store.transaction() as tx:
        if await tx.surveys.of_resolution(event["id"]) is not None:
            return None
        conversation = await tx.conversations.get(event["conversation_id"])
        if conversation["status"] != "resolved" or conversation["channel"] not in survey.channels:
            return None
        traits = ctx.channels[conversation["channel"]]
        if not traits.free_text_allowed(conversation["last_inbound_at"], now):
            return None   # WhatsApp's window closed: a question may not go as free text
        contact = await tx.contacts.get(conversation["contact_id"])
        language = reply_language(contact["language"] or conversation["language"])
        survey_id = await tx.surveys.add(
            conversation_id=conversation["id"], resolution_event_id=event["id"],
            agent_id=event["actor_id"], queue=conversation["queue"],
            channel=conversation["channel"], category=conversation["category"], sent_at=now,
            expires_at=now + timedelta(seconds=survey.expiry_s))
        message_id = await tx.messages.insert(
            conversation_id=conversation["id"], channel=conversation["channel"],
            direction="out", body=render_reply("survey_question", language,
                                               reference=conversation["id"]),
            author_kind="system", author_id=None, created_at=now, delivery_status="queued",
            next_attempt_at=now, extra={CHOICES: list(SCORES), "survey": survey_id})
        await tx.surveys.set_message(survey_id, message_id)
        await tx.events.add(conversation["id"], EventType.SURVEY_SENT,
                            {"survey_id": survey_id, "agent_id": event["actor_id"],
                             "message_id": message_id}, at=now)
        message = await tx.messages.get(message_id)
    await ctx.jobs.enqueue_delivery_async([message_id], "system")
    await lifecycle.announce(ctx, conversation["id"], message)
    return message_id


async def handle(ctx: InboxContext, batch: Sequence[Row]) -> None:
    for event in batch:
        if event["type"] == EventType.RESOLVED:
            await ask(ctx, event)


SURVEYS_CONSUMER = EventConsumer("surveys", handle)
