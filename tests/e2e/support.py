"""Running the real system for end-to-end tests: `app.py serve` and `worker.py` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

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

    def add_user(self, email: str, role: str, queues: str, password: str) -> None:
        self.run(["app.py", "user", "add", email, "--name", email.split("@")[0], "--role", role,
                  "--queues", queues, "--languages", "az,ru,en", "--password-stdin"],
                 stdin=password + "\n")

    async def start_app(self) -> subprocess.Popen:
        process = self._spawn("app", ["app.py", "serve", "--port", str(self.port)])
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

    def start_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        return self._spawn("worker", ["worker.py"], extra_env)

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
