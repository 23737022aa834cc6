"""Agents' replies have a delivery queue of their own: a real worker sends a reply queued
behind hundreds of acknowledgements before that backlog drains, through a slow (fake)
Twilio, after at most the one batch job in progress; a worker serving `--queues replies`
(as `scripts/run` starts beside the general one) sends it at once; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from inbox import actions, outbox
from inbox.ingest import ingest
from inbox.jobs import DELIVERY_BATCH
from inbox.messages import InboundMessage
from tests.channels.fake_twilio import serve
from tests.e2e.support import ROOT

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BACKLOG = 200
REPLY = "Salam, müraciətinizə baxırıq."


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch, environment):
    fake = await serve(aiohttp_server, monkeypatch, ACCOUNT_SID, AUTH_TOKEN)
    fake.delay_s = 0.02          # Twilio answering in 20 ms: slower than the worker's own work
    return fake


@pytest.fixture
def worker(tmp_path):
    """Starts `worker.py` with the test's environment; stopped (its group) at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


async def a_backlog_of_acknowledgements(ctx) -> int:
    """A resident's SMS conversation with BACKLOG automatic sends queued for it (its own
    acknowledgement and more, as a burst of new conversations would queue)."""
    result = await ingest(ctx, InboundMessage(
        channel="sms", external_id="SM" + "1" * 32, address="+994501234567",
        text="Salam, pensiyam bu ay gəlməyib.", received_at=datetime.now(UTC),
        phone="+994501234567"))
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(result.conversation_id)
        more = [await outbox.queue_message(tx, conversation, f"Müraciətiniz № {n} qəbul edildi.",
                                           author_kind="system")
                for n in range(BACKLOG - 1)]
    await ctx.jobs.enqueue_delivery_async(more, "system")
    return result.conversation_id


@pytest.mark.parametrize("replies_worker", [False, True],
                         ids=["one-worker", "with-a-replies-worker"])
async def test_an_agents_reply_is_sent_before_a_backlog_of_acknowledgements(
        ctx, fake_twilio, worker, replies_worker):
    conversation_id = await a_backlog_of_acknowledgements(ctx)
    async with ctx.store.transaction() as tx:
        agent_id = await tx.users.save("leyla@example.gov.az", name="Leyla", role="admin",
                                      password_hash="-")
    if replies_worker:
        fake_twilio.delay_s = 0.1      # the backlog drains for a few seconds
        worker("--queues", "replies")
    worker()
    deadline = time.monotonic() + 120
    while len(fake_twilio.requests) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(fake_twilio.requests) >= 2, "the worker did not start sending"

    before = len(fake_twilio.requests)
    queued_at = time.monotonic()
    await actions.reply(ctx, actions.Actor(agent_id, "admin", ()), conversation_id, REPLY)
    bodies: list[str | None] = []
    while REPLY not in bodies and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        bodies = [r.field("Body") for r in fake_twilio.requests]
    latency = time.monotonic() - queued_at
    assert REPLY in bodies, f"the reply was not sent; {len(bodies)} acknowledgements were"
    position = bodies.index(REPLY)
    if replies_worker:
        # Served at once by its own worker, while the general one still sends the backlog.
        assert latency < 2, f"the reply took {latency:.2f} s"
        # Before the backlog has drained. Not "before half of it": the general worker sends a
        # job of up to 100 side by side, so a whole job may land while the reply is picked up.
        assert position < BACKLOG, (position, before)
    else:
        # At most the acknowledgements of the one job in progress when it was queued.
        assert position <= before + DELIVERY_BATCH + 1, (position, before)
        assert position < BACKLOG, "the reply waited for the backlog to drain"
    print(f"reply sent {latency:.2f} s after it was queued, as send {position + 1} "
          f"of {BACKLOG + 1}")
