"""Twilio messaging webhook throughput: requests/s and latency of signed SMS webhooks.

Starts the real app (`python app.py serve`) on a fresh database (SQLite, or PostgreSQL with
--db postgresql) and a scratch Redis database (13 unless --redis-url), with PUBLIC_URL and
TWILIO_AUTH_TOKEN set so it verifies every signature, and, as the baseline measured in the
same run, a bare aiohttp server that reads the form and answers the same empty TwiML without
verifying or storing anything (its best of three runs per level). Every request is a
distinct Twilio message (its own MessageSid) from a pool of residents, so some open
conversations (classified, routed, acknowledged) and the rest join them.

Twilio is answered once a message is journalled; the inbox ingests it right after (see
inbox.intake). So besides the answer's rate and latency, each level reports when its last
message was in the inbox, from the level's first request ("in inbox s"), and the rate that
makes ("inbox/s"). In the inbox means what an agent can list: stored, in a conversation that
is classified and routed to a queue, with the resident's acknowledgement queued. At the end
it checks that every accepted request was stored exactly once and that each resident's
messages were stored in the order they were sent, and prints the app's peak resident memory.
"app cpu ms" is the CPU time the app process spent per message, answering and ingesting: on
a shared machine it is steadier than the rates.

A storm of new residents (a decree, a payment date) is `--residents` equal to `--requests`:
every message opens a conversation. Loopback only.

    python -m bench.bench_twilio_webhook [--concurrency 1,8,32,64] [--requests 400]
                                         [--residents 40] [--db sqlite|postgresql]
                                         [--redis-url URL]
    python -m bench.bench_twilio_webhook --concurrency 32 --requests 2000 --residents 2000

`--profile FILE` samples the app with py-spy (`pip install py-spy`) from the first request
until the last message is in the inbox, writes the collapsed stacks to FILE and prints the
functions the app spent the most of that time in (inclusive, as a share of the samples).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import textwrap
import time
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from bench.bench_webchat import TEXTS
from bench.processes import (
    app_beside_baseline,
    count_stored,
    cpu_seconds,
    peak_rss_mb,
    print_profile,
    scratch_database,
    start_profile,
    stop_sampling,
)
from inbox.storage.schema import conversations, messages
from routing.corpus.generate import made_up_fin

BENCH_REDIS = "redis://127.0.0.1:6379/13"
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
PATH = "/webhooks/twilio/messaging"

BASELINE_SERVER = textwrap.dedent("""
    import sys
    from aiohttp import web

    TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

    async def messaging(request):
        await request.post()
        return web.Response(text=TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/webhooks/twilio/messaging", messaging)
    app.router.add_get("/readyz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def own_fin(text: str, resident: int) -> str:
    """`text` with the resident's own FIN in place of the sample one: residents type their
    own, and one FIN typed by thousands would be a possible match of them all."""
    return text.replace("5ZJ8K2L", made_up_fin(resident))


def signed_requests(public_url: str, level: int, count: int,
                    residents: int) -> list[tuple[bytes, str]]:
    """`count` distinct SMS webhook bodies and their signatures; prepared before timing so the
    client's own HMAC work is not measured."""
    validator = RequestValidator(AUTH_TOKEN)
    url = public_url + PATH
    prepared = []
    for n in range(count):
        sid = f"SM{level:04d}{n:028d}"
        # The request's number ends the text, so the order of a resident's messages can be
        # checked once they are stored.
        form = {"ToCountry": "AZ", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
                "SmsStatus": "received", "Body": f"{own_fin(TEXTS[n % len(TEXTS)], n)} #{n}",
                "FromCountry": "AZ",
                "To": "+994125550142", "NumSegments": "1", "MessageSid": sid,
                "AccountSid": ACCOUNT_SID, "From": f"+99450{level:03d}{n % residents:04d}",
                "ApiVersion": "2010-04-01"}
        prepared.append((urlencode(form).encode(), validator.compute_signature(url, form)))
    return prepared


async def measure(base: str, concurrency: int,
                  prepared: list[tuple[bytes, str]]) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, accepted) for `prepared` sent by `concurrency` clients."""
    latencies: list[float] = []
    accepted = 0
    pending = iter(prepared)

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal accepted
        for body, signature in pending:
            started = time.perf_counter()
            async with http.post(base + PATH, data=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature}) as response:
                await response.read()
                accepted += response.status == 200
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000, accepted


async def in_inbox(engine: AsyncEngine) -> tuple[int, int, int]:
    """(inbound messages an agent can list, conversations, acknowledgements queued)."""
    async with engine.connect() as conn:
        listed = (await conn.execute(
            select(func.count()).select_from(messages.join(
                conversations, messages.c.conversation_id == conversations.c.id))
            .where(messages.c.direction == "in", conversations.c.routed_at.is_not(None),
                   conversations.c.queue.is_not(None)))).scalar_one()
        opened = (await conn.execute(select(func.count()).select_from(conversations)))\
            .scalar_one()
        acknowledged = (await conn.execute(select(func.count()).select_from(messages).where(
            messages.c.direction == "out", messages.c.author_kind == "system"))).scalar_one()
    return listed, opened, acknowledged


async def wait_listed(engine: AsyncEngine, expected: int, timeout_s: float = 600.0) -> float:
    """The perf_counter time at which agents could list `expected` inbound messages, every
    conversation with its acknowledgement queued."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        listed, opened, acknowledged = await in_inbox(engine)
        if listed >= expected and acknowledged >= opened:
            break
        await asyncio.sleep(0.01)
    return time.perf_counter()


async def residents_order_kept(engine: AsyncEngine) -> bool:
    """Whether each conversation's inbound messages were stored in the order sent."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(messages.c.conversation_id, messages.c.body)
                                   .where(messages.c.direction == "in")
                                   .order_by(messages.c.id))).all()
    last: dict[int, int] = {}
    for conversation_id, body in rows:
        number = int(body.rsplit("#", 1)[1])
        if number < last.get(conversation_id, -1):
            return False
        last[conversation_id] = number
    return True


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--residents", type=int, default=40,
                        help="distinct senders per level (each opens one conversation)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the app with py-spy and write collapsed stacks here")
    parser.add_argument("--redis-url", default=BENCH_REDIS,
                        help="a scratch Redis database (flushed before and after)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    async with scratch_database(args.db, args.postgres_url) as database:
        await run(args, [int(n) for n in args.concurrency.split(",")], database)


async def run(args: argparse.Namespace, levels: list[int], database: str) -> None:
    async with app_beside_baseline(database, args.redis_url, BASELINE_SERVER,
                                   TWILIO_AUTH_TOKEN=AUTH_TOKEN) as running:
        app, engine = running.app, running.engine
        print(f"Twilio messaging webhook, {args.requests} signed requests per level, "
              f"{args.residents} residents per level, {args.db}, {os.cpu_count()} cores")
        print(f"{'conc':>4}  {'server':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'ok':>6}"
              f"{'ratio':>8}{'in inbox s':>12}{'inbox/s':>9}{'app cpu ms':>12}")
        total_accepted = 0
        for level in levels:
            prepared = signed_requests(running.public_url, level, args.requests,
                                       args.residents)
            # The baseline's best of three runs: its short runs are noisy, and the best one
            # is the strictest yardstick for the ratio.
            base_rate, base_p50, base_p99, base_ok = max(
                [await measure(running.baseline_url, level, prepared)
                 for _ in range(3)], key=lambda run: run[0])
            print(f"{level:>4}  {'bare aiohttp (baseline)':<24}{base_rate:>8.0f}"
                  f"{base_p50:>9.1f}{base_p99:>9.1f}{base_ok:>6}")
            sampler = start_profile(app.pid, args.profile) if args.profile else None
            cpu_before = cpu_seconds(app.pid)
            started = time.perf_counter()
            rate, p50, p99, accepted = await measure(running.public_url, level, prepared)
            total_accepted += accepted
            listed_s = await wait_listed(engine, total_accepted) - started
            cpu_ms = (cpu_seconds(app.pid) - cpu_before) * 1000 / max(accepted, 1)
            if sampler is not None:
                stop_sampling(sampler)
                print_profile([args.profile])
            print(f"{level:>4}  {'contact centre':<24}{rate:>8.0f}{p50:>9.1f}{p99:>9.1f}"
                  f"{accepted:>6}{rate / base_rate:>8.0%}{listed_s:>12.2f}"
                  f"{accepted / listed_s:>9.0f}{cpu_ms:>12.2f}")
        stored = await count_stored(database)
        verdict = "ok" if stored == total_accepted else "MISMATCH"
        print(f"stored {stored} inbound rows for {total_accepted} accepted requests: {verdict}")
        order = "kept" if await residents_order_kept(engine) else "BROKEN"
        print(f"each resident's messages stored in the order sent: {order}")
        print(f"app peak resident memory: {peak_rss_mb(app.pid) or 0:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
