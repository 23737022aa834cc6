"""Web-chat fan-out: N residents' chat windows held open on one app process, the latency of an
agent's reply reaching its window, and the app's resident memory per open window.

Starts the real app (`python app.py serve`) on a fresh SQLite database and a scratch Redis
database, and, as the baseline measured in the same run, a bare aiohttp WebSocket server
holding the same number of sockets and passing frames from one Redis subscription to them
(the reply's path without the app: on a shared machine its tail shows what the machine itself
adds). The open-files limit is raised to its hard limit (the servers and the clients inherit
it). The sockets are spread over `--clients` client processes; each window says hello as the
widget does and then only listens, from the moment it opens (so it answers the server's
pings); the clients run without the garbage collector while they listen, so the instrument's
own pauses are not counted as the app's. Each line ends with the machine's load average.

A reply is published as the delivery job's `send` publishes it (`inbox.live.publish_to_chat`:
Redis pub/sub, the app's live hub, the window's socket), `--replies` of them at `--rate` a
second to windows picked at random; its latency runs from the publish to the frame's arrival
in the client (one machine, one clock). Memory is the app's resident set (VmRSS) with every
window open and said hello, less its resident set before the first one, per window.

    python -m bench.bench_webchat_fanout [--sockets 10000] [--clients 4] [--replies 2000]
                                         [--rate 200] [--no-baseline] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import redis
import redis.asyncio as aioredis

from bench.bench_webchat import (
    BENCH_REDIS,
    ROOT,
    free_port,
    start,
    unlimited_config,
    wait_ready,
)
from inbox.live import WEBCHAT_CHANNEL, channel_name, publish_to_chat

CONNECTS_AT_ONCE = 100

# The baseline: bare aiohttp holding the windows, a session id each, and one Redis
# subscription whose frames go to their session's socket: the same path a reply takes in the
# app (publish, pub/sub, one subscriber, the socket), without the app.
FANOUT_BASELINE = textwrap.dedent("""
    import asyncio, json, secrets, sys
    import redis.asyncio as aioredis
    from aiohttp import web

    sockets = {}

    async def ws(request):
        sock = web.WebSocketResponse(heartbeat=30)
        await sock.prepare(request)
        session = secrets.token_urlsafe(18)
        async for msg in sock:
            if json.loads(msg.data)["type"] == "hello":
                sockets[session] = sock
                await sock.send_json({"type": "welcome", "session": session + ".x",
                                      "history": []})
        sockets.pop(session, None)
        return sock

    async def listen(app):
        redis = aioredis.Redis.from_url(sys.argv[2])
        async def run():
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(sys.argv[3])
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        envelope = json.loads(message["data"])
                        sock = sockets.get(envelope["session"])
                        if sock is not None:
                            await sock.send_json(envelope["frame"])
        task = asyncio.create_task(run())
        yield
        task.cancel()

    app = web.Application()
    app.cleanup_ctx.append(listen)
    app.router.add_get("/chat/ws", ws)
    app.router.add_get("/readyz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def raise_open_files() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- one client process ----------------------------------------------------------------------

async def client(base: str, count: int) -> None:
    """Open `count` windows, print their session ids, then time every reply until stdin says
    stop; print the latencies (ms)."""
    latencies: list[float] = []
    sessions: list[str] = []
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        listeners: list[asyncio.Task] = []

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame.get("type") == "message":
                    latencies.append((time.time() - float(frame["message"]["body"])) * 1000)

        async def open_one() -> None:
            async with gate:
                ws = await http.ws_connect(f"{base}/chat/ws", autoping=True, heartbeat=None)
                await ws.send_json({"type": "hello", "session": None, "language": "az"})
                while True:
                    frame = json.loads((await ws.receive()).data)
                    if frame["type"] == "welcome":
                        break
                sessions.append(frame["session"].split(".", 1)[0])
                sockets.append(ws)
                # Read from the start: a window that does not answer the server's pings
                # while the others open (a slow machine) is closed by its heartbeat.
                listeners.append(asyncio.create_task(listen(ws)))

        await asyncio.gather(*(open_one() for _ in range(count)))
        # The client is the measuring instrument: a collector's full pass over its thousands
        # of sockets (some 0.5 s on the shared machine) would be charged to the app's
        # fan-out. It allocates little while it listens, so it runs without the collector.
        gc.collect()
        gc.freeze()
        gc.disable()
        print("READY " + json.dumps(sessions), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for task in listeners:
            task.cancel()
        print("LATENCIES " + json.dumps(latencies), flush=True)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# --- the run ---------------------------------------------------------------------------------

async def hold(base: str, sockets: int, clients: int) -> tuple[list, list[str], float]:
    shares = [sockets // clients + (1 if n < sockets % clients else 0) for n in range(clients)]
    started = time.monotonic()
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bench_webchat_fanout", "--client", base, str(share),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=2 ** 26) for share in shares]
    sessions: list[str] = []
    for process in processes:
        line = (await process.stdout.readline()).decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"a client failed to open its windows: {line[:200]!r}")
        sessions.extend(json.loads(line[6:]))
    return processes, sessions, time.monotonic() - started


async def release(processes: list) -> list[float]:
    latencies: list[float] = []
    for process in processes:
        process.stdin.write(b"stop\n")
        await process.stdin.drain()
    for process in processes:
        line = (await process.stdout.readline()).decode()
        if line.startswith("LATENCIES "):
            latencies.extend(json.loads(line[10:]))
        await process.wait()
    return latencies


async def publish_replies(redis_url: str, sessions: list[str], replies: int,
                          rate: float) -> None:
    publisher = aioredis.Redis.from_url(redis_url)
    interval = 1 / rate
    next_at = time.monotonic()
    for n in range(replies):
        session = random.choice(sessions)
        await publish_to_chat(publisher, session, {"type": "message", "message": {
            "id": 10_000_000 + n, "direction": "out", "body": repr(time.time()),
            "attachments": [], "created_at": None, "author": {"kind": "agent"},
            "delivery_status": "sent"}})
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await publisher.aclose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> None:
    limit = raise_open_files()
    redis.Redis.from_url(args.redis_url).flushdb()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as scratch:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch}/bench.db",
               "REDIS_URL": args.redis_url, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING",
               "CC_CONFIG": str(unlimited_config(Path(scratch)))}
        print(f"web chat fan-out: {args.sockets} windows over {args.clients} client "
              f"processes, {args.replies} replies at {args.rate:.0f}/s, open-files limit "
              f"{limit}, {os.cpu_count()} cores")
        pubsub_channel = channel_name(redis.Redis.from_url(args.redis_url), WEBCHAT_CHANNEL)
        servers = (("bare aiohttp (baseline)", ["-c", FANOUT_BASELINE]),
                   ("contact centre", ["app.py", "serve", "--port"]))
        for name, command in servers[1:] if args.no_baseline else servers:
            port = free_port()
            extra = [args.redis_url, pubsub_channel] if command[0] == "-c" else []
            server = start([*command, str(port), *extra], env)
            base = f"http://127.0.0.1:{port}"
            try:
                await wait_ready(base, server)
                idle = rss_kb(server.pid)
                processes, sessions, took = await hold(base, args.sockets, args.clients)
                await asyncio.sleep(2)
                held = rss_kb(server.pid)
                per_window = (held - idle) / len(sessions)
                line = (f"{name:<26} {len(sessions)} windows open in {took:.1f} s; RSS "
                        f"{idle / 1024:.0f} MB idle, {held / 1024:.0f} MB with them: "
                        f"{per_window:.1f} KB a window")
                await publish_replies(args.redis_url, sessions, args.replies, args.rate)
                await asyncio.sleep(3)
                latencies = await release(processes)
                line += (f"; replies {len(latencies)}/{args.replies} arrived, fan-out "
                         f"p50 {percentile(latencies, 0.5):.1f} ms, p99 "
                         f"{percentile(latencies, 0.99):.1f} ms, max "
                         f"{max(latencies, default=float('nan')):.1f} ms")
                if latencies:
                    line += f", mean {statistics.fmean(latencies):.1f} ms"
                print(line + f" (load average {os.getloadavg()[0]:.1f})", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=60)
    redis.Redis.from_url(args.redis_url).flushdb()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--client":
        raise_open_files()
        asyncio.run(client(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200, help="replies a second")
    parser.add_argument("--no-baseline", action="store_true",
                        help="measure the app alone (profiling runs)")
    parser.add_argument("--redis-url", default=BENCH_REDIS,
                        help="a scratch Redis database (flushed before and after)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
