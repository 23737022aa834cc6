"""An agent's reply while a burst of acknowledgements drains, beside the same reply on an
idle queue.

Runs the real worker (`python worker.py`) on a fresh SQLite database and a scratch Redis
database, sending through the fake Twilio REST server of the tests (each create answered
after `--twilio-ms`). First a reply is queued with nothing else waiting (the baseline), then
`--backlog` automatic messages are queued and, once the worker is sending them, the reply:
how long it took to reach Twilio and how many sends went before it. `--reply-worker` adds
a worker that serves agents' replies alone (`worker.py --queues replies`); `--drain` also
waits for the backlog to drain and prints how long that took.

    python -m bench.bench_delivery_queues [--backlog 300] [--twilio-ms 50] [--reply-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.registry import channel_book  # noqa: E402
from inbox import actions, outbox  # noqa: E402
from inbox.context import open_context  # noqa: E402
from inbox.ingest import ingest  # noqa: E402
from inbox.messages import InboundMessage  # noqa: E402
from inbox.storage.db import migrate  # noqa: E402
from tests.channels.fake_twilio import FakeTwilio  # noqa: E402

ACCOUNT_SID = "AC00000000000000000000000000bench"
AUTH_TOKEN = "bench-auth-token"
CONFIG = ROOT / "tests" / "fixtures" / "config.yaml"


async def serve_fake(delay_s: float) -> tuple[FakeTwilio, web.AppRunner, str]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, delay_s=delay_s)
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return fake, runner, f"http://127.0.0.1:{port}"


async def sent(fake: FakeTwilio, body: str, timeout: float = 300) -> int:
    """Waits until Twilio has been asked to send `body`; its position among the sends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bodies = [r.field("Body") for r in fake.requests]
        if body in bodies:
            return bodies.index(body)
        await asyncio.sleep(0.005)
    raise TimeoutError(f"{body!r} was not sent within {timeout} s")


async def reply_latency(ctx, fake: FakeTwilio, actor, conversation_id: int,
                        body: str) -> tuple[float, int]:
    started = time.monotonic()
    await actions.reply(ctx, actor, conversation_id, body)
    position = await sent(fake, body)
    return time.monotonic() - started, position


async def run(args: argparse.Namespace) -> None:
    fake, runner, api_base = await serve_fake(args.twilio_ms / 1000)
    scratch = tempfile.mkdtemp(prefix="bench-delivery-")
    database = f"sqlite:///{scratch}/contact-centre.db"
    await asyncio.to_thread(migrate, database)
    redis.Redis.from_url(args.redis).flushdb()
    env = {"DATABASE_URL": database, "REDIS_URL": args.redis, "CC_CONFIG": str(CONFIG),
           "SECRET_KEY": "bench", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": api_base,
           "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    log = open(f"{scratch}/workers.log", "wb")  # noqa: SIM115
    workers = [subprocess.Popen([sys.executable, "worker.py", *extra], cwd=ROOT,
                                env={**os.environ}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
               for extra in ([], ["--queues", "replies"])[: 2 if args.reply_worker else 1]]
    print(f"workers log to {scratch}/workers.log", flush=True)
    ctx = open_context(pool=False, channels=channel_book())
    try:
        result = await ingest(ctx, InboundMessage(
            channel="sms", external_id="SM" + "b" * 32, address="+994501234567",
            text="Salam, pensiyam bu ay gəlməyib.", received_at=datetime.now(UTC),
            phone="+994501234567"))
        async with ctx.store.transaction() as tx:
            agent_id = await tx.users.save("bench@example.gov.az", name="Bench", role="admin",
                                          password_hash="-")
            conversation = await tx.conversations.get(result.conversation_id)
        actor = actions.Actor(agent_id, "admin", ())
        while len(fake.requests) < 1:          # the conversation's own acknowledgement
            await asyncio.sleep(0.01)

        idle = [(await reply_latency(ctx, fake, actor, conversation["id"],
                                     f"Cavab {n} (boş növbə)"))[0] for n in range(args.repeat)]
        workers_text = "one worker" + (" and a replies worker" if args.reply_worker else "")
        print(f"\nagent reply latency, {workers_text}, Twilio answering in {args.twilio_ms} ms")
        print(f"  idle queue (baseline)           {statistics.median(idle):7.2f} s "
              f"(median of {args.repeat})", flush=True)

        async with ctx.store.transaction() as tx:
            burst = [await outbox.queue_message(tx, conversation, f"Müraciətiniz № {n} qəbul "
                                                "edildi.", author_kind="system")
                     for n in range(args.backlog)]
        drain_started = time.monotonic()
        await ctx.jobs.enqueue_delivery_async(burst, "system")
        started = len(fake.requests)
        while len(fake.requests) < started + 2:
            await asyncio.sleep(0.005)
        before = len(fake.requests) - started
        loaded, position = await reply_latency(ctx, fake, actor, conversation["id"],
                                               "Cavab (dolu növbə)")
        print(f"  {args.backlog} acknowledgements queued  {loaded:7.2f} s, sent as "
              f"#{position - started + 1} of {args.backlog + 1} "
              f"({before} acknowledgements were out when it was queued)", flush=True)
        if args.drain:
            while len(fake.requests) < started + args.backlog + 1:
                await asyncio.sleep(0.05)
            print(f"  the backlog itself drained in "
                  f"{time.monotonic() - drain_started:.1f} s after the burst was queued")
    finally:
        await ctx.close()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--twilio-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reply-worker", action="store_true")
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/13"))
    # Stopped from outside (timeout, kill): unwind, so the workers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
