"""Running the real system for end-to-end tests: `app.py serve` and `worker.py` processes, and
local stand-ins for the providers they call, served from a thread of their own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis import Redis
from rq import Worker

from inbox import auth, users
from inbox.context import InboxContext
from inbox.jobs import Jobs
from inbox.storage import Store
from inbox.storage.db import make_engine
from settings import load_config

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class System:
    """The app and workers as separate processes, each in its own process group so a test can
    kill a worker together with the work-horse it forked."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.log_files: list = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env["PUBLIC_URL"] = self.base_url

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None):
        log = open(self.log_dir / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        self.log_files.append(log)
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT,
                                   env={**self.env, **(extra_env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=True)

    def add_user(self, email: str, role: str, queues: str, password: str,
                 name: str | None = None, languages: str = "az,ru,en") -> None:
        """Saves the account as `app.py user add` does (its checks, then `users.save`) in this
        process: the command would import the whole app first, a second or more per user.
        The database is migrated already (the fixtures that name it migrate it)."""
        config = load_config(self.env["CC_CONFIG"], env=self.env)
        account, problems = users.checked_account(
            email, name or email.split("@")[0], role, queues, languages, config.queue_ids)
        if problem := users.password_problem(password):
            problems.append(problem)
        assert not problems, problems

        async def save() -> None:
            from tests.conftest import DEPLOYED_HASHER  # the suite's is a cheap one

            cheap, auth._hasher = auth._hasher, DEPLOYED_HASHER
            ctx = InboxContext(config=config,
                               store=Store(make_engine(self.env["DATABASE_URL"], pool=False)),
                               redis=aioredis.Redis.from_url(self.env["REDIS_URL"]),
                               jobs=Jobs(self.env["REDIS_URL"]))
            try:
                await users.save(ctx, account, password)
            finally:
                auth._hasher = cheap
                await ctx.close()
        run_apart(save())

    async def start_app(self) -> subprocess.Popen:
        process = self.launch_app()
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"the app exited with {process.returncode}: "
                                       f"{self.logs()}")
                try:
                    async with http.get(f"{self.base_url}/readyz") as response:
                        if response.status == 200:
                            return process
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the app did not become ready: {self.logs()}")

    def launch_app(self) -> subprocess.Popen:
        return self._spawn("app", ["app.py", "serve", "--port", str(self.port)])

    def start_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        return self._spawn("worker", ["worker.py"], extra_env)

    def start(self, timeout: float = 90) -> tuple[subprocess.Popen, subprocess.Popen]:
        """The app, then a worker (as the system starts them), waited for until the app is
        ready and the worker listens on its queues: a test's first wait for the worker is
        not also the wait for its start."""
        deadline = time.monotonic() + timeout
        app = self.launch_app()
        self._wait(deadline, [app], self._ready)
        worker = self.start_worker()
        connection = Redis.from_url(self.env["REDIS_URL"])
        try:
            self._wait(deadline, [app, worker], lambda: self._listening(connection, worker))
        finally:
            connection.close()
        return app, worker

    def _wait(self, deadline: float, processes: list[subprocess.Popen], done) -> None:
        while not done():
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[1]} exited with "
                                       f"{process.returncode}: {self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the system did not become ready: {self.logs()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    @staticmethod
    def _listening(connection: Redis, worker: subprocess.Popen) -> bool:
        return any(w.pid == worker.pid for w in Worker.all(connection=connection))

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self.log_files:
            log.close()


def run_apart(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine on an event loop of its own, in a thread: from plain code and from
    within a test's running loop alike."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class BackgroundServers:
    """aiohttp applications served from a thread and event loop of their own, so they outlive
    one test's event loop: stand-ins for providers that a system shared by several tests
    calls between them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stand-ins",
                                       daemon=True)
        self.thread.start()
        self.runners: list[web.AppRunner] = []

    def serve(self, app: web.Application) -> int:
        """Serves `app` on a free local port; that port."""
        async def start() -> int:
            runner = web.AppRunner(app)
            await runner.setup()
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
            self.runners.append(runner)
            return sock.getsockname()[1]
        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)

    def close(self) -> None:
        for runner in self.runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(30)
        self.runners.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float) -> dict:
    """The next frame of `kind`, skipping others (acknowledgements, typing)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {kind!r} frame within {timeout} s")
        frame = await ws.receive_json(timeout=remaining)
        if frame.get("type") == kind:
            return frame
