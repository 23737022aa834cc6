"""A Redis outage in the log: one warning without a traceback, a count of what failed, and its
end. First the OutageLog on its own, then the real app against a private Redis server that the
test stops and starts again while residents write and agents call the API."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from datetime import timedelta

import pytest
import redis

from app import create_app
from inbox.outage import OutageLog
from inbox.storage import utcnow
from inbox.storage.db import migrate
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGING_URL,
    fixture,
    inbound,
    post,
)
from tests.conftest import ROOT, TEST_CONFIG
from tests.e2e.support import free_port
from tests.inbox.test_auth import LEYLA, NIGAR, add_user, bearer, login
from web import api
from web.appkeys import CONTEXT

OUTAGE_LOGGER = "inbox.outage"


# --- OutageLog --------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_one_warning_a_count_and_its_end(caplog) -> None:
    clock = Clock()
    outage = OutageLog("Redis", clock=clock)
    caplog.set_level(logging.INFO, logger=OUTAGE_LOGGER)

    outage.answered()                  # nothing was down: nothing to say
    for _ in range(396):
        outage.failed(redis.ConnectionError("Connection refused"))
    clock.now += 8.25
    outage.answered()
    outage.answered()

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Redis is unreachable (ConnectionError: Connection refused); failures "
                    "are counted until it answers again"),
        ("WARNING", "Redis answers again after 8.2 s; 396 operation(s) failed during the "
                    "outage"),
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert not outage.down


def test_a_second_outage_is_reported_on_its_own(caplog) -> None:
    clock = Clock()
    outage = OutageLog("Redis", clock=clock)
    caplog.set_level(logging.INFO, logger=OUTAGE_LOGGER)
    for failures in (3, 2):
        for _ in range(failures):
            outage.failed(redis.TimeoutError("Timeout reading from socket"))
        clock.now += 1
        outage.answered()

    assert [r.getMessage().split(";")[1].strip() for r in caplog.records] == [
        "failures are counted until it answers again", "3 operation(s) failed during the outage",
        "failures are counted until it answers again", "2 operation(s) failed during the outage"]


def test_best_effort_counts_an_outage_and_lets_other_errors_through() -> None:
    outage = OutageLog("Redis")
    with outage.best_effort():
        raise redis.ConnectionError("gone")
    assert outage.down and outage.failures == 1
    with pytest.raises(ValueError), outage.best_effort():
        raise ValueError("a bug, not an outage")


# --- the real app, with a Redis that goes away ------------------------------------------------

class PrivateRedis:
    """A redis-server of the test's own, on a free port, that can be stopped and restarted."""

    def __init__(self, directory) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to start a Redis of its own")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def database(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'contact-centre.db'}"
    migrate(url)
    return url


@pytest.fixture
async def client(private_redis, database, monkeypatch, config, aiohttp_client):
    for key, value in {"DATABASE_URL": database, "REDIS_URL": private_redis.url,
                       "CC_CONFIG": str(TEST_CONFIG), "SECRET_KEY": "test-secret-key",
                       "CC_MODEL_DIR": str(ROOT / "var" / "model"),
                       "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                       "TWILIO_AUTH_TOKEN": AUTH_TOKEN}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(api, "HEARTBEAT_S", 0.2)
    return await aiohttp_client(create_app(config))


async def chat(client, text: str, client_id: str, ws=None):
    """A resident's message on a chat socket (a new one unless given); its answer."""
    if ws is None:
        ws = await client.ws_connect("/chat/ws")
        await ws.send_json({"type": "hello", "session": None, "language": "az"})
        assert (await ws.receive_json(timeout=10))["type"] == "welcome"
    await ws.send_json({"type": "message", "id": client_id, "text": text})
    return ws, await ws.receive_json(timeout=10)


async def wait_for_record(caplog, text: str, timeout: float = 10) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in caplog.records:
            if text in record.getMessage():
                return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"no log line with {text!r}: {[r.getMessage() for r in caplog.records]}")


async def test_a_redis_outage_is_logged_once_and_answered_clearly(client, private_redis,
                                                                  caplog) -> None:
    ctx = client.app[CONTEXT]
    caplog.set_level(logging.INFO)
    agent = await add_user(ctx, LEYLA, name="Leyla", queues=("migration-registration",))
    assert agent
    token = (await login(client, LEYLA))["token"]
    stream = await client.get("/api/v1/stream", headers=bearer(token))
    assert stream.status == 200
    resident, answer = await chat(client, "Salam, pensiyam gəlməyib", "before")
    assert answer["type"] == "ack"

    private_redis.kill()
    await wait_for_record(caplog, "Redis is unreachable")
    # Residents keep writing: their messages are stored, so they are acknowledged.
    acks = [(await chat(client, f"Yenə yazıram {n}", f"during-{n}", ws=resident))[1]
            for n in range(5)]
    newcomer, first = await chat(client, "Vətəndaşlıq üçün müraciət etmək istəyirəm", "new")
    # Agents' calls that need Redis are told to come back shortly.
    presence = await client.post("/api/v1/me/presence", json={"presence": "online"},
                                 headers=bearer(token))
    second_stream = await client.get("/api/v1/stream", headers=bearer(token))
    # A Twilio SMS is answered from the journal and taken into the inbox all the same.
    sms = await post(client, MESSAGING_URL, fixture("sms_inbound.txt"))
    # The open event stream's heartbeats meet the outage too, and it stays open.
    await asyncio.sleep(0.6)
    heartbeats = (await stream.content.read(4096)).decode()

    assert [a["type"] for a in acks] == ["ack"] * 5 and first["type"] == "ack"
    assert (presence.status, await presence.json()) == (
        503, {"error": "temporarily unavailable; try again shortly", "code": "unavailable"})
    assert presence.headers["Retry-After"] == "5"
    assert second_stream.status == 503
    assert sms.status == 200 and len(await inbound(ctx)) == 8
    assert ": heartbeat" in heartbeats and not stream.content.at_eof()
    during = list(caplog.records)
    assert [r.getMessage() for r in during if r.name == OUTAGE_LOGGER] == [
        next(r.getMessage() for r in during if "Redis is unreachable" in r.getMessage())]
    assert [r.getMessage() for r in during if r.exc_info or r.levelno >= logging.ERROR] == []

    private_redis.start()
    end = await wait_for_record(caplog, "Redis answers again")

    # the hub's lost subscription, 6 chat messages, 2 API calls, 1 SMS, 3+ heartbeats
    failures = int(end.getMessage().split("; ")[1].split()[0])
    assert failures >= 13, end.getMessage()
    assert "Redis answers again after " in end.getMessage()
    _, after = await chat(client, "Cavab gözləyirəm", "after", ws=resident)
    assert after["type"] == "ack"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    stream.close()
    await resident.close()
    await newcomer.close()


async def test_a_reply_written_during_an_outage_is_kept_and_sent_by_the_sweep(
        client, private_redis, caplog) -> None:
    """The reply is committed before Redis is needed (its delivery job, the consoles' event):
    the agent is told it is stored, not asked to write it again, and the sweep re-drives it."""
    ctx = client.app[CONTEXT]
    await add_user(ctx, NIGAR, name="Nigar", role="supervisor")
    token = (await login(client, NIGAR))["token"]
    resident, answer = await chat(client, "Salam, pensiyam gəlməyib", "before")
    conversation_id = await _conversation_of(ctx, answer["message_id"])

    private_redis.kill()
    reply = await client.post(f"/api/v1/conversations/{conversation_id}/messages",
                              json={"body": "Salam! Müraciətinizə baxırıq."},
                              headers=bearer(token))

    assert reply.status == 201, await reply.text()
    message = await reply.json()
    assert message["delivery_status"] == "queued"
    lease = timedelta(seconds=ctx.config.outbox.lease_s)
    async with ctx.store.read() as tx:
        overdue = await tx.messages.stale_sends(utcnow() + lease + timedelta(seconds=1), lease)
    assert (message["id"], "agent") in overdue
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    private_redis.start()
    await resident.close()


async def _conversation_of(ctx, message_id: int) -> int:
    async with ctx.store.read() as tx:
        return (await tx.messages.get(message_id))["conversation_id"]
