"""An agent's SMS reply on the real system, with the worker SIGKILLed while Twilio holds the
send open: the resident gets it exactly once, whether or not Twilio had accepted it before
the kill; on SQLite and PostgreSQL, against the fake Twilio REST server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from inbox.storage import Store
from inbox.storage.db import make_engine
from tests.channels.fake_twilio import serve
from tests.e2e.support import System

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
AGENT = ("leyla.mammadova@example.gov.az", "çay-və-limon-42")
SMS_INBOUND = Path(__file__).resolve().parents[1] / "fixtures" / "twilio" / "sms_inbound.txt"
REPLY = "Salam! Pensiyanız bu həftə köçürüləcək, müraciətiniz üçün təşəkkür edirik."


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch, environment):
    return await serve(aiohttp_server, monkeypatch, ACCOUNT_SID, AUTH_TOKEN)


@pytest.fixture
async def system(environment, fake_twilio, tmp_path):
    running = System(environment, tmp_path)       # inherits TWILIO_* pointing at the fake
    running.add_user(AGENT[0], "agent", "migration-support,call-centre-142,triage", AGENT[1])
    yield running
    running.stop()


async def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("accept_first", [True, False],
                         ids=["twilio-accepted-it", "twilio-had-not-accepted-it"])
async def test_an_sms_reply_reaches_the_resident_once_when_the_worker_dies_mid_send(
        system: System, fake_twilio, accept_first: bool):
    await system.start_app()
    worker = system.start_worker()
    base = system.base_url
    form = dict(parse_qsl(SMS_INBOUND.read_text().strip(), keep_blank_values=True))
    url = base + "/webhooks/twilio/messaging"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    store = Store(make_engine(system.env["DATABASE_URL"], pool=False))
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as r:
            assert r.status == 200
        async def acknowledged() -> bool:
            return len(fake_twilio.messages) == 1
        await wait_for(acknowledged, 60, f"no acknowledgement was sent: {system.logs()}")

        async with http.post(f"{base}/api/v1/auth/login",
                             json={"email": AGENT[0], "password": AGENT[1]}) as r:
            auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        async with http.get(f"{base}/api/v1/conversations", headers=auth) as r:
            conversation_id = (await r.json())["items"][0]["id"]
        hold = fake_twilio.hold_next(accept_first=accept_first)
        async with http.post(f"{base}/api/v1/conversations/{conversation_id}/messages",
                             json={"body": REPLY}, headers=auth) as r:
            assert r.status == 201
            reply = await r.json()
        await asyncio.wait_for(hold.entered.wait(), 60)
        System.kill(worker)                  # SIGKILL, work-horse and all, mid-request

    system.start_worker()

    async def settled() -> bool:
        async with store.read() as tx:
            return (await tx.messages.get(reply["id"]))["delivery_status"] != "sending"
    await wait_for(settled, 90, f"the reply was not re-driven: {system.logs()}")
    async with store.read() as tx:
        row = await tx.messages.get(reply["id"])
        parts = await tx.messages.parts_of(reply["id"])
    await store.close()
    replies = [m for m in fake_twilio.messages if m["body"] == REPLY]
    assert len(replies) == 1, system.logs()               # the resident's phone got one SMS
    assert replies[0]["to"] == "+994501234567"
    # Two attempts, or more when a slow machine lets rq stop one that outlived its lease.
    assert row["delivery_status"] == "sent" and row["attempts"] >= 2
    assert row["external_id"] == replies[0]["sid"] and parts == [replies[0]["sid"]]
    assert fake_twilio.list_requests                         # the next attempt asked first
