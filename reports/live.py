"""The supervisors' wall-board: the state of every queue and agent right now, and today's
figures (today = the current day in the deployment's time zone).

Definitions: waiting = status waiting; in progress = status open; busy = an online agent with
at least one open conversation; at risk = live conversations whose SLA clock is at risk;
breached today = conversations with an `sla_breached` event today; handled today = the
conversations that are resolved now and whose latest `resolved` event was that agent's, today
(one resolved and then reopened counts only once resolved again, for whoever resolved it
last); first-response p50/p90 = over conversations created today (reports.queries.summary);
an agent's time today in each presence state, and away per reason = reports.presence.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from inbox.channel_traits import ChannelBook
from inbox.events import EventType
from inbox.storage.schema import conversations, events, users
from reports.presence import periods_between, seconds_in_states, state_totals
from reports.queries import summary
from routing.assignment import DEFAULT_CAPACITY
from routing.sla import BusinessCalendar
from settings import Config


def today_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return start, start + timedelta(days=1)


def _resolved_again_after(resolved: Any) -> Any:
    """Whether the conversation of the `resolved` event row has a later `resolved` event
    (events of the same instant are ordered by id)."""
    later = aliased(events)
    return exists().where(
        later.c.conversation_id == resolved.c.conversation_id, later.c.type == EventType.RESOLVED,
        or_(later.c.created_at > resolved.c.created_at,
            and_(later.c.created_at == resolved.c.created_at, later.c.id > resolved.c.id)))


async def wallboard(engine: AsyncEngine, config: Config, calendar: BusinessCalendar,
                    now: datetime, channels: ChannelBook) -> dict[str, Any]:
    zone = ZoneInfo(config.timezone)
    start, end = today_bounds(now, zone)
    c, e = conversations, events
    async with engine.connect() as conn:
        by_status = {(r.queue, r.status): (r.count, r.oldest) for r in await conn.execute(
            select(c.c.queue, c.c.status, func.count().label("count"),
                   func.min(c.c.created_at).label("oldest"))
            .where(c.c.status.in_(("waiting", "open"))).group_by(c.c.queue, c.c.status))}
        at_risk = dict((await conn.execute(
            select(c.c.queue, func.count()).where(c.c.status != "resolved",
                                                  c.c.sla_state == "at_risk")
            .group_by(c.c.queue))).all())
        breached = dict((await conn.execute(
            select(c.c.queue, func.count(func.distinct(c.c.id)))
            .join(e, e.c.conversation_id == c.c.id)
            .where(e.c.type == EventType.SLA_BREACHED, e.c.created_at >= start,
                   e.c.created_at < end)
            .group_by(c.c.queue))).all())
        loads: dict[int, dict[str, int]] = {}
        for agent_id, channel, count in await conn.execute(
                select(c.c.assignee_id, c.c.channel, func.count())
                .where(c.c.status == "open", c.c.assignee_id.is_not(None))
                .group_by(c.c.assignee_id, c.c.channel)):
            kind = channels.capacity_kind(channel)
            loads.setdefault(agent_id, {}).setdefault(kind, 0)
            loads[agent_id][kind] += count
        handled = dict((await conn.execute(
            select(e.c.actor_id, func.count(func.distinct(e.c.conversation_id)))
            .join(c, c.c.id == e.c.conversation_id)
            .where(e.c.type == EventType.RESOLVED, e.c.actor_id.is_not(None),
                   e.c.created_at >= start, e.c.created_at < end,
                   c.c.status == "resolved", ~_resolved_again_after(e))
            .group_by(e.c.actor_id))).all())
        staff = (await conn.execute(select(users).where(users.c.active.is_(True),
                                                        users.c.role == "agent"))).all()
    today = seconds_in_states(await periods_between(engine, start, end), start, end, now)
    response = {row["key"]: row for row in await summary(
        engine, start=start, end=end, group_by="queue", calendar=calendar)}
    agents = []
    for user in staff:
        load = loads.get(user.id, {})
        capacity = {**DEFAULT_CAPACITY, **(user.capacity or {})}
        agents.append({
            "id": user.id, "name": user.name, "presence": user.presence,
            "presence_reason": user.presence_reason,
            "presence_since": user.presence_since.astimezone(zone).isoformat()
            if user.presence_since else None,
            "today": state_totals(today.get(user.id, {})),
            "queues": list(user.queues or []),
            "load": sum(load.values()), "load_by_kind": load,
            "capacity": capacity,
            # More open work of some kind than the agent's capacity for it (transfers and
            # supervisors' assignments may go past it): a supervisor's cue to re-assign.
            "over_capacity": [kind for kind, count in sorted(load.items())
                              if count > capacity.get(kind, 0)],
            "handled_today": handled.get(user.id, 0),
        })
    queues = []
    for queue in config.queues:
        members = [a for a in agents if queue.id in a["queues"]]
        waiting, oldest = by_status.get((queue.id, "waiting"), (0, None))
        figures = response.get(queue.id, {})
        queues.append({
            "id": queue.id, "name": queue.name, "names": dict(queue.names), "kind": queue.kind,
            "waiting": waiting,
            "longest_wait_s": int((now - oldest).total_seconds()) if oldest else 0,
            "agents_online": sum(a["presence"] == "online" for a in members),
            "agents_busy": sum(a["presence"] == "online" and a["load"] > 0 for a in members),
            "agents_away": sum(a["presence"] == "away" for a in members),
            "in_progress": by_status.get((queue.id, "open"), (0, None))[0],
            "at_risk": at_risk.get(queue.id, 0),
            "breached_today": breached.get(queue.id, 0),
            "first_response_p50_s": figures.get("first_response_p50_s"),
            "first_response_p90_s": figures.get("first_response_p90_s"),
        })
    return {"generated_at": now.astimezone(zone).isoformat(), "queues": queues,
            "agents": agents}
