"""Browser tests: the real app and worker (tests/e2e/support.System) driven by a headless
Chromium through Playwright's async API. They run on SQLite only: the API paths they use run
on PostgreSQL in tests/e2e, and a browser per database would double the slowest tests.

Chromium is Debian's (`apt-get install chromium`), not a Playwright download; CC_CHROMIUM
points elsewhere. Without it the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from inbox.storage.db import migrate
from tests.channels.fake_twilio import FakeTwilio
from tests.e2e.support import System, free_port, receive

CHROMIUM = Path(os.environ.get("CC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ALL_QUEUES = ("migration-registration,migration-support,dost-baku-1,dost-baku-2,"
              "call-centre-142,triage")
AGENT = ("leyla.mammadova@example.gov.az", "çay-və-limon-42", "Leyla Məmmədova")
SUPERVISOR = ("elvin.huseynov@example.gov.az", "nar-və-heyva-17", "Elvin Hüseynov")
TIMEOUT_MS = 10_000
TWILIO_ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"   # the fixtures' AccountSid
TWILIO_AUTH_TOKEN = "browser-test-auth-token-0123456789"
RECORDINGS_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only (overrides the suite's SQLite + PostgreSQL parametrization)."""
    url = f"sqlite:///{tmp_path / 'contact-centre.db'}"
    migrate(url)
    return url


async def _start(environment: dict[str, str], tmp_path: Path,
                 extra: dict[str, str] | None = None) -> System:
    running = System({**environment, **(extra or {})}, tmp_path)
    for email, password, name in (AGENT, SUPERVISOR):
        role = "agent" if (email, password, name) == AGENT else "supervisor"
        running.run(["app.py", "user", "add", email, "--name", name, "--role", role,
                     "--queues", ALL_QUEUES, "--languages", "az,ru,en", "--password-stdin"],
                    stdin=password + "\n")
    await running.start_app()
    running.start_worker()
    return running


def _stop(running: System, grace_s: float = 3.0) -> None:
    """Stop the processes, the app at most `grace_s` later than asked: its live streams notice
    a browser that went away only at their next heartbeat (15 s), and shutdown waits for them."""
    for process in running.processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running.processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            System.kill(process)
    running.stop()


@pytest.fixture
async def system(environment, tmp_path) -> AsyncIterator[System]:
    running = await _start(environment, tmp_path)
    yield running
    _stop(running)


@dataclass
class TwilioStandIn:
    """FakeTwilio (tests/channels) served on a local port, plus voicemail recordings."""

    fake: FakeTwilio
    base_url: str
    recordings: dict[str, tuple[bytes, str]] = field(default_factory=dict)


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandIn]:
    fake = FakeTwilio(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    app = fake.app()
    port = free_port()
    stand_in = TwilioStandIn(fake, f"http://127.0.0.1:{port}")

    async def recording(request: web.Request) -> web.Response:
        found = stand_in.recordings.get(request.match_info["recording_sid"])
        if found is None:
            return web.json_response({"code": 20404, "status": 404}, status=404)
        return web.Response(body=found[0], content_type=found[1])

    app.router.add_get(RECORDINGS_PATH, recording)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield stand_in
    await runner.cleanup()


@pytest.fixture
async def twilio_system(environment, tmp_path, twilio) -> AsyncIterator[System]:
    """The system with Twilio configured: signed webhooks accepted, and its REST calls
    (sends, media and recordings) answered by the local stand-in."""
    running = await _start(environment, tmp_path, {
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_API_BASE": twilio.base_url})
    yield running
    _stop(running)


@pytest.fixture
async def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` "
                    "(or set CC_CHROMIUM)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Watched:
    """A page with every uncaught script error and every dialog it raised."""

    page: object
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser):
    async def opener(width: int = 1440, height: int = 900) -> Watched:
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            locale="en-GB", timezone_id="Asia/Baku")
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        watched = Watched(page)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))

        async def dismiss(dialog) -> None:
            watched.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        return watched
    return opener


async def sign_in(watched: Watched, base_url: str, who: tuple[str, str, str],
                  start: str = "/console") -> None:
    page = watched.page
    await page.goto(base_url + start)
    await page.wait_for_url("**/console/login?next=**")
    await page.fill("#login-email", who[0])
    await page.fill("#login-password", who[1])
    await page.click("#login-submit")
    await page.wait_for_url(base_url + start)
    await page.wait_for_selector('#live-state[data-state="live"]')


class Resident:
    """A resident in the web chat, speaking the /chat/ws protocol."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, name: str):
        self.http, self.base_url, self.name = http, base_url, name
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sent = 0

    async def say(self, text: str, language: str = "az") -> int:
        if self.ws is None:
            self.ws = await self.http.ws_connect(f"{self.base_url}/chat/ws")
            await self.ws.send_json({"type": "hello", "session": None, "name": self.name,
                                     "language": language})
            await receive(self.ws, "welcome", 10)
        self.sent += 1
        await self.ws.send_json({"type": "message", "id": f"m-{self.sent}", "text": text})
        return (await receive(self.ws, "ack", 10))["message_id"]

    async def next_reply(self, timeout: float = 15) -> dict:
        frame = await receive(self.ws, "message", timeout)
        return frame["message"]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
