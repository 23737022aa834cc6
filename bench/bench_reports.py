"""Report latency at the target scale: 200,000 conversations, 1,000,000 messages on PostgreSQL.

Run from the repository root:
`python -m bench.bench_reports [--conversations N] [--runs R] [--url postgresql://...]`.

Creates a fresh database on the server at --url (default: the local one as postgres),
generates six months of history server-side (INSERT ... SELECT generate_series: a mix of
channels, categories, queues, 40 agents, first responses, resolutions, reopenings and SLA
breaches, with the messages and events the inbox would have written), builds
`conversation_facts` with `reports.rollup.refresh_facts`, then times every report for one
month and, as a baseline in the same run, the same summary computed from the raw events
with no facts table. Prints figures only; the database is dropped at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inbox.storage.db import async_url, make_engine, migrate
from reports.queries import summary, totals, volumes
from reports.rollup import refresh_facts
from routing.sla import BusinessCalendar

DEFAULT_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BAKU = ZoneInfo("Asia/Baku")
HISTORY_START = datetime(2025, 10, 1, tzinfo=BAKU)      # six months: October .. March
MONTH = (datetime(2026, 3, 1, tzinfo=BAKU), datetime(2026, 4, 1, tzinfo=BAKU))
GROUPS = ("channel", "queue", "agent", "category")
CALENDAR = BusinessCalendar()

# One row of random choices per conversation; everything else is derived from it, so the
# messages and events agree with each other the way the inbox would have written them.
PLAN = """
CREATE UNLOGGED TABLE plan AS
WITH draws AS (
    SELECT i AS id, random() AS r_channel, random() AS r_category, random() AS r_queue,
           random() AS r_agent, random() AS r_day, random() AS r_hour, random() AS r_fr,
           random() AS r_answered, random() AS r_res, random() AS r_resolved,
           random() AS r_reopen, random() AS r_wait, random() AS r_msgs
    FROM generate_series(1, :n) AS i
), chosen AS (
    SELECT d.*,
           CASE WHEN r_channel < 0.30 THEN 'webchat' WHEN r_channel < 0.50 THEN 'whatsapp'
                WHEN r_channel < 0.65 THEN 'sms' WHEN r_channel < 0.85 THEN 'voice'
                WHEN r_channel < 0.93 THEN 'telegram' ELSE 'email' END AS channel,
           CASE WHEN r_category < 0.45 THEN 'inquiry' WHEN r_category < 0.75 THEN 'registration'
                ELSE 'support' END AS category
    FROM draws d
), placed AS (
    SELECT c.*,
           CASE WHEN channel = 'email' THEN
                    CASE WHEN r_queue < 0.5 THEN 'dost-baku-1' ELSE 'dost-baku-2' END
                WHEN r_queue < 0.06 THEN 'triage'
                WHEN category = 'registration' THEN 'migration-registration'
                WHEN category = 'support' THEN
                    CASE WHEN r_queue < 0.55 THEN 'migration-support'
                         WHEN r_queue < 0.8 THEN 'dost-baku-1' ELSE 'dost-baku-2' END
                ELSE 'call-centre-142' END AS queue,
           -- Mean first response by channel: live channels fast, e-mail slow.
           CASE channel WHEN 'voice' THEN 45 WHEN 'webchat' THEN 240 WHEN 'whatsapp' THEN 900
                        WHEN 'telegram' THEN 900 WHEN 'sms' THEN 1800 ELSE 14400 END AS fr_mean,
           CASE channel WHEN 'voice' THEN 600 WHEN 'email' THEN 172800 ELSE 14400 END AS res_mean
    FROM chosen c
)
SELECT id, channel, category, queue,
       CASE WHEN r_agent < 0.05 THEN NULL ELSE 1 + floor(r_agent * 40)::int END AS agent_id,
       -- 80% arrive in office hours (Asia/Baku, UTC+4), the rest at any hour.
       (:start)::timestamptz + floor(r_day * CAST(:days AS integer)) * interval '1 day'
           + CASE WHEN r_hour < 0.8 THEN interval '9 hours' + (r_hour / 0.8) * interval '9 hours'
                  ELSE ((r_hour - 0.8) / 0.2) * interval '24 hours' END AS created_at,
       CASE WHEN r_answered < 0.08 OR r_agent < 0.05 THEN NULL
            ELSE greatest(3, (-ln(1 - r_fr) * fr_mean)::int) END AS fr_s,
       r_wait, r_resolved, r_reopen, res_mean, r_res,
       2 + floor(r_msgs * 7)::int AS msgs
FROM placed
"""

TIMELINE = """
CREATE UNLOGGED TABLE timeline AS
SELECT p.*,
       CASE WHEN fr_s IS NULL THEN NULL
            ELSE greatest(1, (fr_s * r_wait)::int) END AS wait_s,
       CASE WHEN fr_s IS NULL OR r_resolved < 0.08 THEN NULL
            ELSE fr_s + greatest(60, (-ln(1 - r_res) * res_mean)::int) END AS res_s,
       fr_s IS NOT NULL AND r_resolved >= 0.08 AND r_reopen < 0.06 AS reopened,
       fr_s IS NULL OR fr_s > 7200 AS breached
FROM plan p
"""

INSERTS = (
    """INSERT INTO users (id, email, name, role, queues, languages, capacity, presence,
                          password_hash, active, created_at)
       SELECT i, 'agent' || i || '@example.gov.az', 'Agent ' || i, 'agent', '[]', '["az","ru"]',
              '{}', 'offline', 'x', true, (:start)::timestamptz
       FROM generate_series(1, 40) AS i""",
    """INSERT INTO contacts (id, name, language, phone, created_at, updated_at)
       SELECT id, 'Resident ' || id, 'az', '+99450' || lpad(id::text, 7, '0'), created_at,
              created_at FROM timeline""",
    """INSERT INTO contact_identities (id, contact_id, channel, address, created_at)
       SELECT id, id, channel, 'addr-' || id, created_at FROM timeline""",
    """INSERT INTO conversations (id, contact_id, identity_id, channel, status, category,
                                  category_confidence, category_source, language, queue,
                                  assignee_id, priority, created_at, routed_at, assigned_at,
                                  first_response_at, last_message_at, last_inbound_at,
                                  resolved_at)
       SELECT id, id, id, channel,
              CASE WHEN res_s IS NOT NULL THEN 'resolved' WHEN agent_id IS NULL THEN 'waiting'
                   ELSE 'open' END,
              category, 0.9, 'model', 'az', queue,
              CASE WHEN wait_s IS NOT NULL THEN agent_id END, 0, created_at,
              created_at + interval '1 second',
              created_at + wait_s * interval '1 second',
              created_at + fr_s * interval '1 second',
              created_at + coalesce(res_s, fr_s, 0) * interval '1 second', created_at,
              created_at + (res_s + CASE WHEN reopened THEN 7200 ELSE 0 END)
                           * interval '1 second'
       FROM timeline""",
    # Message 1 is the resident's; message 2 the first reply; the rest alternate, spread
    # until the resolution (or 10 minutes apart when there is none).
    """INSERT INTO messages (conversation_id, channel, direction, external_id, body, attachments,
                             author_id, author_kind, created_at, delivery_status, attempts)
       SELECT t.id, t.channel, d.direction,
              CASE WHEN d.direction = 'in' THEN 'bench-' || t.id || '-' || s END,
              'Salam, müraciətim barədə məlumat almaq istəyirəm', '[]',
              CASE WHEN d.direction = 'out' THEN t.agent_id END,
              CASE WHEN d.direction = 'in' THEN 'resident' ELSE 'agent' END,
              t.created_at + CASE
                  WHEN s = 1 THEN interval '0'
                  WHEN t.fr_s IS NULL THEN (s - 1) * interval '10 minutes'
                  WHEN s = 2 THEN t.fr_s * interval '1 second'
                  ELSE (t.fr_s + (s - 2) * greatest(1, (coalesce(t.res_s, t.fr_s + 600 * t.msgs)
                        - t.fr_s) / t.msgs)) * interval '1 second' END,
              CASE WHEN d.direction = 'in' THEN 'received' ELSE 'delivered' END, 0
       FROM timeline t, generate_series(1, t.msgs) AS s,
            LATERAL (SELECT CASE WHEN t.fr_s IS NULL OR s % 2 = 1 THEN 'in'
                                 ELSE 'out' END AS direction) AS d""",
    """INSERT INTO events (conversation_id, type, actor_id, data, created_at)
       SELECT m.conversation_id,
              CASE WHEN m.direction = 'in' THEN 'received' ELSE 'replied' END, m.author_id,
              CASE WHEN m.direction = 'in'
                   THEN json_build_object('message_id', m.id, 'channel', m.channel)
                   ELSE json_build_object('message_id', m.id, 'first_response',
                        m.created_at = t.created_at + t.fr_s * interval '1 second') END,
              m.created_at
       FROM messages m JOIN timeline t ON t.id = m.conversation_id""",
    """INSERT INTO events (conversation_id, type, data, created_at)
       SELECT id, 'classified', json_build_object('category', category, 'confidence', 0.9),
              created_at + interval '1 second' FROM timeline
       UNION ALL
       SELECT id, 'routed', json_build_object('queue', queue, 'reason', 'rule'),
              created_at + interval '1 second' FROM timeline
       UNION ALL
       SELECT id, 'assigned', json_build_object('agent_id', agent_id, 'reason', 'least busy'),
              created_at + wait_s * interval '1 second' FROM timeline WHERE wait_s IS NOT NULL
       UNION ALL
       SELECT id, 'sla_breached', json_build_object('clock', 'first_response'),
              created_at + interval '2 hours' FROM timeline WHERE breached
       UNION ALL
       SELECT id, 'resolved', json_build_object('from', 'open', 'to', 'resolved'),
              created_at + res_s * interval '1 second' FROM timeline WHERE res_s IS NOT NULL
       UNION ALL
       SELECT id, 'reopened', json_build_object('from', 'resolved', 'to', 'open'),
              created_at + (res_s + 3600) * interval '1 second' FROM timeline WHERE reopened
       UNION ALL
       SELECT id, 'resolved', json_build_object('from', 'open', 'to', 'resolved'),
              created_at + (res_s + 7200) * interval '1 second' FROM timeline WHERE reopened""",
    "SELECT setval(pg_get_serial_sequence('users', 'id'), 40)",
    "SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts))",
    "SELECT setval(pg_get_serial_sequence('contact_identities', 'id'), "
    "(SELECT max(id) FROM contact_identities))",
    "SELECT setval(pg_get_serial_sequence('conversations', 'id'), "
    "(SELECT max(id) FROM conversations))",
    "DROP TABLE plan",
    "DROP TABLE timeline",
)

# The baseline: the same summary straight from the events of the month's conversations.
# It is kinder to itself than the facts are: keys come from the conversation row (no replay
# of transfers and reassignments) and it skips business time, which SQL cannot compute.
BASELINE = """
WITH month AS (
    SELECT id, channel, queue, category, assignee_id AS agent_id, created_at
    FROM conversations WHERE created_at >= :start AND created_at < :end
), timeline AS (
    SELECT e.conversation_id,
           min(e.created_at) FILTER (WHERE e.type = 'received') AS received_at,
           min(e.created_at) FILTER (WHERE e.type = 'replied'
                                     AND (e.data ->> 'first_response')::boolean) AS answered_at,
           max(e.created_at) FILTER (WHERE e.type = 'resolved') AS resolved_at,
           max(e.created_at) FILTER (WHERE e.type = 'reopened') AS reopened_at,
           bool_or(e.type = 'sla_breached') AS breached
    FROM events e JOIN month m ON m.id = e.conversation_id
    GROUP BY e.conversation_id
), durations AS (
    SELECT m.*, floor(extract(epoch FROM t.answered_at - t.received_at)) AS first_response_s,
           CASE WHEN t.resolved_at > coalesce(t.reopened_at, '-infinity')
                THEN floor(extract(epoch FROM t.resolved_at - m.created_at)) END AS resolution_s,
           t.breached
    FROM month m JOIN timeline t ON t.conversation_id = m.id
)
SELECT {key} AS key, count(*) AS conversations,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_s) AS first_response_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response_s) AS first_response_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_s) AS resolution_p50_s,
       count(*) FILTER (WHERE breached) AS sla_breached
FROM durations GROUP BY {key}
"""


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


async def generate(engine: AsyncEngine, conversations: int, seed: float) -> None:
    days = (MONTH[1] - HISTORY_START).days
    params = {"n": conversations, "start": HISTORY_START, "days": days}
    async with engine.begin() as conn:
        await conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
        await conn.execute(text(PLAN), params)
        await conn.execute(text(TIMELINE))
        for statement in INSERTS:
            await conn.execute(text(statement), params)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE"))


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    await call()  # warm: plans, pool, caches; real dashboards repeat the same queries
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def line(name: str, times: list[float], note: str = "") -> None:
    print(f"  {name:<44} p50 {statistics.median(times):>8.1f} ms   max {max(times):>8.1f} ms"
          f"  {note}")


async def baseline(engine: AsyncEngine, group_by: str) -> list[dict[str, Any]]:
    key = {"agent": "agent_id"}.get(group_by, group_by)
    async with engine.connect() as conn:
        result = await conn.execute(text(BASELINE.format(key=key)),
                                    {"start": MONTH[0], "end": MONTH[1]})
        return [dict(row._mapping) for row in result]


async def run(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        await generate(engine, args.conversations, args.seed)
        sizes = {t: await count(engine, t) for t in ("conversations", "messages", "events")}
        print(f"generated {sizes['conversations']:,} conversations, {sizes['messages']:,} "
              f"messages, {sizes['events']:,} events in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        built = await refresh_facts(engine, since=datetime(2000, 1, 1, tzinfo=UTC),
                                    calendar=CALENDAR)
        elapsed = time.perf_counter() - started
        print(f"built facts of {built:,} conversations in {elapsed:.1f} s "
              f"({built / elapsed:,.0f} conversations/s, one full rebuild)")
        async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text("VACUUM ANALYZE conversation_facts"))

        start, end = MONTH
        in_month = sum(r["conversations"] for r in
                       await summary(engine, start=start, end=end, group_by="channel"))
        print(f"\none month ({start:%Y-%m}, {in_month:,} conversations), {args.runs} runs each:")
        for group_by in GROUPS:
            times, rows = await timed(args.runs, lambda g=group_by: summary(
                engine, start=start, end=end, group_by=g))
            line(f"summary by {group_by}", times, f"{len(rows)} rows")
        for group_by in GROUPS:
            times, _ = await timed(args.runs, lambda g=group_by: summary(
                engine, start=start, end=end, group_by=g, calendar=CALENDAR))
            line(f"summary by {group_by} + missing-facts check", times)
        for period in ("day", "week", "month"):
            times, rows = await timed(args.runs, lambda p=period: volumes(
                engine, start=start, end=end, period=p, group_by="channel"))
            line(f"volumes per {period} by channel", times, f"{len(rows)} rows")
        times, _ = await timed(args.runs, lambda: volumes(engine, start=start, end=end,
                                                          period="day"))
        line("volumes per day", times)
        times, _ = await timed(args.runs, lambda: totals(engine, start, end))
        line("ministry totals", times)
        half_year = (HISTORY_START, end)
        times, _ = await timed(args.runs, lambda: summary(
            engine, start=half_year[0], end=half_year[1], group_by="queue"))
        line("summary by queue, all six months", times)

        print(f"\nbaseline: the same summary from raw events, no facts "
              f"({args.baseline_runs} runs each):")
        for group_by in GROUPS:
            times, rows = await timed(args.baseline_runs,
                                      lambda g=group_by: baseline(engine, g))
            line(f"raw-events summary by {group_by}", times, f"{len(rows)} rows")

        facts_rows = {r["key"]: r for r in await summary(engine, start=start, end=end,
                                                         group_by="channel")}
        raw_rows = {r["key"]: r for r in await baseline(engine, "channel")}
        fields = ("conversations", "first_response_p50_s", "first_response_p90_s",
                  "resolution_p50_s", "sla_breached")
        agree = all(round(float(raw_rows[k][f] or 0), 2) == float(facts_rows[k][f] or 0)
                    for k in facts_rows for f in fields)
        print(f"\nfacts and raw events agree on the channel summary: {'yes' if agree else 'NO'}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs per report")
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed, -1..1")
    parser.add_argument("--url", default=DEFAULT_URL, help="server to create the database on")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = f"cc_bench_reports_{os.getpid()}_{secrets.token_hex(3)}"
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(args.url, f'CREATE DATABASE "{name}"'))
    try:
        migrate(url)
        asyncio.run(run(url, args))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            asyncio.run(_admin(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
