"""Telegram webhook burst: 2,000 updates end to end, beside a bare aiohttp baseline.

Starts the real app (`python app.py serve`) on a fresh database (SQLite, or PostgreSQL with
--db postgresql) and Redis database 13, with TELEGRAM_WEBHOOK_SECRET set so it checks every
request's secret header, and, as the baseline measured in the same run, a bare aiohttp
server that reads the JSON and answers 200 without checking or storing anything (its best of
three runs). Every update is a distinct private-chat text message (its own update_id and
message_id) from a pool of residents, so some open conversations (classified, routed,
acknowledged) and the rest join them; `--redeliver` sends a share of them a second time, as
Telegram does when it did not hear an answer, and the check at the end wants each stored once.

As in bench_twilio_webhook (whose measuring helpers it shares), the updates are answered once
journalled and ingested right after: "in inbox s" is when the last one could be listed by an
agent, from the first request; "app cpu ms" the app's CPU time per update. Loopback only.

    python -m bench.bench_telegram_webhook [--concurrency 32] [--requests 2000]
                                           [--residents 200] [--redeliver 0.05]
                                           [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import textwrap
import time

import aiohttp

from bench.bench_twilio_webhook import BENCH_REDIS, own_fin, residents_order_kept, wait_listed
from bench.bench_webchat import TEXTS
from bench.processes import (
    app_beside_baseline,
    count_stored,
    cpu_seconds,
    peak_rss_mb,
    scratch_database,
)

SECRET = "bench-webhook-secret"
PATH = "/webhooks/telegram"
HEADER = "X-Telegram-Bot-Api-Secret-Token"

BASELINE_SERVER = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def telegram(request):
        await request.json()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/telegram", telegram)
    app.router.add_get("/readyz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def updates(count: int, residents: int, redeliver: float) -> tuple[list[bytes], int]:
    """The request bodies (a `redeliver` share sent twice, the second copy later in the
    burst) and how many distinct updates they hold; prepared before timing."""
    bodies = []
    for n in range(count):
        chat = 500_000_000 + n % residents
        update = {"update_id": 800_000_000 + n, "message": {
            "message_id": 10 + n, "date": 1764763200 + n,
            "from": {"id": chat, "is_bot": False, "first_name": f"Sakin {chat % 1000}",
                     "username": f"sakin{chat}", "language_code": ("az", "ru", "en")[n % 3]},
            "chat": {"id": chat, "first_name": f"Sakin {chat % 1000}", "type": "private"},
            # The update's number ends the text: the check of each resident's order reads it.
            "text": f"{own_fin(TEXTS[n % len(TEXTS)], n)} #{n}"}}
        bodies.append(json.dumps(update, ensure_ascii=False).encode())
    again = [bodies[n] for n in range(0, count, max(1, round(1 / redeliver)))] \
        if redeliver > 0 else []
    return bodies + again, count


async def measure(base: str, concurrency: int,
                  bodies: list[bytes]) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, answered 200) for `bodies` sent by `concurrency` clients."""
    latencies: list[float] = []
    accepted = 0
    pending = iter(bodies)

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal accepted
        for body in pending:
            started = time.perf_counter()
            async with http.post(base + PATH, data=body, headers={
                    "Content-Type": "application/json", HEADER: SECRET}) as response:
                await response.read()
                accepted += response.status == 200
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000, accepted


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="distinct updates")
    parser.add_argument("--residents", type=int, default=200, help="distinct private chats")
    parser.add_argument("--redeliver", type=float, default=0.05,
                        help="share of the updates Telegram sends a second time")
    parser.add_argument("--redis", default=BENCH_REDIS, help="a Redis database it may flush")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    async with scratch_database(args.db, args.postgres_url) as database:
        await run(args, database)


async def run(args: argparse.Namespace, database: str) -> None:
    async with app_beside_baseline(database, args.redis, BASELINE_SERVER,
                                   TELEGRAM_WEBHOOK_SECRET=SECRET) as running:
        app, engine = running.app, running.engine
        bodies, distinct = updates(args.requests, args.residents, args.redeliver)
        print(f"Telegram webhook burst: {distinct} updates ({len(bodies) - distinct} "
              f"re-delivered) from {args.residents} chats, concurrency {args.concurrency}, "
              f"{args.db}, {os.cpu_count()} cores")
        print(f"{'server':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'ok':>6}{'ratio':>8}"
              f"{'in inbox s':>12}{'inbox/s':>9}{'app cpu ms':>12}")
        base_rate, base_p50, base_p99, base_ok = max(
            [await measure(running.baseline_url, args.concurrency, bodies)
             for _ in range(3)], key=lambda run: run[0])
        print(f"{'bare aiohttp (baseline)':<24}{base_rate:>8.0f}{base_p50:>9.1f}"
              f"{base_p99:>9.1f}{base_ok:>6}")
        cpu_before = cpu_seconds(app.pid)
        started = time.perf_counter()
        rate, p50, p99, accepted = await measure(running.public_url, args.concurrency, bodies)
        listed_s = await wait_listed(engine, distinct) - started
        cpu_ms = (cpu_seconds(app.pid) - cpu_before) * 1000 / max(distinct, 1)
        print(f"{'contact centre':<24}{rate:>8.0f}{p50:>9.1f}{p99:>9.1f}{accepted:>6}"
              f"{rate / base_rate:>8.0%}{listed_s:>12.2f}{distinct / listed_s:>9.0f}"
              f"{cpu_ms:>12.2f}")
        stored = await count_stored(database)
        verdict = "ok" if stored == distinct and accepted == len(bodies) else "MISMATCH"
        print(f"stored {stored} inbound rows for {distinct} distinct updates "
              f"({accepted} of {len(bodies)} requests answered 200): {verdict}")
        order = "kept" if await residents_order_kept(engine) else "BROKEN"
        print(f"each resident's messages stored in the order sent: {order}")
        print(f"app peak resident memory: {peak_rss_mb(app.pid) or 0:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
