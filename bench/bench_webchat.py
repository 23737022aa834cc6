"""Web-chat ingest throughput: messages/s and ack latency from N concurrent sockets.

Starts the real app (`python app.py serve`) on a fresh database and a scratch Redis database,
and, as the baseline measured in the same run, a bare aiohttp WebSocket server that parses
each frame and answers an ack without storing anything. Each socket says hello, then sends
messages one after another, waiting for each ack (what a resident's window does).

    python -m bench.bench_webchat [--sockets 1,8,32] [--messages 50] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
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

TEXTS = [
    "Salam, reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm.",
    "Pensiyam bu ay kartıma köçürülməyib, kömək edin.",
    "Здравствуйте, какие документы нужны для вида на жительство?",
    "Hello, what are the opening hours of DOST centre No. 2 in Baku?",
    "salam unvanli yardim ucun muraciet etmek isteyirem FIN 5ZJ8K2L",
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(base: str, process: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def one_socket(base: str, index: int, count: int, latencies: list[float]) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{base}/chat/ws") as ws:
        await ws.send_json({"type": "hello", "session": None, "name": f"Sakin {index}",
                            "language": "az"})
        while (await ws.receive_json())["type"] != "welcome":
            pass
        for n in range(count):
            started = time.perf_counter()
            client_id = f"{index}-{n}"
            await ws.send_json({"type": "message", "id": client_id,
                                "text": TEXTS[n % len(TEXTS)]})
            while True:
                frame = await ws.receive_json()
                if frame.get("type") == "ack" and frame.get("id") == client_id:
                    break
            latencies.append(time.perf_counter() - started)


async def measure(base: str, sockets: int, messages: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(one_socket(base, i, messages, latencies) for i in range(sockets)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="1,8,32")
    parser.add_argument("--messages", type=int, default=50, help="per socket")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
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


async def run_with(args: argparse.Namespace, levels: list[int], database: str,
                   config: Path) -> None:
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": BENCH_REDIS,
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "CC_CONFIG": str(config)}

    app_port, base_port = free_port(), free_port()
    app = start(["app.py", "serve", "--port", str(app_port)], env)
    baseline = start(["-c", BASELINE_SERVER, str(base_port)], env)
    try:
        await wait_ready(f"http://127.0.0.1:{app_port}", app)
        await wait_ready(f"http://127.0.0.1:{base_port}", baseline)
        print(f"web-chat ingest, {args.messages} messages per socket, database {args.db}, "
              f"{os.cpu_count()} cores")
        print(f"{'sockets':>7}  {'server':<22}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for sockets in levels:
            servers = (("bare aiohttp (baseline)", base_port), ("contact centre", app_port))
            for name, port in servers:
                rate, p50, p99 = await measure(f"http://127.0.0.1:{port}", sockets,
                                               args.messages)
                print(f"{sockets:>7}  {name:<22}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")
        stored = await count_stored(database)
        expected = sum(levels) * args.messages
        print(f"stored {stored} of {expected} acknowledged messages")
    finally:
        for process in (app, baseline):
            process.terminate()
            process.wait(timeout=20)
        redis.Redis.from_url(BENCH_REDIS).flushdb()


@contextlib.asynccontextmanager
async def scratch_database(kind: str, postgres_url: str) -> AsyncIterator[str]:
    """The URL of a fresh database of `kind` (sqlite or postgresql), removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            yield f"sqlite:///{scratch}/bench.db"
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"cc_bench_{os.getpid()}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(postgres_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def count_stored(database: str) -> int:
    from sqlalchemy import func, select

    from inbox.storage.db import make_engine
    from inbox.storage.schema import messages

    engine = make_engine(database, pool=False)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(messages).where(
            messages.c.direction == "in"))).scalar_one()
    await engine.dispose()
    return count


if __name__ == "__main__":
    asyncio.run(main())
