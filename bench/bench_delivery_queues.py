"""Sends leaving for Twilio while a burst of acknowledgements drains, and agents' replies
sent meanwhile, beside rq's own bookkeeping for as many no-op jobs on the same Redis.

Baseline first, in this process: `--backlog` no-op jobs run by rq's non-forking
SimpleWorker (and `--forking-jobs` by its forking Worker): the rate at which rq alone can
take jobs off this Redis. Then the real workers (`python worker.py`, and with
`--reply-worker` a second one serving `--queues replies` alone, as `scripts/run` starts
them) on a fresh SQLite database send through the fake Twilio REST server of the tests
(each create answered after `--twilio-ms`): one reply on the idle queues, then `--backlog`
acknowledgements queued the way the intake queues them (one `enqueue_delivery_async` call
per `--batch` ids) and, while they drain, `--replies` agents' replies `--reply-every`
seconds apart. Printed: the acknowledgements' sends/s from the first to the last request
Twilio received (or, past `--max-seconds`, over what was sent by then), its ratio to the
no-op jobs/s, and each reply's latency from the agent's click (`actions.reply`) to Twilio
receiving the request, p50 and p99.

    python -m bench.bench_delivery_queues [--backlog 2000] [--twilio-ms 50] [--reply-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import math
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
from rq import Queue, SimpleWorker, Worker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.registry import channel_book  # noqa: E402
from inbox import actions, outbox  # noqa: E402
from inbox.context import open_context  # noqa: E402
from inbox.ingest import ingest  # noqa: E402
from inbox.messages import InboundMessage  # noqa: E402
from inbox.storage.db import migrate  # noqa: E402
from tests.channels.fake_twilio import FakeTwilio, RecordedRequest  # noqa: E402

ACCOUNT_SID = "AC00000000000000000000000000bench"
AUTH_TOKEN = "bench-auth-token"
CONFIG = ROOT / "tests" / "fixtures" / "config.yaml"
NOOP_QUEUE = "bench-noop"


def noop() -> None:
    """The baseline's job: rq's bookkeeping and nothing else."""


def rq_jobs_per_second(url: str, count: int, worker_class: type[Worker]) -> float:
    """How fast `worker_class` runs `count` no-op jobs queued on this Redis (burst mode)."""
    connection = redis.Redis.from_url(url)
    queue = Queue(NOOP_QUEUE, connection=connection)
    queue.empty()
    queue.enqueue_many([Queue.prepare_data(noop, result_ttl=60) for _ in range(count)])
    worker = worker_class([queue], connection=connection)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


class TimedRequests(list):
    """The fake's request log, noting when each request reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []
        self.by_body: dict[str | None, float] = {}

    def append(self, request: RecordedRequest) -> None:
        now = time.monotonic()
        super().append(request)
        self.at.append(now)
        self.by_body.setdefault(request.field("Body"), now)


async def serve_fake(delay_s: float) -> tuple[FakeTwilio, web.AppRunner, str]:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, delay_s=delay_s, requests=TimedRequests())
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return fake, runner, f"http://127.0.0.1:{port}"


async def received_at(fake: FakeTwilio, body: str, timeout: float = 600) -> float:
    """When Twilio was asked to send `body` (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (at := fake.requests.by_body.get(body)) is not None:
            return at
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{body!r} was not sent within {timeout} s")


async def reply_latency(ctx, fake: FakeTwilio, actor, conversation_id: int, body: str) -> float:
    clicked = time.monotonic()
    await actions.reply(ctx, actor, conversation_id, body)
    return await received_at(fake, body) - clicked


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def run(args: argparse.Namespace, baselines: dict[str, float]) -> None:
    fake, runner, api_base = await serve_fake(args.twilio_ms / 1000)
    scratch = tempfile.mkdtemp(prefix="bench-delivery-")
    database = f"sqlite:///{scratch}/contact-centre.db"
    await asyncio.to_thread(migrate, database)
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

        idle = [await reply_latency(ctx, fake, actor, conversation["id"],
                                    f"Cavab {n} (boş növbə)") for n in range(args.repeat)]

        async with ctx.store.transaction() as tx:
            burst = [await outbox.queue_message(tx, conversation, f"Müraciətiniz № {n} qəbul "
                                                "edildi.", author_kind="system")
                     for n in range(args.backlog)]
        first_ack = len(fake.requests)
        queued_at = time.monotonic()
        for start in range(0, len(burst), args.batch):
            await ctx.jobs.enqueue_delivery_async(burst[start:start + args.batch], "system")
        enqueued_s = time.monotonic() - queued_at
        while len(fake.requests) < first_ack + 2:
            await asyncio.sleep(0.005)
        loaded = []
        for n in range(args.replies):
            if len(fake.requests) - first_ack - len(loaded) >= args.backlog:
                break   # drained: later replies would meet an idle queue
            loaded.append(await reply_latency(ctx, fake, actor, conversation["id"],
                                              f"Cavab {n} (dolu növbə)"))
            await asyncio.sleep(args.reply_every)
        deadline = queued_at + args.max_seconds
        while len(fake.requests) < first_ack + args.backlog + len(loaded) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        at = fake.requests.at[first_ack:]
        acks = len(at) - len(loaded)
        window = (at[-1] - at[0]) if len(at) > 1 else float("nan")
        rate = (len(at) - 1) / window if len(at) > 1 else 0.0
        drained = acks >= args.backlog

        print(f"\n{args.backlog} acknowledgements leaving for Twilio (answering in "
              f"{args.twilio_ms} ms), {'two workers' if args.reply_worker else 'one worker'}")
        for name, value in baselines.items():
            print(f"  baseline: rq {name:<22} {value:8.1f} no-op jobs/s")
        print(f"  sends to Twilio                  {rate:8.1f} sends/s "
              f"({len(at)} requests over {window:.1f} s"
              f"{'' if drained else f'; stopped after {args.max_seconds} s, not drained'}); "
              f"queued in {enqueued_s:.2f} s")
        for name, value in baselines.items():
            print(f"    ratio to rq {name:<19} {rate / value:8.2f}")
        print(f"  agent reply, idle queues         p50 {statistics.median(idle):6.3f} s "
              f"({args.repeat} replies)")
        if loaded:
            print(f"  agent reply, backlog draining    p50 {statistics.median(loaded):6.3f} s  "
                  f"p99 {percentile(loaded, 0.99):6.3f} s  max {max(loaded):6.3f} s "
                  f"({len(loaded)} replies)", flush=True)
    finally:
        await ctx.close()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100,
                        help="ids per enqueue_delivery_async call, as the intake batches them")
    parser.add_argument("--twilio-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="replies on the idle queues")
    parser.add_argument("--replies", type=int, default=20,
                        help="replies while the backlog drains")
    parser.add_argument("--reply-every", type=float, default=0.2)
    parser.add_argument("--reply-worker", action="store_true")
    parser.add_argument("--forking-jobs", type=int, default=300,
                        help="no-op jobs for the forking Worker's baseline (0: skip it)")
    parser.add_argument("--max-seconds", type=float, default=120,
                        help="stop waiting for the backlog after this long")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    redis.Redis.from_url(args.redis).flushdb()
    # Before any thread or event loop exists: the forking worker forks this process.
    baselines = {"SimpleWorker (no fork)": rq_jobs_per_second(args.redis, args.backlog,
                                                              SimpleWorker)}
    if args.forking_jobs:
        baselines["Worker (fork per job)"] = rq_jobs_per_second(args.redis, args.forking_jobs,
                                                                Worker)
    redis.Redis.from_url(args.redis).flushdb()
    # Stopped from outside (timeout, kill): unwind, so the workers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(run(args, baselines))


if __name__ == "__main__":
    main()
