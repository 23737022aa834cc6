"""Twilio messaging webhook throughput: requests/s and latency of signed SMS webhooks.

Starts the real app (`python app.py serve`) on a fresh database (SQLite, or PostgreSQL with
--db postgresql) and Redis database 13, with PUBLIC_URL and TWILIO_AUTH_TOKEN set so it
verifies every signature, and, as the baseline measured in the same run, a bare aiohttp
server that reads the form and answers the same empty TwiML without verifying or storing
anything (its best of three runs per level). Every request is a distinct Twilio message (its
own MessageSid) from a pool of residents, so some open conversations (classified, routed,
acknowledged) and the rest join them.

Twilio is answered once a message is journalled; the inbox ingests it right after (see
inbox.intake). So besides the answer's rate and latency, each level reports when its last
message was in the inbox ("in inbox s", from the level's first request) and the rate that
makes ("inbox/s"). At the end it counts the inbound rows to check that every accepted
request was stored exactly once. Loopback only.

    python -m bench.bench_twilio_webhook [--concurrency 1,8,32,64] [--requests 400]
                                         [--residents 40] [--db sqlite|postgresql]
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
import redis
from twilio.request_validator import RequestValidator

from bench.bench_webchat import (
    ROOT,
    TEXTS,
    count_stored,
    free_port,
    scratch_database,
    start,
    wait_ready,
)

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


def signed_requests(public_url: str, level: int, count: int,
                    residents: int) -> list[tuple[bytes, str]]:
    """`count` distinct SMS webhook bodies and their signatures; prepared before timing so the
    client's own HMAC work is not measured."""
    validator = RequestValidator(AUTH_TOKEN)
    url = public_url + PATH
    prepared = []
    for n in range(count):
        sid = f"SM{level:04d}{n:028d}"
        form = {"ToCountry": "AZ", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
                "SmsStatus": "received", "Body": TEXTS[n % len(TEXTS)], "FromCountry": "AZ",
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


async def wait_stored(database: str, expected: int, timeout_s: float = 120.0) -> float:
    """The perf_counter time at which the inbox held `expected` inbound messages."""
    deadline = time.perf_counter() + timeout_s
    while await count_stored(database) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return time.perf_counter()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--residents", type=int, default=40,
                        help="distinct senders per level (each opens one conversation)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    async with scratch_database(args.db, args.postgres_url) as database:
        await run(args, [int(n) for n in args.concurrency.split(",")], database)


async def run(args: argparse.Namespace, levels: list[int], database: str) -> None:
    app_port, base_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{app_port}"
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": BENCH_REDIS,
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "PUBLIC_URL": public_url,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CC_CONFIG": str(ROOT / "config.yaml")}
    app = start(["app.py", "serve", "--port", str(app_port)], env)
    baseline = start(["-c", BASELINE_SERVER, str(base_port)], env)
    try:
        await wait_ready(public_url, app)
        await wait_ready(f"http://127.0.0.1:{base_port}", baseline)
        print(f"Twilio messaging webhook, {args.requests} signed requests per level, "
              f"{args.residents} residents per level, {args.db}, {os.cpu_count()} cores")
        print(f"{'conc':>4}  {'server':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'ok':>6}"
              f"{'ratio':>8}{'in inbox s':>12}{'inbox/s':>9}")
        total_accepted = 0
        for level in levels:
            prepared = signed_requests(public_url, level, args.requests, args.residents)
            # The baseline's best of three runs: its short runs are noisy, and the best one
            # is the strictest yardstick for the ratio.
            base_rate, base_p50, base_p99, base_ok = max(
                [await measure(f"http://127.0.0.1:{base_port}", level, prepared)
                 for _ in range(3)], key=lambda run: run[0])
            print(f"{level:>4}  {'bare aiohttp (baseline)':<24}{base_rate:>8.0f}"
                  f"{base_p50:>9.1f}{base_p99:>9.1f}{base_ok:>6}")
            started = time.perf_counter()
            rate, p50, p99, accepted = await measure(public_url, level, prepared)
            total_accepted += accepted
            in_inbox = await wait_stored(database, total_accepted) - started
            print(f"{level:>4}  {'contact centre':<24}{rate:>8.0f}{p50:>9.1f}{p99:>9.1f}"
                  f"{accepted:>6}{rate / base_rate:>8.0%}{in_inbox:>12.2f}"
                  f"{accepted / in_inbox:>9.0f}")
        stored = await count_stored(database)
        verdict = "ok" if stored == total_accepted else "MISMATCH"
        print(f"stored {stored} inbound rows for {total_accepted} accepted requests: {verdict}")
    finally:
        for process in (app, baseline):
            process.terminate()
            process.wait(timeout=20)
        redis.Redis.from_url(BENCH_REDIS).flushdb()


if __name__ == "__main__":
    asyncio.run(main())
