"""Erasing residents on retention: residents/s of the worker's sweep (`inbox.erasure.sweep`),
and how many one run (its 10-second budget) gets through.

Creates a fresh database, seeds `--residents` residents twice over (two populations alike:
each a contact with a phone, an SMS identity, a typed FIN, one conversation resolved long
ago with `--messages` messages, half theirs and half the agents', and the events the inbox
writes), then, in the same run:

- the baseline, the floor: one bulk UPDATE per table emptying the same columns of the
  second population (names, phones, addresses, bodies; claims deleted): what writing those
  rows costs with nothing decided per resident;
- the sweep: `erasure.sweep` on the first population until none is left, as the worker
  does: `SWEEP_BATCH` residents a transaction, each with its audit record and events, and
  their SMS listed to delete at Twilio (the deletions themselves are the worker's next job,
  not timed here).

Prints both rates, their ratio and what one run and one day of runs cover. Nothing else
runs; the Redis database is flushed.

    python -m bench.bench_erasure [--residents 2000] [--messages 6] [--db sqlite|postgresql]
                                  [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta

import redis
from sqlalchemy import delete, func, select, update

from bench.processes import database_options, scratch_database
from channels.registry import channel_book
from inbox import erasure
from inbox.context import open_context
from inbox.storage import utcnow
from inbox.storage.db import migrate
from inbox.storage.schema import (
    contact_claims,
    contact_identities,
    contacts,
    conversations,
    messages,
    provider_erasures,
)
from routing.corpus.generate import made_up_fin
from settings import load_config

BENCH_REDIS = "redis://127.0.0.1:6379/12"
RESOLVED_AGO = timedelta(days=4 * 365)


async def seed(ctx, first: int, count: int, per_resident: int) -> list[int]:
    """`count` residents from serial `first`; their contact ids."""
    at = utcnow() - RESOLVED_AGO
    ids = []
    async with ctx.store.transaction() as tx:
        for serial in range(first, first + count):
            phone = f"+99450{serial:07d}"
            contact_id = await tx.contacts.create(name=f"Sakin {serial}", phone=phone,
                                                  language="az")
            identity_id = await tx.contacts.create_identity(contact_id, "sms", phone, None)
            await tx.contacts.add_claim(contact_id, "fin", f"digest-{serial}",
                                        made_up_fin(serial)[:3] + "****", None, at)
            conversation_id = await tx.conversations.create(
                contact_id=contact_id, identity_id=identity_id, channel="sms",
                status="resolved", category="inquiry", language="az", queue="call-centre-142",
                created_at=at, routed_at=at, last_message_at=at, last_inbound_at=at,
                first_response_at=at, resolved_at=at)
            await tx.messages.insert_many([{
                "conversation_id": conversation_id, "channel": "sms",
                "direction": "in" if n % 2 == 0 else "out",
                "external_id": f"SM{serial:07d}{n}",
                "body": f"Salam, FIN {made_up_fin(serial)}, pensiyam gecikir ({n})",
                "author_kind": "resident" if n % 2 == 0 else "agent", "created_at": at,
                "delivery_status": "received" if n % 2 == 0 else "delivered",
                "attachments": []} for n in range(per_resident)])
            for kind in ("received", "classified", "routed", "replied", "resolved"):
                await tx.events.add(conversation_id, kind, {"channel": "sms"}, at=at)
            ids.append(contact_id)
    return ids


async def blank_in_bulk(ctx, contact_ids: list[int]) -> None:
    """The floor: the same columns emptied, one statement per table, nothing looked at."""
    async with ctx.store.transaction() as tx:
        where = tx.contacts.one_of
        await tx.conn.execute(update(contacts).where(where(contacts.c.id, contact_ids))
                              .values(name=None, phone=None, erased_at=utcnow()))
        await tx.conn.execute(
            update(contact_identities)
            .where(where(contact_identities.c.contact_id, contact_ids))
            .values(address=func.cast(contact_identities.c.id, contact_identities.c.address.type),
                    display_name=None))
        await tx.conn.execute(delete(contact_claims)
                              .where(where(contact_claims.c.contact_id, contact_ids)))
        ids = select(conversations.c.id).where(where(conversations.c.contact_id, contact_ids))
        await tx.conn.execute(update(messages).where(messages.c.conversation_id.in_(ids))
                              .values(body="", html=None, attachments=[], extra=None))


async def run(args: argparse.Namespace) -> None:
    async with scratch_database(args.db, args.postgres_url) as database:
        await asyncio.to_thread(migrate, database)
        os.environ.update(DATABASE_URL=database, REDIS_URL=args.redis_url)
        redis.Redis.from_url(args.redis_url).flushdb()
        # With the channels' traits, as the worker: SMS messages are listed to delete at
        # Twilio (`provider_erasures`) in each erasure's transaction.
        ctx = open_context(load_config(os.environ.get("CC_CONFIG", "config.yaml"), env={}),
                           channels=channel_book())
        try:
            started = time.perf_counter()
            await seed(ctx, 0, args.residents, args.messages)
            floor = await seed(ctx, args.residents, args.residents, args.messages)
            print(f"seeded 2 x {args.residents} residents, {args.messages} messages each, "
                  f"in {time.perf_counter() - started:.1f}s ({args.db})")

            started = time.perf_counter()
            await blank_in_bulk(ctx, floor)
            floor_s = time.perf_counter() - started

            started = time.perf_counter()
            erased = 0
            while done := await erasure.sweep(ctx, budget_s=float("inf")):
                erased += done
            sweep_s = time.perf_counter() - started
            async with ctx.store.read() as tx:
                left = (await tx.conn.execute(
                    select(func.count()).select_from(contacts)
                    .where(contacts.c.erased_at.is_(None)))).scalar_one()
                listed = (await tx.conn.execute(
                    select(func.count()).select_from(provider_erasures))).scalar_one()
        finally:
            await ctx.close()
        redis.Redis.from_url(args.redis_url).flushdb()
    floor_rate, sweep_rate = args.residents / floor_s, erased / sweep_s
    print(f"{'eraser':<50}{'residents':>10}{'seconds':>9}{'residents/s':>12}")
    print(f"{'bulk UPDATE of the same columns (baseline)':<50}{args.residents:>10}"
          f"{floor_s:>9.2f}{floor_rate:>12.0f}")
    print(f"{'the retention sweep, ' + str(erasure.SWEEP_BATCH) + ' a transaction':<50}"
          f"{erased:>10}{sweep_s:>9.2f}"
          f"{sweep_rate:>12.0f}")
    runs_a_day = 86400 / erasure.SWEEP_INTERVAL_S
    print(f"ratio {sweep_rate / floor_rate:.2f}x the bulk floor; one run "
          f"({erasure.SWEEP_BUDGET_S:.0f} s) erases ~{sweep_rate * erasure.SWEEP_BUDGET_S:.0f}, "
          f"a day of runs ~{sweep_rate * erasure.SWEEP_BUDGET_S * runs_a_day:,.0f}; "
          f"{left} residents left unerased (the floor's are marked too: expect 0); "
          f"{listed} messages listed to delete at Twilio (expect "
          f"{args.residents * args.messages})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=6)
    database_options(parser, BENCH_REDIS)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
