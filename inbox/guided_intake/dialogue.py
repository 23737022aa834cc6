"""The intake's turns, applied inside the inbox's transaction: a new registration on a
channel that holds a dialogue is held back from agents (status `intake`, no SLA clock) while
the bot asks; each message of the resident advances its one dialogue row under the row's
lock; a complete or handed-over intake puts the conversation in its queue, waiting, with its
first-response clock starting then. The bot's messages are stored as queued system messages
in the same transaction, and sent by the delivery job like any other.

Residents' answers are personal data: nothing here logs them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from inbox import sla
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.guided_intake import engine
from inbox.guided_intake.form import load_form
from inbox.messages import CHOICES
from inbox.replies import reply_language
from inbox.storage import Row, UnitOfWork

log = logging.getLogger(__name__)

STATUS = "intake"          # the conversation's status while the bot collects
RELEASING = (engine.COMPLETE, engine.HANDOVER)   # outcomes that put it in its queue


@dataclass(frozen=True)
class Taken:
    """What a resident's message did to their intake: the bot's answers to send, and whether
    the conversation has just entered its queue (complete or handed over)."""
    replies: tuple[int, ...] = ()
    released: bool = False


def holds(ctx: InboxContext, channel: str, category: str | None,
          automatic: str | None = None) -> bool:
    """Whether a new conversation is led through the intake instead of waiting for an
    agent: a registration, on a channel that holds a dialogue, when the deployment has it."""
    return (ctx.config.guided_intake.enabled and category == "registration"
            and automatic is None and ctx.channels[channel].dialogue)


def setting_for(ctx: InboxContext, language: str, reference: int, now: datetime,
             name: str | None = None) -> engine.Setting:
    return engine.Setting(load_form(), ctx.config.guided_intake, reply_language(language),
                          now.astimezone(ctx.zone).date(), reference, name)


async def say(tx: UnitOfWork, conversation: Row, says: tuple[engine.Say, ...],
               now: datetime) -> list[int]:
    """One message for the bot's whole turn: the delivery job sends a batch's messages side
    by side, so two messages of one turn could reach the resident in either order. Only a
    turn's last part offers answers."""
    return await tx.messages.insert_many([_said(conversation, says, now)])


def _said(conversation: Row, says: tuple[engine.Say, ...], now: datetime) -> Row:
    choices = says[-1].choices
    return {"conversation_id": conversation["id"], "channel": conversation["channel"],
            "direction": "out", "body": "\n\n".join(s.text for s in says),
            "author_kind": "system", "author_id": None, "created_at": now,
            "delivery_status": "queued", "next_attempt_at": now,
            "extra": {CHOICES: list(choices)} if choices else None}


async def open_question(tx: UnitOfWork, latest: Row | None) -> int | None:
    """The id of the bot's question the identity's next message answers, when it offers
    answers to pick (`CHOICES`), or None: the latest message of `latest` (the identity's
    latest conversation) while the intake holds it. A chat window replaying its history
    offers its buttons again; an earlier question's are spent."""
    if latest is None or latest["status"] != STATUS:
        return None
    shown = await tx.messages.of_conversation(latest["id"], include_notes=False)
    last = shown[-1] if shown else None
    if last is None or last["direction"] != "out" or not (last["extra"] or {}).get(CHOICES):
        return None
    return last["id"]


def reminder_due(ctx: InboxContext, now: datetime) -> datetime:
    return now + timedelta(seconds=ctx.config.guided_intake.remind_after_s)


async def start(ctx: InboxContext, tx: UnitOfWork, conversation: Row, name: str | None,
                now: datetime) -> list[int]:
    """Open the dialogue of a new conversation held for the intake: its row, the offer and
    the consent question (queued). The bot's messages' ids."""
    [said] = await start_many(ctx, tx, [(conversation, name)], now)
    return said


async def start_many(ctx: InboxContext, tx: UnitOfWork,
                     openings: list[tuple[Row, str | None]], now: datetime) -> list[list[int]]:
    """`start` for each (conversation, resident's name) of an ingest batch, in one statement
    per table however many a storm of registrations opens; each one's bot message ids."""
    if not openings:
        return []
    begun = []
    for conversation, name in openings:
        language = reply_language(conversation["language"])
        begun.append((conversation, language,
                      engine.start(setting_for(ctx, language, conversation["id"], now, name))))
    due = reminder_due(ctx, now)
    await tx.intakes.create_many([(c["id"], language, turn.state.as_json())
                                  for c, language, turn in begun], now, due)
    await tx.events.add_many([(c["id"], EventType.INTAKE_STARTED, {}, now)
                              for c, _, _ in begun])
    ids = await tx.messages.insert_many([_said(c, turn.says, now) for c, _, turn in begun])
    return [[message_id] for message_id in ids]


async def take_many(ctx: InboxContext, tx: UnitOfWork, turns: list[tuple[Row, Row]],
                    now: datetime) -> list[Taken]:
    """Advance the intake of each (conversation in status `intake`, the resident's stored
    message) of an ingest batch: one read of their intakes under lock, written only at the
    version read, so two processes taking two messages of one resident apply them one after
    the other; one insert of the bot's answers, however many residents answer at once. A
    conversation must appear once (an ingest batch holds one message per resident)."""
    if len({conversation["id"] for conversation, _ in turns}) != len(turns):
        raise ValueError("one message per conversation in a batch of intake turns")
    rows = await tx.intakes.of_conversations([c["id"] for c, _ in turns], for_update=True)
    answered = [(index, conversation, _advance(ctx, row, message, now), row)
                for index, (conversation, message) in enumerate(turns)
                if (row := rows.get(conversation["id"])) is not None
                and row["status"] in ("active", "paused")]
    taken = [Taken()] * len(turns)
    if not await tx.intakes.save_many([(row, _changes(ctx, turn, now))
                                       for _, _, turn, row in answered]):
        # Only a writer that skipped the locks could get here. Its turn stands; alone, this
        # message is left for the operator to read; in a batch, each is taken again alone.
        if len(answered) > 1:
            raise IntakeChanged("intakes changed under their locks")
        log.warning("conversation %s: intake changed under its lock", answered[0][1]["id"])
        return taken
    said = await tx.messages.insert_many([_said(c, turn.says, now)
                                          for _, c, turn, _ in answered])
    await release_many(ctx, tx, [(c, turn.outcome, turn.reason) for _, c, turn, _ in answered
                                 if turn.outcome in RELEASING], now)
    for (index, _, turn, _), message_id in zip(answered, said, strict=True):
        taken[index] = Taken((message_id,), turn.outcome in RELEASING)
    return taken


class IntakeChanged(RuntimeError):
    """A batch's intake rows were written by another turn between their read and write."""


def _advance(ctx: InboxContext, row: Row, message: Row, now: datetime) -> engine.Turn:
    setting = setting_for(ctx, row["language"], row["conversation_id"], now)
    return engine.advance(setting, engine.State.from_json(row["state"]), engine.Answer(
        message["body"] or "", attachments=len(message["attachments"] or ()),
        message_id=message["id"]))


def _changes(ctx: InboxContext, turn: engine.Turn, now: datetime) -> dict[str, Any]:
    """The intake row's new values after `turn`."""
    changes: dict[str, Any] = {"state": turn.state.as_json(), "updated_at": now,
                               "reminder_due_at": reminder_due(ctx, now), "reminded_at": None,
                               "status": "paused" if turn.state.paused else "active",
                               "reason": None, "finished_at": None}   # the keys of a batch
    if turn.outcome in RELEASING:
        changes.update(status="complete" if turn.outcome == engine.COMPLETE else "handed_over",
                       reason=turn.reason, finished_at=now, reminder_due_at=None)
    return changes


async def release(ctx: InboxContext, tx: UnitOfWork, conversation: Row, outcome: str,
                  reason: str | None, now: datetime) -> None:
    """The conversation enters its queue, waiting for an agent; its first-response clock
    starts now, not when the bot began asking."""
    await release_many(ctx, tx, [(conversation, outcome, reason)], now)


async def release_many(ctx: InboxContext, tx: UnitOfWork,
                       releases: list[tuple[Row, str, str | None]], now: datetime) -> None:
    """`release` for each (conversation, outcome, reason), one statement per table."""
    if not releases:
        return
    await tx.conversations.update_many([
        (c["id"], {"status": "waiting",
                   "sla_due_at": sla.due_at(ctx, c["queue"], now, "first_response")})
        for c, _, _ in releases])
    await tx.events.add_many([
        (c["id"], EventType.INTAKE_COMPLETED, {}, now) if outcome == engine.COMPLETE
        else (c["id"], EventType.INTAKE_HANDED_OVER, {"reason": reason}, now)
        for c, outcome, reason in releases])
    for conversation, outcome, _ in releases:
        log.info("conversation %s: intake %s, waiting in %s", conversation["id"], outcome,
                 conversation["queue"])
