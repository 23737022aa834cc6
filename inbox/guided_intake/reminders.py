"""The sweep's part of the guided intake: a resident silent for `remind_after` (or paused
with "stop") gets one reminder with the question they stopped at; still silent
`hand_over_after` later, the case goes to its queue with what was collected, so no
registration waits on a bot forever. An intake whose conversation an agent took meanwhile
is closed without a word."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from inbox import assignment, lifecycle
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.guided_intake import dialogue, engine
from inbox.storage import utcnow
from inbox.storage.intakes import LIVE

log = logging.getLogger(__name__)


async def sweep(ctx: InboxContext, now: datetime | None = None) -> dict[str, list[int]]:
    now = now or utcnow()
    async with ctx.store.read() as tx:
        due = await tx.intakes.due(now)
    done: dict[str, list[int]] = {"reminded": [], "handed_over": []}
    for seen in due:
        outcome = await _remind_or_hand_over(ctx, seen["conversation_id"], now)
        if outcome is not None:
            done[outcome].append(seen["conversation_id"])
    return done


async def _remind_or_hand_over(ctx: InboxContext, conversation_id: int,
                               now: datetime) -> str | None:
    async with ctx.store.transaction() as tx:
        row = await tx.intakes.get(conversation_id, for_update=True)
        if row is None or row["status"] not in LIVE or row["reminder_due_at"] is None \
                or row["reminder_due_at"] > now:
            return None   # the resident answered, or another sweep got there first
        conversation = await tx.conversations.get(conversation_id, for_update=True)
        state = engine.State.from_json(row["state"])
        if conversation["status"] != dialogue.STATUS:
            # An agent took the conversation over: the bot says nothing more.
            await tx.intakes.save(row, status="handed_over", reason="taken by an agent",
                                  finished_at=now, reminder_due_at=None)
            return None
        setting = dialogue.setting_for(ctx, row["language"], conversation_id, now)
        if row["reminded_at"] is None:
            outcome = "reminded"
            await tx.intakes.save(row, reminded_at=now, reminder_due_at=now + timedelta(
                seconds=ctx.config.guided_intake.hand_over_after_s))
            replies = await dialogue.say(tx, conversation, engine.remind(setting, state), now)
            await tx.events.add(conversation_id, EventType.INTAKE_REMINDED, {}, at=now)
        else:
            outcome = "handed_over"
            turn = engine.handover(setting, state, "no answer after the reminder")
            await tx.intakes.save(row, status="handed_over", reason=turn.reason,
                                  finished_at=now, reminder_due_at=None)
            replies = await dialogue.say(tx, conversation, turn.says, now)
            await dialogue.release(ctx, tx, conversation, engine.HANDOVER, turn.reason, now)
    await ctx.jobs.enqueue_delivery_async(replies, "system")
    if outcome == "handed_over":
        await lifecycle.announce(ctx, conversation_id)
        await lifecycle.announce_queues(ctx, [conversation["queue"]])
        await assignment.assign_waiting(ctx, conversation_id)
    log.info("conversation %s: intake %s", conversation_id, outcome)
    return outcome
