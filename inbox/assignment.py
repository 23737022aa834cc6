"""Putting conversations in front of agents: pushing new ones, filling an agent who has room,
taking them back from agents who left, and re-offering what nobody opened.

The choices are `routing.assignment`'s pure functions; this module loads agents, loads and
waiting conversations, and applies a choice with the store's atomic claim. Locks are always
taken agent first, then conversation (`lock_user`, then `claim_conversation`), so two
processes never wait on each other in a cycle, and an agent's load is counted under the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from inbox import lifecycle
from inbox.channel_traits import ChannelBook
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.live import publish_console_event
from inbox.storage import Row, UnitOfWork, utcnow
from routing.assignment import (
    DEFAULT_CAPACITY,
    AgentState,
    AssignedConversation,
    QueuePolicy,
    WaitingConversation,
    choose_agent,
    handback,
    next_for_agent,
    returns_on_message,
)

log = logging.getLogger(__name__)

PRESENCES = ("online", "away", "offline")


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _kind_loads(by_channel: dict[str, int], channels: ChannelBook) -> dict[str, int]:
    """Open conversations per channel, counted per kind of work."""
    loads: dict[str, int] = {}
    for channel, count in by_channel.items():
        kind = channels.capacity_kind(channel)
        loads[kind] = loads.get(kind, 0) + count
    return loads


def agent_state(user: Row, by_channel: dict[str, int], channels: ChannelBook) -> AgentState:
    return AgentState(
        id=user["id"], queues=frozenset(user["queues"] or ()),
        languages=frozenset(user["languages"] or ()), presence=user["presence"],
        capacity={**DEFAULT_CAPACITY, **(user["capacity"] or {})},
        load=_kind_loads(by_channel, channels), last_assigned_at=_epoch(user["last_assigned_at"]))


def waiting_view(row: Row, channels: ChannelBook,
                 preferred_agent: int | None = None) -> WaitingConversation:
    return WaitingConversation(
        id=row["id"], queue=row["queue"], kind=channels.capacity_kind(row["channel"]),
        language=row["language"] or "az", priority=row["priority"],
        waiting_since=row["created_at"].timestamp(), preferred_agent=preferred_agent)


def policies(ctx: InboxContext) -> dict[str, QueuePolicy]:
    return {q.id: QueuePolicy(q.id, q.strategy, q.languages) for q in ctx.config.queues}


async def _agents(tx: UnitOfWork, channels: ChannelBook,
                  exclude: Iterable[int] = ()) -> list[AgentState]:
    excluded = set(exclude)
    users = [u for u in await tx.users.online_agents() if u["id"] not in excluded]
    loads = await tx.conversations.open_loads([u["id"] for u in users])
    return [agent_state(u, loads.get(u["id"], {}), channels) for u in users]


ASSIGNED, AGENT_FULL, TAKEN = "assigned", "agent full", "taken"
CLAIM_ATTEMPTS = 3


async def _claim(tx: UnitOfWork, channels: ChannelBook, conversation: Row, agent_id: int,
                 reason: str, *, offered: bool, why: Mapping[str, Any] | None = None) -> str:
    """Assign under the agent's lock. AGENT_FULL: the agent went away or filled up a moment
    ago (decide again); TAKEN: another process assigned the conversation first.

    A transaction claims at most one agent and one conversation, agent first: PostgreSQL
    keeps a row lock even on a row an UPDATE then found changed, so trying a second agent in
    the same transaction could wait on a process that waits on us."""
    agent = await tx.users.lock(agent_id)
    if agent is None or agent["presence"] != "online":
        return AGENT_FULL
    loads = await tx.conversations.open_loads([agent_id])
    state = agent_state(agent, loads.get(agent_id, {}), channels)
    if not state.has_room(channels.capacity_kind(conversation["channel"])):
        return AGENT_FULL
    now = utcnow()
    if not await tx.conversations.claim(conversation["id"], agent_id, now, offered=offered):
        return TAKEN
    await tx.users.update(agent_id, last_assigned_at=now)
    data: dict[str, Any] = {"agent_id": agent_id, "reason": reason}
    if why:
        data["why"] = dict(why)   # the reason's facts (routing.assignment.AssignDecision)
    await tx.events.add(conversation["id"], EventType.ASSIGNED, data, at=now)
    return ASSIGNED


def _assignable(ctx: InboxContext, conversation: Row | None) -> bool:
    """Waiting, unassigned, in a queue that pushes work to agents."""
    if conversation is None or conversation["status"] != "waiting" \
            or conversation["assignee_id"] is not None:
        return False
    policy = policies(ctx).get(conversation["queue"])
    return policy is not None and policy.strategy != "manual"


async def assign_waiting(ctx: InboxContext, conversation_id: int, *,
                         exclude: Iterable[int] = ()) -> int | None:
    """Push a waiting conversation to the best online agent of its queue (not for manual
    queues). Returns the agent's id, or None when it stays waiting."""
    excluded = set(exclude)
    async with ctx.store.read() as tx:
        # Most of the time nobody can take it (manual queue, nobody online with room): find
        # that out without taking the write lock.
        conversation = await tx.conversations.get(conversation_id)
        if not _assignable(ctx, conversation):
            return None
        if choose_agent(waiting_view(conversation, ctx.channels),
                        policies(ctx)[conversation["queue"]],
                        await _agents(tx, ctx.channels, excluded)) is None:
            return None
    for _attempt in range(CLAIM_ATTEMPTS):
        async with ctx.store.transaction() as tx:
            conversation = await tx.conversations.get(conversation_id)
            if not _assignable(ctx, conversation):
                return None
            preferred = await tx.conversations.previous_assignee(conversation["contact_id"],
                                                                conversation_id)
            decision = choose_agent(waiting_view(conversation, ctx.channels, preferred),
                                    policies(ctx)[conversation["queue"]],
                                    await _agents(tx, ctx.channels, excluded))
            if decision is None:
                return None
            outcome = await _claim(tx, ctx.channels, conversation, decision.agent_id,
                                   decision.reason, offered=True, why=decision.why)
        if outcome == TAKEN:
            return None
        if outcome == ASSIGNED:
            log.info("conversation %s assigned to agent %s", conversation_id, decision.agent_id)
            await lifecycle.announce(ctx, conversation_id)
            return decision.agent_id
        # AGENT_FULL: loads changed under us; decide again on fresh state.
    return None


async def assign_many(ctx: InboxContext, conversation_ids: Iterable[int]) -> list[int]:
    """`assign_waiting` for a batch of new conversations. One read finds the online agents
    and their loads; only a conversation some agent could take (counting what this batch
    gives them) is assigned, under the locks, by `assign_waiting`. In a storm every agent is
    soon full, and the rest of the batch costs nothing more. Returns those assigned."""
    ids = sorted(conversation_ids)
    queue_policies = policies(ctx)
    async with ctx.store.read() as tx:
        agents = await _agents(tx, ctx.channels)
        if not agents:
            return []
        rows = [row for row in await tx.conversations.with_contacts(ids)
                if _assignable(ctx, row)]
    loads = {agent.id: dict(agent.load) for agent in agents}
    assigned = []
    for row in rows:
        view = waiting_view(row, ctx.channels)
        current = [replace(agent, load=loads[agent.id]) for agent in agents]
        if choose_agent(view, queue_policies[row["queue"]], current) is None:
            continue
        agent_id = await assign_waiting(ctx, row["id"])
        if agent_id is not None:
            assigned.append(row["id"])
            if agent_id in loads:
                loads[agent_id][view.kind] = loads[agent_id].get(view.kind, 0) + 1
    return assigned


async def fill_agent(ctx: InboxContext, agent_id: int, *, pulled: bool = False,
                     limit: int | None = None) -> list[int]:
    """Give an agent the next waiting conversations they can take, until their capacity is
    full (or `limit` is reached). `pulled`: the agent asked (manual queues count)."""
    taken: list[int] = []
    queue_policies = policies(ctx)
    while limit is None or len(taken) < limit:
        async with ctx.store.transaction() as tx:
            agent = await tx.users.lock(agent_id)
            if agent is None or (agent["presence"] != "online" and not pulled):
                break
            loads = await tx.conversations.open_loads([agent_id])
            # Asking for work is being available for it, whatever the presence switch says.
            state = agent_state({**agent, "presence": "online"}, loads.get(agent_id, {}),
                                ctx.channels)
            rows = await tx.conversations.waiting_in(sorted(state.queues))
            waiting = [waiting_view(r, ctx.channels) for r in rows]
            candidate = next_for_agent(state, waiting, queue_policies, pulled=pulled)
            if candidate is None:
                break
            conversation = next(r for r in rows if r["id"] == candidate.id)
            now = utcnow()
            if not await tx.conversations.claim(candidate.id, agent_id, now, offered=not pulled):
                continue   # taken by someone else a moment ago: look again
            await tx.users.update(agent_id, last_assigned_at=now)
            reason = "took it from the queue" if pulled else "had room for the next in line"
            await tx.events.add(candidate.id, EventType.ASSIGNED,
                                {"agent_id": agent_id, "reason": reason},
                                actor_id=agent_id if pulled else None, at=now)
            taken.append(conversation["id"])
    await lifecycle.announce_each(ctx, taken)
    return taken


async def hand_back(ctx: InboxContext, agent_id: int, presence: str) -> list[int]:
    """Return an agent's unanswered conversations to their queues (the agent left), then
    offer each to someone else."""
    return await _return_to_queues(
        ctx, agent_id, f"agent went {presence}", ("open",),
        lambda assigned: handback(presence, [AssignedConversation(
            c["id"], c["first_response_at"] is not None) for c in assigned]))


async def release_departed(ctx: InboxContext, agent_id: int) -> list[int]:
    """A deactivated agent will not be back: every conversation still theirs, answered or not
    and parked as pending too, returns to its queue and is offered to someone else."""
    return await _return_to_queues(ctx, agent_id, "agent deactivated", ("open", "pending"),
                                   lambda assigned: [c["id"] for c in assigned])


async def release_outside_queues(ctx: InboxContext, agent_id: int,
                                 queues: Iterable[str]) -> list[int]:
    """An agent taken off queues could no longer open what they hold there: every such
    conversation, answered or not and parked as pending too, returns to its queue and is
    offered to someone who works it."""
    kept = frozenset(queues)
    return await _return_to_queues(
        ctx, agent_id, "agent left the queue", ("open", "pending"),
        lambda assigned: [c["id"] for c in assigned if c["queue"] not in kept])


async def _return_to_queues(ctx: InboxContext, agent_id: int, reason: str,
                            statuses: tuple[str, ...],
                            choose: Callable[[list[Row]], Iterable[int]]) -> list[int]:
    now = utcnow()
    async with ctx.store.transaction() as tx:
        await tx.users.lock(agent_id)
        returned = list(choose(await tx.conversations.assigned_to(agent_id, statuses)))
        for conversation_id in returned:
            await tx.conversations.update(conversation_id, assignee_id=None, assigned_at=None,
                                         offered_at=None, opened_at=None, status="waiting")
            await tx.events.add(conversation_id, EventType.UNASSIGNED,
                                {"agent_id": agent_id, "reason": reason}, at=now)
    await lifecycle.announce_each(ctx, returned)
    for conversation_id in returned:
        await assign_waiting(ctx, conversation_id, exclude={agent_id})
    return returned


async def release_on_message(tx: UnitOfWork, conversation: Row, at: datetime) -> int | None:
    """The resident wrote into a conversation whose agent is away or offline: it goes back to
    its queue, in the transaction that stores the message, to be offered to someone present
    (`assign_waiting` after commit; the backlog sweep if that never runs). Returns the agent
    it was taken from, or None when it stays. No agent lock is needed: this only lowers the
    agent's load."""
    agent_id, presence = conversation["assignee_id"], conversation["assignee_presence"]
    if agent_id is None or not returns_on_message(presence):
        return None
    await tx.conversations.update(conversation["id"], assignee_id=None, assigned_at=None,
                                 offered_at=None, opened_at=None, status="waiting")
    await tx.events.add(conversation["id"], EventType.UNASSIGNED,
                        {"agent_id": agent_id,
                        "reason": f"the resident wrote while the agent was {presence}"}, at=at)
    return agent_id


async def reoffer_expired(ctx: InboxContext) -> list[int]:
    """Offers the agent neither opened nor answered within the queue's offer timeout go to
    the next agent (the first agent stays on it when nobody else can take it)."""
    now = utcnow()
    timeouts = {q.id: q.offer_timeout_s for q in ctx.config.queues}
    async with ctx.store.read() as tx:
        offers = await tx.conversations.pending_offers()
    moved = []
    for offer in offers:
        timeout = timeouts.get(offer["queue"])
        if timeout is None or (now - offer["offered_at"]).total_seconds() < timeout:
            continue
        if await _reoffer(ctx, offer["id"], offer["assignee_id"], timeout):
            moved.append(offer["id"])
    return moved


async def _reoffer(ctx: InboxContext, conversation_id: int, previous: int, timeout: int) -> bool:
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(conversation_id)
        if conversation["offered_at"] is None or conversation["assignee_id"] != previous:
            return False   # opened or answered meanwhile
        policy = policies(ctx)[conversation["queue"]]
        agents = await _agents(tx, ctx.channels, exclude={previous})
        preferred = await tx.conversations.previous_assignee(conversation["contact_id"],
                                                                conversation_id)
        decision = choose_agent(waiting_view(conversation, ctx.channels, preferred), policy,
                                agents) if policy.strategy != "manual" else None
        if decision is None:
            await tx.conversations.update(conversation_id, offered_at=None)
            await tx.events.add(conversation_id, EventType.OFFER_EXPIRED,
                                {"agent_id": previous, "reason": "nobody else can take it"})
            return False
        now = utcnow()
        await tx.users.lock(decision.agent_id)   # agent before conversation, as everywhere
        await tx.conversations.update(conversation_id, assignee_id=None, status="waiting",
                                     offered_at=None)
        if await _claim(tx, ctx.channels, conversation, decision.agent_id,
                        f"reassigned: agent {previous} did not open it within "
                        f"{timeout} s; {decision.reason}", offered=True,
                        why={**decision.why, "offer_expired": {"agent_id": previous,
                                                               "timeout_s": timeout}}
                        ) != ASSIGNED:
            await tx.conversations.update(conversation_id, assignee_id=previous, status="open",
                                         offered_at=now)
            return False
        await tx.events.add(conversation_id, EventType.REASSIGNED,
                            {"from": previous, "to": decision.agent_id}, at=now)
    await lifecycle.announce(ctx, conversation_id)
    return True


async def set_presence(ctx: InboxContext, agent_id: int, presence: str,
                       reason: str | None = None) -> None:
    """Online, away (with one of config's away reasons, or none) or offline. A change ends
    the agent's current presence period and begins the next, which reports add up."""
    if presence not in PRESENCES:
        raise ValueError(f"presence must be one of {', '.join(PRESENCES)}")
    if reason is not None and (presence != "away" or all(
            r.id != reason for r in ctx.config.away_reasons)):
        raise ValueError(f"{reason!r} is not a reason to be {presence}"
                         if presence != "away" else f"unknown away reason {reason!r}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        user = await tx.users.lock(agent_id)
        previous = user["presence"]
        changed = (previous, user["presence_reason"]) != (presence, reason)
        if changed:
            await tx.users.update(agent_id, presence=presence, presence_reason=reason,
                                  presence_since=now)
            await tx.users.begin_presence(agent_id, presence, reason, now)
    if changed:
        log.info("agent %s is now %s%s", agent_id, presence, f" ({reason})" if reason else "")
        await publish_console_event(ctx.redis, "agent.updated",
                                    {"agent_id": agent_id, "presence": presence,
                                     "reason": reason})
    if presence == "online":
        await fill_agent(ctx, agent_id)
    elif previous == "online":
        await hand_back(ctx, agent_id, presence)


async def assign_backlog(ctx: InboxContext) -> list[int]:
    """Catch-up for triggers that were missed (a crash, a restart): every online agent with
    room takes what is waiting in their push queues."""
    async with ctx.store.read() as tx:
        agents = [u["id"] for u in await tx.users.online_agents()]
    taken: list[int] = []
    for agent_id in agents:
        taken += await fill_agent(ctx, agent_id)
    return taken
