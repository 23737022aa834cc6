"""Web-chat ingest throughput: acknowledged messages/s and ack latency from N residents' sockets.

Starts the real app (`python app.py serve`) on a fresh database and a scratch Redis database,
and, as the baseline measured in the same run, a bare aiohttp WebSocket server that parses
each frame and answers an ack without storing anything.

Each socket is one resident's window: it says hello, sends its first message (which opens
the conversation: classified, routed, acknowledged) and waits for its ack; these first
messages are timed apart ("first"). Then, all sockets together, each sends `--messages`
follow-ups into its open conversation, keeping up to `--inflight` unacknowledged at once
(the chat window sends as the resident types and does not wait for acks, so a fast typist or
a reconnect's resends put several in flight; 1 is a resident waiting for each tick). An ack
counts once it carries the stored message's id. Each round uses new residents; the figures
printed are the median of `--rounds`, the app's beside the baseline's and as their ratio.
At the end it counts the stored messages (each acknowledged one exactly once) and prints
each server's peak resident memory (VmHWM).

A third row, "web chat alone", is the same app with the inbox's ingest replaced by an
instant fake: the ceiling of the web chat's own work per frame (parse, limits, ack), which
the store and routing then share the machine with.

    python -m bench.bench_webchat [--sockets 32] [--messages 100] [--inflight 1]
                                  [--rounds 3] [--db sqlite|postgresql] [--redis-url URL]
                                  [--profile FILE]

`--profile FILE` samples the app with py-spy while its rounds run (not the others'), writes
the collapsed stacks to FILE and prints where its time went, as bench_twilio_webhook does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis
import yaml

from bench.processes import (
    ROOT,
    count_stored,
    free_port,
    peak_rss_mb,
    print_profile,
    scratch_database,
    start,
    start_profile,
    stop_sampling,
    wait_ready,
)

BENCH_REDIS = "redis://127.0.0.1:6379/12"

BASELINE_SERVER = textwrap.dedent("""
    import json, sys
    from aiohttp import web

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        n = 0
        async for msg in sock:
            frame = json.loads(msg.data)
            if frame["type"] == "hello":
                await sock.send_json({"type": "welcome", "session": "s", "history": []})
            else:
                n += 1
                await sock.send_json({"type": "ack", "id": frame["id"], "message_id": n})
        return sock

    app = web.Application()
    app.router.add_get("/chat/ws", ws)
    app.router.add_get("/readyz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")

# The app with ChannelPort.ingest replaced by an instant fake: what the web chat itself costs
# (parsing, limits, sessions, acks) apart from storing and routing. A diagnosis, not the
# product: its acks stand for no stored message.
ALONE_SERVER = textwrap.dedent("""
    import itertools, sys
    import app
    from inbox import port
    from inbox.ingest import IngestResult

    ids = itertools.count(1)

    async def ingest(self, message):
        return IngestResult(next(ids), 0, False, False)

    port.ChannelPort.ingest = ingest
    sys.exit(app.main(["serve", "--port", sys.argv[1]]))
""")

TEXTS = [
    "Salam, reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm.",
    "Pensiyam bu ay kartıma köçürülməyib, kömək edin.",
    "Здравствуйте, какие документы нужны для вида на жительство?",
    "Hello, what are the opening hours of DOST centre No. 2 in Baku?",
    "salam unvanli yardim ucun muraciet etmek isteyirem FIN 5ZJ8K2L",
]


@dataclass
class Figures:
    rate: float                # acknowledged follow-ups a second
    p50_ms: float
    p99_ms: float
    first_p50_ms: float        # the first message of each resident (opens a conversation)
    acked: int
    errors: list[str] = field(default_factory=list)


class Resident:
    """One resident's chat window: a socket, a reader matching acks to what was sent."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, tag: str):
        self.ws = ws
        self.tag = tag
        self.sent: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future] = {}
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = msg.json()
            client_id = frame.get("id")
            if frame.get("type") == "ack" and isinstance(frame.get("message_id"), int):
                self.latencies.append(time.perf_counter() - self.sent.pop(client_id))
            elif frame.get("type") == "error":
                self.errors.append(frame.get("code", "?"))
                self.sent.pop(client_id, None)
            else:
                continue   # welcome, the acknowledgement's auto-reply, ...
            waiter = self.waiters.pop(client_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def hello(self, index: int) -> None:
        await self.ws.send_json({"type": "hello", "session": None, "name": f"Sakin {index}",
                                 "language": "az"})

    async def send(self, n: int) -> asyncio.Future:
        client_id = f"{self.tag}-{n}"
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[client_id] = waiter
        self.sent[client_id] = time.perf_counter()
        await self.ws.send_json({"type": "message", "id": client_id,
                                 "text": TEXTS[n % len(TEXTS)]})
        return waiter

    async def follow_ups(self, count: int, inflight: int) -> None:
        window: set[asyncio.Future] = set()
        for n in range(1, count + 1):
            if len(window) >= inflight:
                _, window = await asyncio.wait(window, return_when=asyncio.FIRST_COMPLETED)
            window.add(await self.send(n))
        if window:
            await asyncio.wait(window)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def measure(base: str, sockets: int, messages: int, inflight: int,
                  round_tag: str) -> Figures:
    """One round: `sockets` new residents, each a first message then `messages` follow-ups."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        residents = []
        for index in range(sockets):
            ws = await stack.enter_async_context(http.ws_connect(f"{base}/chat/ws"))
            residents.append(Resident(ws, f"{round_tag}.{index}"))
        for index, resident in enumerate(residents):
            await resident.hello(index)
        firsts = [await resident.send(0) for resident in residents]
        await asyncio.gather(*firsts)
        first_latencies = [r.latencies.pop() for r in residents if r.latencies]
        started = time.perf_counter()
        await asyncio.gather(*(r.follow_ups(messages, inflight) for r in residents))
        elapsed = time.perf_counter() - started
        latencies = [value for r in residents for value in r.latencies]
        import json as _j
        with open(f"/tmp/wcprobe-{round_tag}-{base.rsplit(':',1)[1]}.json", "w") as _f:
            _j.dump([r.latencies for r in residents], _f)
        errors = [code for r in residents for code in r.errors]
        for resident in residents:
            resident.reader.cancel()
    if not latencies:
        raise RuntimeError(f"no message was acknowledged: {errors[:5]}")
    return Figures(len(latencies) / elapsed, _percentile(latencies, 0.5) * 1000,
                   _percentile(latencies, 0.99) * 1000,
                   statistics.median(first_latencies) * 1000 if first_latencies else 0.0,
                   len(latencies) + len(first_latencies), errors)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="32",
                        help="residents' sockets open at once; a comma list runs each level")
    parser.add_argument("--messages", type=int, default=100,
                        help="follow-ups per socket and round, after its first message")
    parser.add_argument("--inflight", type=int, default=1,
                        help="unacknowledged messages a socket keeps in flight")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (medians)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=BENCH_REDIS,
                        help="a scratch Redis database (flushed before and after)")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the app with py-spy and write collapsed stacks here")
    args = parser.parse_args()
    levels = [int(n) for n in args.sockets.split(",")]

    async with scratch_database(args.db, args.postgres_url) as database:
        await run(args, levels, database)


def unlimited_config(directory: Path) -> Path:
    """config.yaml with the web chat's limits lifted: every bench socket comes from one
    address and writes faster than a resident may, and what is measured is taking messages
    in (each still passes through the limits' checks)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    plenty = {"count": 1_000_000, "per": "1s"}
    config["channels"]["webchat"]["limits"] = {
        "messages_per_session": plenty, "messages_per_address": plenty,
        "conversations_per_address": plenty, "sockets_per_address": 1_000_000}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def run(args: argparse.Namespace, levels: list[int], database: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-config-") as scratch:
        await run_with(args, levels, database, unlimited_config(Path(scratch)))


def _row(sockets: int, name: str, figures: list[Figures]) -> str:
    def median(attribute: str) -> float:
        return statistics.median(getattr(f, attribute) for f in figures)

    return (f"{sockets:>7}  {name:<27}{median('rate'):>9.0f}{median('p50_ms'):>9.1f}"
            f"{median('p99_ms'):>9.1f}{median('first_p50_ms'):>11.1f}"
            f"   {' '.join(f'{f.rate:.0f}' for f in figures):<17}")


async def run_with(args: argparse.Namespace, levels: list[int], database: str,
                   config: Path) -> None:
    redis_url = getattr(args, "redis_url", BENCH_REDIS)
    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "CC_CONFIG": str(config)}
    inflight = getattr(args, "inflight", 1)
    rounds = getattr(args, "rounds", 1)

    app_port, base_port, alone_port = free_port(), free_port(), free_port()
    app = start(["app.py", "serve", "--port", str(app_port)], env)
    baseline = start(["-c", BASELINE_SERVER, str(base_port)], env)
    alone = None
    acked = 0
    profiles: list[str] = []   # the app's samples, a file per round
    try:
        await wait_ready(f"http://127.0.0.1:{app_port}", app)
        # Started once the app has migrated the database: two migrations at once collide.
        alone = start(["-c", ALONE_SERVER, str(alone_port)], env)
        await wait_ready(f"http://127.0.0.1:{base_port}", baseline)
        await wait_ready(f"http://127.0.0.1:{alone_port}", alone)
        print(f"web chat, acknowledged follow-ups: {args.messages} per socket and round, "
              f"{inflight} in flight per socket, {rounds} rounds (medians), database "
              f"{args.db}, {os.cpu_count()} cores")
        print(f"{'sockets':>7}  {'server':<27}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'first p50':>11}   msg/s of each round")
        for sockets in levels:
            results: dict[str, list[Figures]] = {"baseline": [], "app": [], "alone": []}
            for n in range(rounds):
                # Alternating which goes first spreads the machine's noise over them.
                order = (("baseline", base_port), ("alone", alone_port), ("app", app_port))
                for name, port in order if n % 2 == 0 else reversed(order):
                    sampler = None
                    if name == "app" and getattr(args, "profile", None):
                        profiles.append(f"{args.profile}.{sockets}.{n}")
                        sampler = start_profile(app.pid, profiles[-1])
                    figures = await measure(f"http://127.0.0.1:{port}", sockets,
                                            args.messages, inflight, f"{sockets}.{n}")
                    if sampler is not None:
                        stop_sampling(sampler)
                    results[name].append(figures)
                    if name == "app":
                        acked += figures.acked
                    if figures.errors:
                        print(f"  {name} errors: {sorted(set(figures.errors))}")
            base_rate = statistics.median(f.rate for f in results["baseline"])
            for name, label in (("baseline", "bare aiohttp (baseline)"),
                                ("alone", "web chat alone (no ingest)"),
                                ("app", "contact centre")):
                ratio = statistics.median(f.rate for f in results[name]) / base_rate
                print(f"{_row(sockets, label, results[name])}   ({ratio:.3f} of the baseline)")
        if profiles:
            print_profile(profiles)
        print(f"peak RSS: contact centre {peak_rss_mb(app.pid) or 0:.0f} MB, "
              f"web chat alone {peak_rss_mb(alone.pid) or 0:.0f} MB, "
              f"bare aiohttp {peak_rss_mb(baseline.pid) or 0:.0f} MB")
        stored = await count_stored(database)
        print(f"stored {stored} inbound messages; the app acknowledged {acked}")
    finally:
        for process in (app, baseline, alone):
            if process is None:
                continue
            process.terminate()
            process.wait(timeout=20)
        redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    asyncio.run(main())
