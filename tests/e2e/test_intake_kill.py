"""A storm of new residents' SMS on the real app, SIGKILLed while its drainer is storing
batches: every message Twilio was answered for is in the inbox exactly once after the
sweep, routed and acknowledged, each resident's messages in order; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from inbox.intake import recover
from inbox.storage.schema import conversations, intake, messages
from tests.channels.fake_twilio import serve
from tests.e2e.support import System

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
RESIDENTS = 150          # each writes twice: a first message, then a follow-up
TEXTS = ("Salam, pensiyam bu ay kartıma köçürülməyib, kömək edin.",
         "Здравствуйте, какие документы нужны для вида на жительство?",
         "salam unvanli yardim ucun muraciet etmek isteyirem")


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch, environment):
    return await serve(aiohttp_server, monkeypatch, ACCOUNT_SID, AUTH_TOKEN)


@pytest.fixture
async def system(environment, fake_twilio, tmp_path):
    running = System(environment, tmp_path)       # inherits TWILIO_* pointing at the fake
    yield running
    running.stop()


def webhook(url: str, resident: int, turn: int) -> tuple[dict[str, str], str]:
    sid = f"SM{turn:02d}{resident:030d}"
    form = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
            "From": f"+99450{resident:07d}", "To": "+994125550142", "NumMedia": "0",
            "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
            "Body": f"{TEXTS[resident % len(TEXTS)]} ({turn})"}
    return form, RequestValidator(AUTH_TOKEN).compute_signature(url, form)


async def backlog(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(f"{base}/metrics") as response:
        text = await response.text()
    [line] = [line for line in text.splitlines() if line.startswith("cc_intake_backlog ")]
    return float(line.split()[1])


async def test_a_storm_survives_the_app_killed_mid_batch(system: System, ctx) -> None:
    await system.start_app()
    app = system.processes[-1]
    url = system.base_url + "/webhooks/twilio/messaging"
    answered: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
        async def send(resident: int, turn: int) -> None:
            form, signature = webhook(url, resident, turn)
            async with http.post(url, data=urlencode(form), headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature}) as response:
                if response.status == 200:
                    answered.append(form["MessageSid"])

        for turn in (1, 2):   # a resident's second message only after their first's answer
            await asyncio.gather(*(send(r, turn) for r in range(RESIDENTS)))
        deadline = time.monotonic() + 30
        while await backlog(http, system.base_url) == 0:   # the drainer has work in hand
            assert time.monotonic() < deadline, "the storm was ingested before the kill"
            await asyncio.sleep(0)
    System.kill(app)                                      # SIGKILL, mid-batch
    assert len(answered) == 2 * RESIDENTS

    async with ctx.store.read() as tx:
        journalled = (await tx.conn.execute(select(func.count()).select_from(intake)))\
            .scalar_one()
    assert journalled > 0, "the kill came after everything was ingested"
    await recover(ctx, older_than=timedelta(0))           # the worker's sweep

    async with ctx.store.read() as tx:
        inbound = (await tx.conn.execute(
            select(messages.c.external_id, messages.c.conversation_id, messages.c.body)
            .where(messages.c.direction == "in").order_by(messages.c.id))).all()
        routed = (await tx.conn.execute(select(func.count()).select_from(conversations)
                                        .where(conversations.c.routed_at.is_not(None))))\
            .scalar_one()
        opened = (await tx.conn.execute(select(func.count()).select_from(conversations)))\
            .scalar_one()
        acknowledgements = (await tx.conn.execute(
            select(func.count()).select_from(messages)
            .where(messages.c.direction == "out", messages.c.author_kind == "system")))\
            .scalar_one()
        left = (await tx.conn.execute(select(func.count()).select_from(intake))).scalar_one()
    assert sorted(m.external_id for m in inbound) == sorted(answered)   # each exactly once
    assert left == 0
    assert opened == routed == acknowledgements == RESIDENTS, system.logs()
    turns: dict[int, list[str]] = {}
    for message in inbound:
        turns.setdefault(message.conversation_id, []).append(message.body[-3:])
    assert all(order == ["(1)", "(2)"] for order in turns.values())     # order kept
