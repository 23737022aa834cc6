"""Browser tests: the real app and worker (tests/e2e/support.System) driven by a headless
Chromium through Playwright's async API. They run on SQLite only: the API paths they use run
on PostgreSQL in tests/e2e, and a browser per database would double the slowest tests.

Chromium is Debian's (`apt-get install chromium`), not a Playwright download; CC_CHROMIUM
points elsewhere. Without it the tests are skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright

from inbox.db import migrate
from tests.e2e.support import System, receive

CHROMIUM = Path(os.environ.get("CC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ALL_QUEUES = ("migration-registration,migration-support,dost-baku-1,dost-baku-2,"
              "call-centre-142,triage")
AGENT = ("leyla.mammadova@example.gov.az", "çay-və-limon-42", "Leyla Məmmədova")
SUPERVISOR = ("elvin.huseynov@example.gov.az", "nar-və-heyva-17", "Elvin Hüseynov")
TIMEOUT_MS = 10_000


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only (overrides the suite's SQLite + PostgreSQL parametrization)."""
    url = f"sqlite:///{tmp_path / 'contact-centre.db'}"
    migrate(url)
    return url


@pytest.fixture
async def system(environment, tmp_path) -> AsyncIterator[System]:
    running = System(environment, tmp_path)
    for email, password, name in (AGENT, SUPERVISOR):
        role = "agent" if (email, password, name) == AGENT else "supervisor"
        running.run(["app.py", "user", "add", email, "--name", name, "--role", role,
                     "--queues", ALL_QUEUES, "--languages", "az,ru,en", "--password-stdin"],
                    stdin=password + "\n")
    await running.start_app()
    running.start_worker()
    yield running
    running.stop()


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
