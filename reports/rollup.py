"""Keeping `conversation_facts` current: (re)computing conversations' facts from their events.

Why one row of facts per conversation rather than a daily rollup of counts and histogram
buckets per (day, queue, channel, category, agent):

- Percentiles stay exact. A month is ~35,000 conversations at the target scale (200,000 in
  six months); PostgreSQL sorts that many integers in milliseconds, so histogram buckets
  would buy no speed and cost an error of up to a bucket's width.
- A rollup hardly compresses: 31 days x 6 channels x ~8 queues x 3 categories x ~40 agents
  allows more rows than a month has conversations.
- Refreshing is idempotent and local. A conversation's facts depend on its own events
  only, so after any change a job recomputes that one row; a rollup would have to subtract
  the conversation's old contribution from a day bucket that may be months old (a late
  resolution or reopening), or rebuild whole days.
- Any period, not just whole days: facts carry `created_at`, so "from 14:00 to 18:00" is
  answered exactly, and Asia/Baku days, weeks and months come from the `day` column.

Writes are upserts that never replace facts computed from newer events with older ones
(`last_event_id` only moves forward), so concurrent refreshes of one conversation are safe
and a sweep may rebuild anything at any time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox.consumers import EventConsumer
from inbox.context import InboxContext, run_in_job_context
from inbox.storage import Row
from inbox.storage.schema import conversations, events, messages
from reports.metrics import (
    ConversationFacts,
    ConversationRecord,
    EventRecord,
    as_utc,
    conversation_facts,
)
from reports.schema import conversation_facts as facts_table
from routing.sla import BusinessCalendar

SWEEP_JOB = "reports.rollup.sweep_job"

# Conversations per transaction: big enough to amortise round trips, small enough to keep
# SQLite's write lock short and the IN lists well under its parameter limit.
BATCH_SIZE = 1000


def _chunks(ids: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for offset in range(0, len(ids), size):
        yield ids[offset:offset + size]


async def _compute(conn: AsyncConnection, ids: Sequence[int],
                   calendar: BusinessCalendar) -> list[ConversationFacts]:
    conversation_rows = (await conn.execute(
        select(conversations.c.id, conversations.c.channel, conversations.c.created_at,
               conversations.c.queue, conversations.c.category)
        .where(conversations.c.id.in_(ids)))).all()
    timelines: dict[int, list[EventRecord]] = {}
    for row in await conn.execute(
            select(events.c.id, events.c.conversation_id, events.c.type, events.c.created_at,
                   events.c.data, events.c.actor_id)
            .where(events.c.conversation_id.in_(ids))):
        timelines.setdefault(row.conversation_id, []).append(
            EventRecord(row.id, row.type, row.created_at, row.data or {}, row.actor_id))
    counts: dict[tuple[int, str], int] = {
        (row.conversation_id, row.direction): row.n
        for row in await conn.execute(
            select(messages.c.conversation_id, messages.c.direction,
                   func.count().label("n"))
            .where(messages.c.conversation_id.in_(ids),
                   messages.c.direction.in_(("in", "out")))
            .group_by(messages.c.conversation_id, messages.c.direction))
    }
    return [
        conversation_facts(
            ConversationRecord(row.id, row.channel, row.created_at, row.queue, row.category),
            timelines.get(row.id, ()), calendar=calendar,
            messages_in=counts.get((row.id, "in"), 0),
            messages_out=counts.get((row.id, "out"), 0))
        for row in conversation_rows
    ]


def _upsert(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(facts_table)
    replaced = {c.name: statement.excluded[c.name]
                for c in facts_table.columns if c.name != "conversation_id"}
    current = facts_table.c.last_event_id
    # Equal ids rewrite too, so a rebuild after a change of definition or calendar applies.
    return statement.on_conflict_do_update(
        index_elements=[facts_table.c.conversation_id], set_=replaced,
        where=current.is_(None) | (statement.excluded.last_event_id >= current))


async def _store(conn: AsyncConnection, facts: Sequence[ConversationFacts],
                 refreshed_at: datetime) -> None:
    if not facts:
        return
    rows = [{**vars(fact), "refreshed_at": refreshed_at} for fact in facts]
    # executemany: SQLAlchemy batches the rows under each driver's parameter limit.
    await conn.execute(_upsert(conn.dialect.name), rows)


async def _ids_active_since(engine: AsyncEngine, since: datetime) -> list[int]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(events.c.conversation_id).distinct()
            .where(events.c.created_at >= as_utc(since)).order_by(events.c.conversation_id))
        return [row[0] for row in result]


async def refresh_facts(engine: AsyncEngine, conversation_ids: Iterable[int] | None = None, *,
                        since: datetime | None = None,
                        calendar: BusinessCalendar | None = None,
                        batch_size: int = BATCH_SIZE) -> int:
    """(Re)compute the facts of the given conversations, or of every conversation with an
    event at or after `since`. Idempotent. Returns how many conversations were computed.

    `calendar` decides business seconds and report days; pass the deployment's
    (`InboxContext.calendar`); the default is Asia/Baku office hours with AZ holidays.
    """
    if (conversation_ids is None) == (since is None):
        raise ValueError("pass either conversation_ids or since")
    calendar = calendar or BusinessCalendar()
    if conversation_ids is not None:
        ids = sorted(set(conversation_ids))
    else:
        ids = await _ids_active_since(engine, since)
    refreshed_at = datetime.now(UTC)
    done = 0
    for chunk in _chunks(ids, batch_size):
        async with engine.connect() as conn:
            # Take SQLite's write lock at BEGIN (see inbox.storage.db): the batch reads, then
            # writes.
            conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                facts = await _compute(conn, chunk, calendar)
                await _store(conn, facts, refreshed_at)
        done += len(facts)
    return done


async def missing_facts(engine: AsyncEngine, start: datetime, end: datetime) -> list[int]:
    """Conversations created in [start, end) that have no facts yet."""
    c, f = conversations, facts_table
    start, end = as_utc(start), as_utc(end)
    async with engine.connect() as conn:
        result = await conn.execute(
            select(c.c.id)
            .where(c.c.created_at >= start, c.c.created_at < end,
                   # Facts copy created_at: bounding them too lets PostgreSQL hash just the
                   # interval's facts (through their index) instead of all of them.
                   ~select(f.c.conversation_id)
                   .where(f.c.conversation_id == c.c.id, f.c.created_at >= start,
                          f.c.created_at < end).exists())
            .order_by(c.c.id))
        return [row[0] for row in result]


# --- rq jobs (ids in, fresh state loaded inside; see inbox.jobs for enqueueing by name) ------

def sweep_job(lookback_s: int = 2 * 3600) -> int:
    """Periodic repair: refresh every conversation with an event in the last `lookback_s`
    (covers anything the facts consumer missed or failed on)."""
    since = datetime.now(UTC) - timedelta(seconds=lookback_s)
    return run_in_job_context(lambda ctx: refresh_facts(ctx.store.engine, since=since,
                                                        calendar=ctx.calendar))


# --- keeping facts fresh: a consumer of the event log -------------------------------------


async def _refresh_conversations_of(ctx: InboxContext, batch: Sequence[Row]) -> None:
    await refresh_facts(ctx.store.engine, {event["conversation_id"] for event in batch},
                        calendar=ctx.calendar)


# Refreshes the facts of every conversation with an event newer than the last run's. Reading
# new events by primary key stays cheap however long the history, so this runs every few
# seconds and reports lag state by about that much; a lost watermark only means one full
# rebuild, since a refresh is idempotent. (Its name keeps the watermark it has always had.)
FACTS_CONSUMER = EventConsumer("facts", _refresh_conversations_of)
