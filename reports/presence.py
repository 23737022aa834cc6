"""Agents' time in each presence state (online; away, per reason; offline), from their
presence periods: what the wall-board shows for today and the presence report for any range.

A period counts for the part of it inside the range; one still open (the agent's current
state) runs until `now`. Time before an agent's first recorded change is unknown and counts
nowhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.storage.schema import presence_periods, users
from reports.metrics import as_utc

STATES = ("online", "away", "offline")


@dataclass(frozen=True)
class Period:
    user_id: int
    presence: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


def seconds_in_states(periods: Iterable[Period], start: datetime, end: datetime,
                      now: datetime) -> dict[int, dict[tuple[str, str | None], int]]:
    """Per agent, whole seconds in each (presence, reason) within [start, end)."""
    totals: dict[int, dict[tuple[str, str | None], float]] = {}
    for period in periods:
        until = min(period.ended_at or now, end, now)
        since = max(period.started_at, start)
        if until <= since:
            continue
        states = totals.setdefault(period.user_id, {})
        key = (period.presence, period.reason)
        states[key] = states.get(key, 0.0) + (until - since).total_seconds()
    return {user: {key: int(value) for key, value in states.items()}
            for user, states in totals.items()}


def state_totals(states: Mapping[tuple[str, str | None], int]) -> dict[str, Any]:
    """One agent's seconds per state, and the away time per reason ("" for none given)."""
    away: dict[str, int] = {}
    for (presence, reason), value in states.items():
        if presence == "away":
            away[reason or ""] = away.get(reason or "", 0) + value
    return {"seconds": {state: sum(v for (p, _), v in states.items() if p == state)
                        for state in STATES},
            "away_by_reason": away}


async def periods_between(engine: AsyncEngine, start: datetime, end: datetime) -> list[Period]:
    """The presence periods that overlap [start, end)."""
    p = presence_periods
    async with engine.connect() as conn:
        result = await conn.execute(
            select(p.c.user_id, p.c.presence, p.c.reason, p.c.started_at, p.c.ended_at)
            .where(p.c.started_at < end, or_(p.c.ended_at.is_(None), p.c.ended_at > start)))
        return [Period(**row._mapping) for row in result]


async def presence_report(engine: AsyncEngine, *, start: datetime, end: datetime,
                          now: datetime) -> list[dict[str, Any]]:
    """Rows of agent, presence, reason and seconds in [start, end), by agent name then
    state; agents with no recorded time there are left out."""
    start, end, now = as_utc(start), as_utc(end), as_utc(now)
    if not start < end:
        raise ValueError(f"start {start.isoformat()} must be before end {end.isoformat()}")
    totals = seconds_in_states(await periods_between(engine, start, end), start, end, now)
    async with engine.connect() as conn:
        names = dict((await conn.execute(
            select(users.c.id, users.c.name).where(users.c.id.in_(list(totals))))).all())
    rows = [{"agent_id": user, "agent": names.get(user), "presence": presence,
             "reason": reason, "seconds": seconds}
            for user, states in totals.items() for (presence, reason), seconds in states.items()]
    return sorted(rows, key=lambda r: (str(r["agent"]), r["agent_id"],
                                       STATES.index(r["presence"]), r["reason"] or ""))
