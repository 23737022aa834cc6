"""What the benchmarks share: starting the app and a baseline server side by side, scratch
databases, and reading a process's CPU time and peak memory from /proc.

Every benchmark measures the product beside a baseline started in the same run, on the
same machine, so a noisy neighbour weighs on both and the ratio stays meaningful."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`python args…` in the project's folder, its output discarded."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


def cpu_seconds(pid: int) -> float:
    """The CPU time the process has used (user and system), in seconds: on a shared machine,
    what a message costs the app is steadier than how long it took."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB; None where /proc has no such line."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class SideBySide:
    """The app (`python app.py serve`) and a baseline server, both ready."""

    public_url: str
    baseline_url: str
    app: subprocess.Popen
    engine: AsyncEngine         # the app's database, for counting what became visible


@contextlib.asynccontextmanager
async def app_beside_baseline(database: str, redis_url: str, baseline_source: str,
                              **environment: str) -> AsyncIterator[SideBySide]:
    """The app on `database` and `redis_url` (flushed before and after) with `environment`
    added, and `baseline_source` (a script given its port as argv[1]) beside it."""
    from inbox.storage.db import make_engine

    app_port, base_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{app_port}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "PUBLIC_URL": public_url,
           "CC_CONFIG": str(ROOT / "config.yaml"), **environment}
    app = start(["app.py", "serve", "--port", str(app_port)], env)
    baseline = start(["-c", baseline_source, str(base_port)], env)
    engine = make_engine(database, pool=False)
    try:
        await wait_ready(public_url, app)
        await wait_ready(f"http://127.0.0.1:{base_port}", baseline)
        yield SideBySide(public_url, f"http://127.0.0.1:{base_port}", app, engine)
    finally:
        await engine.dispose()
        for process in (app, baseline):
            process.terminate()
            process.wait(timeout=20)
        redis.Redis.from_url(redis_url).flushdb()


def database_options(parser, redis_default: str) -> None:
    """`--db`, `--postgres-url` and `--redis-url`, as every benchmark on a scratch database
    takes them."""
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=redis_default,
                        help=f"a Redis database the run may flush (default {redis_default})")


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
    """Inbound messages stored in `database`."""
    from sqlalchemy import func, select

    from inbox.storage.db import make_engine
    from inbox.storage.schema import messages

    engine = make_engine(database, pool=False)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(messages).where(
            messages.c.direction == "in"))).scalar_one()
    await engine.dispose()
    return count


def start_profile(pid: int, path: str) -> subprocess.Popen:
    """py-spy sampling `pid` into `path` (collapsed stacks) until `stop_sampling`."""
    # The venv's py-spy when the benchmark runs from it without its bin/ on PATH.
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    # --gil: only what holds the interpreter, so threads waiting on SQLite or Redis do not
    # count as work.
    sampler = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250", "--gil",
                                "--format", "raw", "--output", path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)   # py-spy attaches before the first request
    return sampler


def stop_sampling(sampler: subprocess.Popen) -> None:
    sampler.send_signal(signal.SIGINT)
    sampler.wait(timeout=30)


def print_profile(paths: Iterable[str], top: int = 25) -> None:
    """The functions with the largest inclusive share of the samples in `paths`."""
    total = 0
    inclusive: Counter[str] = Counter()
    for path in paths:
        for line in Path(path).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            samples = int(count)
            total += samples
            # Each function once per stack, however deep it recurses.
            for frame in {frame.split(" (")[0] for frame in stack.split(";")}:
                inclusive[frame] += samples
    print(f"profile: {total} samples, functions by inclusive share")
    for frame, samples in inclusive.most_common(top):
        print(f"  {samples / total:>6.1%}  {frame}")
