"""Report queries over `conversation_facts`: summaries, volumes, ministry totals, CSV.

Read-only SQL of the reports' own. A report over [start, end) covers the conversations
created in that interval (see `reports.metrics` for every definition). PostgreSQL
aggregates in the database (`percentile_cont`); SQLite, the embedded pilot database, has
no percentile function, so there the facts rows are summarised by the same pure functions
in `reports.metrics`, which use the same arithmetic: both give identical figures.

Passing `calendar` makes a report first compute the facts of conversations in its range
that have none yet (the refresh job has not reached them), so a report never leaves out a
new conversation; facts that exist are as fresh as their last refresh.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.storage.schema import conversations
from reports.metrics import (
    PERIODS,
    TAG,
    ConversationFacts,
    DailyVolume,
    Period,
    as_utc,
    finish_row,
    fold_volumes,
    group_column,
    order_rows,
    summarize,
    summarize_by_tag,
)
from reports.rollup import missing_facts, refresh_facts
from reports.schema import conversation_facts as facts
from routing.sla import BusinessCalendar

_FACT_FIELDS = tuple(f.name for f in fields(ConversationFacts))
_PERCENTILES = (
    ("first_response_p50_s", "first_response_s", 0.5),
    ("first_response_p90_s", "first_response_s", 0.9),
    ("first_response_business_p50_s", "first_response_business_s", 0.5),
    ("first_response_business_p90_s", "first_response_business_s", 0.9),
    ("wait_p50_s", "wait_s", 0.5),
    ("handle_p50_s", "handle_s", 0.5),
    ("resolution_p50_s", "resolution_s", 0.5),
    ("resolution_p90_s", "resolution_s", 0.9),
)


def _interval(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    if not start < end:
        raise ValueError(f"start {start.isoformat()} must be before end {end.isoformat()}")
    return as_utc(start), as_utc(end)


def _in_interval(start: datetime, end: datetime):
    return (facts.c.created_at >= start) & (facts.c.created_at < end)


async def _fill_gaps(engine: AsyncEngine, start: datetime, end: datetime,
                     calendar: BusinessCalendar | None) -> None:
    if calendar is None:
        return
    missing = await missing_facts(engine, start, end)
    if missing:
        await refresh_facts(engine, missing, calendar=calendar)


async def summary(engine: AsyncEngine, *, start: datetime, end: datetime, group_by: str,
                  calendar: BusinessCalendar | None = None) -> list[dict[str, Any]]:
    """Per channel, queue, agent, category or tag: conversations created in [start, end), their
    response and resolution percentiles, resolutions, reopenings and SLA breaches.

    Rows: key, conversations, answered, first_response_p50_s, first_response_p90_s,
    first_response_business_p50_s, first_response_business_p90_s, wait_p50_s, handle_p50_s,
    resolution_p50_s, resolution_p90_s, resolved, reopened, sla_breached, reopen_rate,
    sla_breach_rate; busiest first. ValueError for an unknown group_by or a bad interval.
    """
    if group_by == TAG:
        return await _summary_by_tag(engine, start, end, calendar)
    column = facts.c[group_column(group_by)]
    start, end = _interval(start, end)
    await _fill_gaps(engine, start, end, calendar)
    async with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            result = await conn.execute(
                select(*(facts.c[name] for name in _FACT_FIELDS))
                .where(_in_interval(start, end)))
            return summarize((ConversationFacts(**row._mapping) for row in result), group_by)
        count_if = func.count().filter
        result = await conn.execute(
            select(
                column.label("key"),
                func.count().label("conversations"),
                func.count(facts.c.first_response_s).label("answered"),
                *(func.percentile_cont(q).within_group(facts.c[source]).label(name)
                  for name, source, q in _PERCENTILES),
                count_if(facts.c.resolved).label("resolved"),
                count_if(facts.c.reopened).label("reopened"),
                count_if(or_(facts.c.resolved, facts.c.reopened)).label("ever_resolved"),
                count_if(facts.c.breached).label("sla_breached"),
            )
            .where(_in_interval(start, end))
            .group_by(column))
        rows = []
        for row in result:
            values = dict(row._mapping)
            for name, _source, _q in _PERCENTILES:
                if values[name] is not None:
                    values[name] = round(values[name], 2)
            rows.append(finish_row(values))
    return order_rows(rows)


async def _summary_by_tag(engine: AsyncEngine, start: datetime, end: datetime,
                          calendar: BusinessCalendar | None) -> list[dict[str, Any]]:
    """Summary rows per tag the conversations carry now (one conversation under each of its
    tags), summarised in Python on both databases: tags are a list on the conversation."""
    start, end = _interval(start, end)
    await _fill_gaps(engine, start, end, calendar)
    async with engine.connect() as conn:
        result = await conn.execute(
            select(*(facts.c[name] for name in _FACT_FIELDS), conversations.c.tags)
            .join(conversations, conversations.c.id == facts.c.conversation_id)
            .where(_in_interval(start, end)))
        rows = [(ConversationFacts(**{name: row._mapping[name] for name in _FACT_FIELDS}),
                 row.tags or ()) for row in result]
    return summarize_by_tag(rows)


async def _daily(engine: AsyncEngine, start: datetime, end: datetime,
                 column_name: str | None) -> list[DailyVolume]:
    key = facts.c[column_name] if column_name else None
    resolved = func.sum(case((facts.c.resolved, 1), else_=0))
    grouping = [facts.c.day] + ([key] if key is not None else [])
    async with engine.connect() as conn:
        result = await conn.execute(
            select(*grouping, func.count().label("conversations"),
                   func.sum(facts.c.messages_in).label("messages_in"),
                   func.sum(facts.c.messages_out).label("messages_out"),
                   resolved.label("resolved"))
            .where(_in_interval(start, end))
            .group_by(*grouping))
        return [DailyVolume(day=row.day, key=row[1] if key is not None else None,
                            conversations=row.conversations, messages_in=int(row.messages_in),
                            messages_out=int(row.messages_out), resolved=int(row.resolved))
                for row in result]


async def volumes(engine: AsyncEngine, *, start: datetime, end: datetime, period: Period,
                  group_by: str | None = None,
                  calendar: BusinessCalendar | None = None) -> list[dict[str, Any]]:
    """Conversations created per Asia/Baku day, ISO week or month in [start, end), with their
    messages in and out and how many are resolved; optionally per channel, queue, agent or
    category. Rows: period (ISO date of the period's first day), [key], conversations,
    messages_in, messages_out, resolved; oldest period first.

    A period cut by start or end counts only the part inside the interval.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    column_name = group_column(group_by) if group_by is not None else None
    start, end = _interval(start, end)
    await _fill_gaps(engine, start, end, calendar)
    daily = await _daily(engine, start, end, column_name)
    return fold_volumes(daily, period, grouped=group_by is not None)


async def totals(engine: AsyncEngine, start: datetime, end: datetime, *,
                 calendar: BusinessCalendar | None = None) -> dict[str, Any]:
    """The ministry's figures for [start, end): conversations (applications) in all, per
    channel, per category and per queue, and how many were registration requests,
    support requests and inquiries, resolved, and messages exchanged. Enough for sentences
    like "N applications, of which M through the 142 call centre (by_queue) or by phone
    (by_channel["voice"]), K of them initial-registration requests".
    """
    start, end = _interval(start, end)
    await _fill_gaps(engine, start, end, calendar)
    async with engine.connect() as conn:
        result = await conn.execute(
            select(facts.c.channel, facts.c.category, facts.c.queue,
                   func.count().label("conversations"),
                   func.sum(case((facts.c.resolved, 1), else_=0)).label("resolved"),
                   func.sum(facts.c.messages_in).label("messages_in"),
                   func.sum(facts.c.messages_out).label("messages_out"))
            .where(_in_interval(start, end))
            .group_by(facts.c.channel, facts.c.category, facts.c.queue))
        groups = result.all()
    by: dict[str, dict[str, int]] = {"channel": {}, "category": {}, "queue": {}}
    for row in groups:
        for dimension, counts in by.items():
            name = getattr(row, dimension) or "none"
            counts[name] = counts.get(name, 0) + row.conversations
    by_category = by["category"]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "conversations": sum(row.conversations for row in groups),
        "registration_requests": by_category.get("registration", 0),
        "support_requests": by_category.get("support", 0),
        "inquiries": by_category.get("inquiry", 0),
        "resolved": sum(int(row.resolved) for row in groups),
        "messages_in": sum(int(row.messages_in) for row in groups),
        "messages_out": sum(int(row.messages_out) for row in groups),
        "by_channel": dict(sorted(by["channel"].items())),
        "by_category": dict(sorted(by_category.items())),
        "by_queue": dict(sorted(by["queue"].items())),
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as RFC 4180 CSV: a header of the first row's keys (then any new ones in order of
    appearance), empty cells for None."""
    rows = list(rows)
    header: list[str] = []
    for row in rows:
        header.extend(name for name in row if name not in header)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _cell(value) for name, value in row.items()})
    return out.getvalue()
