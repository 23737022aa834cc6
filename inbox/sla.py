"""SLA clocks on live conversations: due times, and the sweep that flags at-risk and breached
ones, raises their priority, tells supervisors and escalates where the queue says so.

A conversation's `sla_due_at` is its first-response deadline until an agent answers, then its
resolution deadline; both count business time (routing.sla.BusinessCalendar).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from inbox import assignment
from inbox.context import InboxContext
from inbox.events import EventType, sla_event
from inbox.live import publish_event
from inbox.storage import Row, utcnow
from routing.sla import parse_duration

log = logging.getLogger(__name__)

BREACH_PRIORITY = 10   # added on breach: breached conversations are served first
AT_RISK_PRIORITY = 1
AT_RISK_FRACTION = 0.8


def due_at(ctx: InboxContext, queue_id: str, started: datetime, clock: str) -> datetime:
    """When the `clock` ("first_response" or "resolution") of a conversation started at
    `started` in `queue_id` runs out."""
    target = getattr(ctx.config.queue(queue_id).sla, clock)
    seconds = parse_duration(target, business_day_s=ctx.calendar.business_day_s)
    return ctx.calendar.add_business_seconds(started, seconds)


def clock_of(conversation: Row) -> str:
    return "first_response" if conversation["first_response_at"] is None else "resolution"


def clock_started(conversation: Row) -> datetime:
    """When the running clock started: a conversation the guided intake held entered its
    queue, and its first-response clock started, when the intake ended."""
    held_until = conversation.get("intake_finished_at")
    if held_until is not None and clock_of(conversation) == "first_response":
        return held_until
    return conversation["created_at"]


async def sweep(ctx: InboxContext) -> dict[str, list[int]]:
    now = utcnow()
    async with ctx.store.read() as tx:
        live = await tx.conversations.sla_candidates()
    changed: dict[str, list[int]] = {"at_risk": [], "breached": []}
    for conversation in live:
        state = ctx.calendar.sla_state(clock_started(conversation), conversation["sla_due_at"],
                                       now, AT_RISK_FRACTION)
        if state == conversation["sla_state"] or state == "ok":
            continue
        if await _apply(ctx, conversation, state, now):
            changed[state].append(conversation["id"])
    return changed


async def _apply(ctx: InboxContext, seen: Row, state: str, now: datetime) -> bool:
    clock = clock_of(seen)
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(seen["id"], for_update=True)
        if conversation["sla_state"] == state or conversation["sla_due_at"] != seen["sla_due_at"]:
            return False   # another sweep or an agent's answer got there first
        changes: dict[str, Any] = {
            "sla_state": state,
            "priority": conversation["priority"] + (
                BREACH_PRIORITY if state == "breached" else AT_RISK_PRIORITY),
        }
        data = {"clock": clock, "due_at": conversation["sla_due_at"].isoformat()}
        await tx.events.add(conversation["id"], sla_event(state), data, at=now)
        escalation = ctx.config.queue(conversation["queue"]).escalation_queue \
            if conversation["queue"] in ctx.config.queue_ids else None
        escalate = state == "breached" and escalation and clock == "first_response"
        if escalate:
            # Nobody has answered in time: senior operators take it over.
            changes.update(queue=escalation, assignee_id=None, status="waiting",
                           offered_at=None)
            await tx.events.add(conversation["id"], EventType.TRANSFERRED,
                                {"from": conversation["queue"], "to": escalation,
                                "reason": f"{clock} SLA breached"}, at=now)
        await tx.conversations.update(conversation["id"], **changes)
    log.warning("conversation %s: %s SLA %s", seen["id"], clock, state)
    await publish_event(ctx.redis, "sla.updated", changes.get("queue", seen["queue"]), {
        "conversation_id": seen["id"], "state": state, "clock": clock})
    if escalate:
        await assignment.assign_waiting(ctx, seen["id"])
    return True
