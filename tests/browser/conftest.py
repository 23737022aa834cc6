"""Browser tests: the real app and worker (tests/e2e/support.System) driven by a headless
Chromium through Playwright's async API. They run on SQLite only: the API paths they use run
on PostgreSQL in tests/e2e, and a browser per database would double the slowest tests.

Chromium is Debian's (`apt-get install chromium`), not a Playwright download; CC_CHROMIUM
points elsewhere. Without it the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright, expect
from redis import Redis
from rq import Queue, Worker

from inbox.jobs import QUEUES
from inbox.storage.schema import metadata
from settings import load_config
from tests.channels.fake_twilio import FakeTwilio
from tests.conftest import ROOT, TEST_CONFIG, TEST_REDIS_URL, new_sqlite
from tests.e2e.support import BackgroundServers, System, receive
from worker import periodic_jobs

CHROMIUM = Path(os.environ.get("CC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ALL_QUEUES = ("migration-registration,migration-support,dost-baku-1,dost-baku-2,"
              "call-centre-142,triage")
AGENT = ("leyla.mammadova@example.gov.az", "çay-və-limon-42", "Leyla Məmmədova")
SUPERVISOR = ("elvin.huseynov@example.gov.az", "nar-və-heyva-17", "Elvin Hüseynov")
TIMEOUT_MS = 15_000
# `expect(...)` assertions wait as long as page actions do (their own default is 5 s, short
# on a loaded machine).
expect.set_options(timeout=TIMEOUT_MS)
TWILIO_ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"   # the fixtures' AccountSid
TWILIO_AUTH_TOKEN = "browser-test-auth-token-0123456789"
RECORDINGS_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"
HERE = Path(__file__).resolve().parent
# What `environment` (tests/conftest.py) sets for a test's own system.
ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "CC_CONFIG", "SECRET_KEY", "CC_MODEL_DIR")


@pytest.fixture
def db_url(sqlite_template, tmp_path) -> str:
    """SQLite only (overrides the suite's SQLite + PostgreSQL parametrization)."""
    return new_sqlite(sqlite_template, tmp_path / "contact-centre.db")


def _add_staff(running: System) -> None:
    """The agent and the supervisor every browser test signs in as."""
    for (email, password, name), role in ((AGENT, "agent"), (SUPERVISOR, "supervisor")):
        running.add_user(email, role, ALL_QUEUES, password, name=name)


async def _start(environment: dict[str, str], tmp_path: Path,
                 extra: dict[str, str] | None = None) -> System:
    """A system of the test's own (its configuration or its processes are the test's
    subject); the shared one stops first, as both would take jobs from the same Redis."""
    SHARED.stop()
    running = System({**environment, **(extra or {})}, tmp_path)
    _add_staff(running)
    running.start()
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


# --- one system shared by the tests that configure it alike -----------------------------------

class SharedSystem:
    """The system (app, worker, SQLite) that consecutive browser tests of one configuration
    share: started once, and between tests brought back to the state of a new one (no rows,
    none of its Redis keys, no queued jobs, the agent and the supervisor as created) instead
    of being started again, which costs seconds of imports per process.

    Each test still gets what a new system would give it: the previous test's browser is
    closed, its sessions and conversations gone, and the ids start again from 1. A test that
    needs a configuration of its own gets a system of its own (`_start`), as before."""

    IDLE_TIMEOUT_S = 20

    def __init__(self) -> None:
        self.running: System | None = None
        self.key: tuple | None = None
        self.starts = 0
        self.resets = 0
        self.restarts: list[str] = []   # why a system was started again, not reset
        # The staff's rows as `_add_staff` saved them: put back as they were, since hashing
        # their passwords again (argon2, memory-hard by design) costs a second a test.
        self.staff: tuple[list[str], list[tuple]] = ([], [])
        # A test that failed may have left anything behind: the next one gets a new system,
        # so that one failure is reported once.
        self.failed: str | None = None

    def fresh(self, name: str, extra: dict[str, str], config_text: str,
              base_dir: Path, template: Path) -> System:
        key = (name, tuple(sorted(extra.items())), config_text)
        if self.running is not None and self.key == key:
            problem = self.failed or self._settle()
            if problem is None:
                self._reset()
                self.resets += 1
                return self.running
            self.restarts.append(problem)
        self.stop()
        directory = base_dir / f"{name}-{self.starts}"
        directory.mkdir(parents=True)
        config = directory / "config.yaml"
        # Media of its own, emptied between tests (the default is var/media, for all).
        config.write_text(config_text.replace("directory: var/media",
                                              f"directory: {directory / 'media'}"), "utf-8")
        database = new_sqlite(template, directory / "contact-centre.db")
        env = {"DATABASE_URL": database, "REDIS_URL": TEST_REDIS_URL, "CC_CONFIG": str(config),
               "SECRET_KEY": "test-secret-key", "CC_MODEL_DIR": str(ROOT / "var" / "model")}
        connection = Redis.from_url(TEST_REDIS_URL)
        connection.flushdb()
        connection.close()
        running = System({**env, **extra}, directory)
        self.running, self.key = running, key
        self.starts += 1
        _add_staff(running)
        self.staff = self._rows(running, "users")
        running.start()
        return running

    def stop(self) -> None:
        self.failed = None
        if self.running is not None:
            running, self.running, self.key = self.running, None, None
            _stop(running)

    def _settle(self) -> str | None:
        """Waits until the system is idle: no job running, none of its work left in the
        journal or mid-send. Why it would not be, if it is not."""
        running = self.running
        if any(process.poll() is not None for process in running.processes):
            return "a process of the system had ended"
        connection = Redis.from_url(TEST_REDIS_URL)
        database = sqlite3.connect(running.env["DATABASE_URL"].removeprefix("sqlite:///"),
                                   timeout=30)
        try:
            # No periodic job is enqueued meanwhile: their locks (PeriodicJobs) are taken.
            config = load_config(running.env["CC_CONFIG"], env=running.env)
            for name in periodic_jobs(config):
                connection.set(f"cc:periodic:{name}", "1", px=self.IDLE_TIMEOUT_S * 1000)
            for name in QUEUES:
                registry = Queue(name, connection=connection).scheduled_job_registry
                for job_id in registry.get_job_ids():
                    registry.remove(job_id, delete_job=True)
            deadline = time.monotonic() + self.IDLE_TIMEOUT_S
            worker = running.processes[-1].pid
            while not self._idle(connection, database, worker):
                if time.monotonic() > deadline:
                    return "the worker or the intake was still busy"
                time.sleep(0.05)
            return None
        finally:
            connection.close()
            database.close()

    @staticmethod
    def _idle(connection: Redis, database: sqlite3.Connection, worker: int) -> bool:
        queues = [Queue(name, connection=connection) for name in QUEUES]
        if any(queue.count or queue.started_job_registry.get_job_ids() for queue in queues):
            return False
        if any(w.get_state() == "busy" for w in Worker.all(connection=connection)
               if w.pid == worker):
            return False
        (journal,) = database.execute("SELECT count(*) FROM intake").fetchone()
        (sending,) = database.execute(
            "SELECT count(*) FROM messages WHERE delivery_status = 'sending'").fetchone()
        return journal == 0 and sending == 0

    def _reset(self) -> None:
        running = self.running
        database = sqlite3.connect(running.env["DATABASE_URL"].removeprefix("sqlite:///"),
                                   timeout=30)
        try:
            with database:
                database.execute("PRAGMA foreign_keys=OFF")
                for table in reversed(metadata.sorted_tables):
                    database.execute(f'DELETE FROM "{table.name}"')
                if database.execute("SELECT 1 FROM sqlite_master "
                                    "WHERE name = 'sqlite_sequence'").fetchone():
                    database.execute("DELETE FROM sqlite_sequence")
                columns, rows = self.staff
                database.executemany(
                    f'INSERT INTO users ({", ".join(columns)}) '
                    f'VALUES ({", ".join("?" for _ in columns)})', rows)
        finally:
            database.close()
        connection = Redis.from_url(TEST_REDIS_URL)
        try:
            for name in QUEUES:
                Queue(name, connection=connection).empty()
            # Everything the system keeps in Redis but rq's own bookkeeping of its worker.
            stale = [key for key in connection.scan_iter() if not key.startswith(b"rq:")]
            if stale:
                connection.delete(*stale)
        finally:
            connection.close()
        shutil.rmtree(Path(running.log_dir) / "media", ignore_errors=True)

    @staticmethod
    def _rows(running: System, table: str) -> tuple[list[str], list[tuple]]:
        database = sqlite3.connect(running.env["DATABASE_URL"].removeprefix("sqlite:///"))
        try:
            cursor = database.execute(f'SELECT * FROM "{table}"')
            return [f'"{d[0]}"' for d in cursor.description], cursor.fetchall()
        finally:
            database.close()


SHARED = SharedSystem()


@pytest.fixture(scope="session")
def _shared_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared-systems")


@pytest.fixture
def shared_system(redis_url, _shared_dir, sqlite_template, monkeypatch):
    """`use(name, extra_env, config_text)`: the shared system of that configuration, as new,
    with this process's environment pointing at it (DATABASE_URL, REDIS_URL, CC_CONFIG...)
    as `environment` would for a system of the test's own."""
    def use(name: str = "default", extra: dict[str, str] | None = None,
            config_text: str | None = None) -> System:
        running = SHARED.fresh(name, extra or {},
                               config_text or TEST_CONFIG.read_text("utf-8"), _shared_dir,
                               sqlite_template)
        for key in ENVIRONMENT:
            monkeypatch.setenv(key, running.env[key])
        return running
    return use


@pytest.fixture
def system(shared_system) -> System:
    return shared_system()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within each browser test module, the tests of one shared system run one after the
    other (in their written order otherwise): a system started for one configuration then
    serves all of them."""
    def configuration(item: pytest.Item) -> str:
        return next((name for name in SHARED_FIXTURES if name in item.fixturenames), "")

    position = 0
    while position < len(items):
        module = items[position].path
        end = position
        while end < len(items) and items[end].path == module:
            end += 1
        if module.parent == HERE:
            group = items[position:end]
            first = {}
            for item in group:
                first.setdefault(configuration(item), len(first))
            items[position:end] = sorted(group, key=lambda item: first[configuration(item)])
        position = end


# The fixtures that hand out a shared system; test modules add theirs (widget_system...).
SHARED_FIXTURES = ["system", "twilio_system", "mail_system", "widget_system"]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared system stops once the browser tests are done: every other test uses the
    same Redis database, and a worker left running would take its jobs."""
    if nextitem is None or nextitem.path.parent != HERE:
        SHARED.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if report.failed and "shared_system" in item.fixturenames:
        SHARED.failed = f"{item.name} failed"
    return report


def pytest_sessionfinish() -> None:
    SHARED.stop()
    STAND_INS.close()


def pytest_terminal_summary(terminalreporter) -> None:
    if SHARED.starts:
        restarts = "".join(f"; started again: {why}" for why in SHARED.restarts)
        terminalreporter.write_line(
            f"browser tests: {SHARED.starts} shared system start(s), {SHARED.resets} "
            f"reset(s) between tests{restarts}")


# --- provider stand-ins that outlive a test (the shared system keeps their address) --------

class StandIns:
    """The background servers, started at first use."""

    def __init__(self) -> None:
        self.servers: BackgroundServers | None = None

    def serve(self, app: web.Application) -> int:
        """Serves `app` on a free local port until the session ends; that port."""
        if self.servers is None:
            self.servers = BackgroundServers()
        return self.servers.serve(app)

    def close(self) -> None:
        if self.servers is not None:
            self.servers.close()
            self.servers = None


STAND_INS = StandIns()


@dataclass
class TwilioStandIn:
    """FakeTwilio (tests/channels) served on a local port, plus voicemail recordings."""

    fake: FakeTwilio
    base_url: str
    recordings: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def renew(self) -> TwilioStandIn:
        """As new for the next test: the same server, the same fake (its routes are the
        fake's methods), nothing recorded."""
        self.fake.__init__(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
        self.recordings.clear()
        return self


@pytest.fixture(scope="session")
def _twilio_stand_in() -> TwilioStandIn:
    fake = FakeTwilio(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    app = fake.app()
    stand_in = TwilioStandIn(fake, "")

    async def recording(request: web.Request) -> web.Response:
        found = stand_in.recordings.get(request.match_info["recording_sid"])
        if found is None:
            return web.json_response({"code": 20404, "status": 404}, status=404)
        return web.Response(body=found[0], content_type=found[1])

    app.router.add_get(RECORDINGS_PATH, recording)
    stand_in.base_url = f"http://127.0.0.1:{STAND_INS.serve(app)}"
    return stand_in


@pytest.fixture
def twilio(_twilio_stand_in) -> TwilioStandIn:
    return _twilio_stand_in.renew()


@pytest.fixture
def twilio_system(shared_system, twilio) -> System:
    """The system with Twilio configured: signed webhooks accepted, and its REST calls
    (sends, media and recordings) answered by the local stand-in."""
    return shared_system("twilio", {
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_API_BASE": twilio.base_url})


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
    """Sign in from the login page `start` leads to, and wait for `start`: for its live
    updates where it has them (not the admin pages)."""
    page = watched.page
    await page.goto(base_url + start)
    await page.wait_for_url("**/console/login?next=**")
    await page.fill("#login-email", who[0])
    await page.fill("#login-password", who[1])
    await page.click("#login-submit")
    await page.wait_for_url(base_url + start)
    if not start.startswith("/admin"):
        await page.wait_for_selector('#live-state[data-state="live"]')


class Resident:
    """A resident in the web chat, speaking the /chat/ws protocol."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, name: str):
        self.http, self.base_url, self.name = http, base_url, name
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sent = 0
        self.session: str | None = None     # the signed session key the server handed out

    async def say(self, text: str, language: str = "az") -> int:
        if self.ws is None:
            self.ws = await self.http.ws_connect(f"{self.base_url}/chat/ws")
            await self.ws.send_json({"type": "hello", "session": None, "name": self.name,
                                     "language": language})
            self.session = (await receive(self.ws, "welcome", 10))["session"]
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


# --- accessibility: axe-core, injected into the page under test --------------------------------

# scripts/test installs it (`npm ci` in tests/browser, pinned by package-lock.json); it is not
# part of the repository.
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
# The impacts a page may not have: "serious" and "critical" stop or mislead a user of a
# screen reader or of the keyboard alone.
AXE_BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA, what a public service's pages are held to.
AXE_RUN = """options => axe.run(document, options).then(result => result.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))})))"""
AXE_OPTIONS = {"runOnly": {"type": "tag",
                           "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
               "resultTypes": ["violations"]}


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's browser build; a missing one fails the test (an accessibility check that
    quietly does not run would pass every page)."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"axe-core is not installed at {AXE_SCRIPT}: run scripts/test, or "
                    "`npm ci` in tests/browser (needs Node.js and npm)", pytrace=False)
    return AXE_SCRIPT


@pytest.fixture
def axe(axe_script):
    """`await axe(page, what)`: asserts the page as it stands has no serious or critical
    axe-core violation, listing each offending element otherwise."""
    async def check(page, what: str) -> list[dict]:
        if not await page.evaluate("typeof window.axe === 'object'"):
            await page.add_script_tag(path=str(axe_script))
        violations = await page.evaluate(AXE_RUN, AXE_OPTIONS)
        blocking = [v for v in violations if v["impact"] in AXE_BLOCKING]
        report = "\n".join(f"{v['impact']} {v['id']}: {v['help']}\n" + "\n".join(
            f"    {n['target']}: {n['summary']}" for n in v["nodes"]) for v in blocking)
        assert blocking == [], f"axe-core on {what}:\n{report}"
        return violations
    return check
