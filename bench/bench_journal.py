"""The intake journal's write, which every Twilio messaging webhook waits for.

    .venv/bin/python -m bench.bench_journal [--writes 500] [--db sqlite|postgresql|both]

Times `Store.journal` (inbox.storage's SqliteJournal / PostgresJournal) for batches of 1 and
32 webhooks, against the baseline measured in the same run: the same INSERT … ON CONFLICT
DO NOTHING RETURNING through SQLAlchemy's async engine in a transaction, as the store does
its other writes. Fresh scratch databases; nothing else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bench.bench_webchat import scratch_database
from inbox.storage import Row, Store, utcnow
from inbox.storage.db import make_engine, migrate
from inbox.storage.schema import intake

BATCHES = (1, 32)
MESSAGE = {"channel": "sms", "address": "+994501234567", "phone": "+994501234567",
           "text": "Salam, ilkin qeydiyyat üçün hansı sənədlər lazımdır?",
           "received_at": "2026-11-22T10:00:00+00:00", "attachments": []}


def entries(serial: itertools.count, size: int) -> list[Row]:
    return [{"channel": "sms", "external_id": f"SM{next(serial):032d}", "message": MESSAGE,
             "accepted_at": utcnow()} for _ in range(size)]


async def timed(write: Callable[[Sequence[Row]], Awaitable[object]], size: int,
                writes: int, serial: itertools.count) -> tuple[float, float]:
    """(median, p99) µs per write of `size` new entries."""
    samples = []
    for _ in range(writes):
        batch = entries(serial, size)
        started = time.perf_counter()
        await write(batch)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * .99))]


async def run(kind: str, url: str, writes: int) -> None:
    await asyncio.to_thread(migrate, url)
    store = Store(make_engine(url))
    upsert = sqlite_insert if kind == "sqlite" else postgresql_insert
    statement = (upsert(intake).on_conflict_do_nothing(index_elements=["channel", "external_id"])
                 .returning(intake.c.id, intake.c.channel, intake.c.external_id))

    async def through_sqlalchemy(batch: Sequence[Row]) -> object:
        async with store.transaction() as tx:
            return (await tx.conn.execute(statement, list(batch))).all()

    serial = itertools.count()
    try:
        for size in BATCHES:
            for name, write in (("SQLAlchemy transaction (baseline)", through_sqlalchemy),
                                ("Store.journal", store.journal)):
                await timed(write, size, 20, serial)             # warm up
                p50, p99 = await timed(write, size, writes, serial)
                print(f"{kind:<11}{size:>6}  {name:<36}{p50:>10.0f}{p99:>10.0f}")
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500, help="timed writes per case")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"intake journal writes, {args.writes} per case, {os.cpu_count()} cores")
    print(f"{'database':<11}{'batch':>6}  {'write':<36}{'p50 µs':>10}{'p99 µs':>10}")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        async with scratch_database(kind, args.postgres_url) as url:
            await run(kind, url, args.writes)


if __name__ == "__main__":
    asyncio.run(main())
