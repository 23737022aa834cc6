"""Sending many messages at once through the real twilio client to the fake Twilio, on the real
database (SQLite and PostgreSQL) and real Redis: a batch's sends overlap, Twilio's 429 and
its Retry-After are honoured without losing or counting the attempt, and an agent's reply
keeps its share of the send rate however many acknowledgements use the rest; consoles hear of
each send and /metrics shows the queues' depths."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from channels import sending
from channels.base import RateLimited
from channels.delivery import deliver_batch
from channels.sending import RedisBatch, SendRate
from inbox import outbox
from inbox.jobs import DELIVER_JOB, DELIVERY_QUEUE
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.storage import utcnow
from tests.channels.twilio.test_messaging import (  # noqa: F401 (fixtures)
    acknowledgement,
    client,
    fake_twilio,
    message_row,
)


async def queued_acknowledgements(client, ctx, count: int) -> list[int]:  # noqa: F811
    """`count` automatic messages queued on one resident's SMS conversation."""
    ack = await acknowledgement(client, ctx)
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(ack["conversation_id"])
        more = [await outbox.queue_message(tx, conversation, f"Müraciət № {n} qəbul edildi.",
                                           author_kind="system")
                for n in range(count - 1)]
    return [ack["id"], *more]


async def test_a_batch_sends_side_by_side(client, ctx, fake_twilio) -> None:  # noqa: F811
    fake_twilio.delay_s = 0.25         # each create answered after 250 ms
    ids = await queued_acknowledgements(client, ctx, 24)

    started = time.monotonic()
    outcomes = await deliver_batch(ctx, ids, concurrency=24)
    elapsed = time.monotonic() - started

    assert [o.status for o in outcomes] == ["sent"] * 24
    assert len(fake_twilio.requests) == 24
    # Side by side: Twilio saw many creates open at once. Counted by the fake, not timed,
    # so a loaded machine cannot fail it; the clock only checks that the overlap paid off
    # (one at a time takes 24 x 0.25 = 6 s, side by side about two waves of 0.25 s).
    assert fake_twilio.most_in_flight >= 8, fake_twilio.most_in_flight
    assert elapsed < 3.0, f"{elapsed:.2f} s: the sends did not overlap"
    for message_id in ids:
        assert (await message_row(ctx, message_id))["delivery_status"] == "sent"


async def test_a_429_puts_the_message_back_for_its_retry_after(
        client, ctx, fake_twilio) -> None:  # noqa: F811
    ids = await queued_acknowledgements(client, ctx, 2)
    fake_twilio.fail_next(429, 20429, "Too Many Requests", retry_after="2")

    started, refused_at = time.monotonic(), utcnow()
    outcomes = await deliver_batch(ctx, ids, concurrency=1)     # one after the other
    elapsed, finished_at = time.monotonic() - started, utcnow()

    assert [o.status for o in outcomes] == ["deferred", "sent"]
    first = await message_row(ctx, ids[0])
    # Queued again for Retry-After, the refused attempt not counted: never dropped.
    assert first["delivery_status"] == "queued" and first["attempts"] == 0
    assert "429" in first["delivery_error"]
    # Due Retry-After from the refusal: not before it, and not later than the second send,
    # which waited for it (bounded by the batch's end rather than a fixed margin, because a
    # loaded machine may take a while between the clock read here and Twilio's answer).
    due_in = first["next_attempt_at"] - refused_at
    assert due_in > timedelta(seconds=1.5), due_in
    assert first["next_attempt_at"] <= finished_at + timedelta(seconds=0.1), (
        first["next_attempt_at"], finished_at)
    # The next send waited out the pause Twilio asked for instead of running into it.
    assert elapsed >= 1.8, f"the second send went {elapsed:.2f} s after the 429"
    assert len(fake_twilio.requests) == 2
    # ...and the refused message has a job of its own, due after the Retry-After.
    registry = ScheduledJobRegistry(queue=Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection))
    [job_id] = registry.get_job_ids()
    job = Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).fetch_job(job_id)
    assert (job.func_name, job.args) == (DELIVER_JOB, (ids[0],))
    due = registry.get_scheduled_time(job_id) - refused_at
    assert timedelta(seconds=1) <= due <= timedelta(seconds=3), due

    assert [o.status for o in await deliver_batch(ctx, [ids[0]])] == ["sent"]
    assert [r.field("Body") for r in fake_twilio.requests].count(first["body"]) == 2
    assert (await message_row(ctx, ids[0]))["attempts"] == 1


async def test_a_reply_finds_room_in_a_second_acknowledgements_used_up(ctx,
                                                                       monkeypatch) -> None:
    # One frozen second, so every request below competes for the same budget.
    second = float(int(time.time()) + 1000)
    monkeypatch.setattr(sending, "_clock", lambda: second + 0.5)
    sending._RESERVED.clear()
    rate = SendRate("test-provider", per_second=10)      # automatic messages: 8 of the 10

    for _ in range(8):
        await rate.slot(ctx.redis, urgent=False, max_wait_s=0)
    for _ in range(5):                                   # the backlog keeps knocking
        with pytest.raises(RateLimited) as refused:
            await rate.slot(ctx.redis, urgent=False, max_wait_s=0)
        assert 0 < refused.value.retry_after_s <= 1
    # An agent's reply still goes out within this second, twice over.
    await rate.slot(ctx.redis, urgent=True, max_wait_s=0)
    await rate.slot(ctx.redis, urgent=True, max_wait_s=0)
    with pytest.raises(RateLimited):
        await rate.slot(ctx.redis, urgent=True, max_wait_s=0)


async def test_a_worker_forgets_the_rate_lanes_of_chats_it_no_longer_sends_to(
        ctx, monkeypatch) -> None:
    # A per-chat rate (Telegram's) makes a lane per resident: a worker that has served
    # thousands of chats keeps only the lanes of the current second.
    now = [float(int(time.time()) + 2000)]
    monkeypatch.setattr(sending, "_clock", lambda: now[0] + 0.5)
    sending._RESERVED.clear()
    for chat in range(3 * sending.PRUNE_AT):
        if chat % 100 == 0:
            now[0] += 1
        await SendRate(f"telegram-chat:{chat}", 1).slot(ctx.redis, urgent=True, max_wait_s=0)
    locks = sending._LOCKS[asyncio.get_running_loop()]
    assert len(locks) <= sending.PRUNE_AT and len(sending._RESERVED) <= sending.PRUNE_AT
    # A lane pruned and met again is a fresh one: the chat's limit still holds.
    lane = SendRate("telegram-chat:0", 1)
    await lane.slot(ctx.redis, urgent=True, max_wait_s=0)
    with pytest.raises(RateLimited):
        await lane.slot(ctx.redis, urgent=True, max_wait_s=0)


async def test_a_paused_provider_holds_every_send_back(ctx, monkeypatch) -> None:
    sending._RESERVED.clear()
    rate = SendRate("test-provider", per_second=100)
    await rate.pause(ctx.redis, 5)
    with pytest.raises(RateLimited) as refused:
        await rate.slot(ctx.redis, urgent=True, max_wait_s=1)
    assert 4 < refused.value.retry_after_s <= 5


async def test_metrics_show_the_jobs_waiting_in_each_delivery_queue(client, ctx) -> None:  # noqa: F811
    await ctx.jobs.enqueue_delivery_async(list(range(1, 251)), "system")   # 3 jobs of <= 100
    await ctx.jobs.enqueue_delivery_async([251], "agent")
    text = await (await client.get("/metrics")).text()
    assert 'cc_job_queue_depth{queue="delivery"} 3.0' in text
    assert 'cc_job_queue_depth{queue="replies"} 1.0' in text
    Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).empty()
    text = await (await client.get("/metrics")).text()
    assert 'cc_job_queue_depth{queue="delivery"} 0.0' in text


async def test_consoles_hear_each_send_of_a_batch(client, ctx, fake_twilio) -> None:  # noqa: F811
    ids = await queued_acknowledgements(client, ctx, 3)
    events = ctx.redis.pubsub()
    await events.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    try:
        await events.get_message(timeout=1)                  # the subscription's own
        await deliver_batch(ctx, ids)
        heard = []
        while (message := await events.get_message(timeout=1)) is not None:
            heard.append(json.loads(message["data"]))
    finally:
        await events.aclose()
    updates = [e["data"] for e in heard if e["type"] == "message.updated"]
    assert sorted(u["message_id"] for u in updates) == ids
    assert {(u["delivery_status"], u["message"]["delivery_status"]) for u in updates} \
        == {("sent", "sent")}


class SlowPipeline:
    """A Redis pipeline whose round trip takes 100 ms, so callers arrive while it is out."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    async def __aenter__(self):
        await self.pipeline.__aenter__()
        return self

    async def __aexit__(self, *exc):
        return await self.pipeline.__aexit__(*exc)

    def __getattr__(self, name):
        return getattr(self.pipeline, name)

    async def execute(self):
        await asyncio.sleep(0.1)
        return await self.pipeline.execute()


async def test_sends_asking_redis_together_each_get_their_own_answer(ctx) -> None:
    slow = type("SlowRedis", (), {"pipeline": lambda _self, transaction: SlowPipeline(
        ctx.redis.pipeline(transaction=transaction))})()
    batch = RedisBatch(slow)

    async def ask(n: int) -> list:
        key = f"cc:test:batch:{n}"
        return await batch.run(lambda pipe: pipe.set(key, n).get(key), 2)

    first = asyncio.create_task(ask(0))
    await asyncio.sleep(0.05)                    # its round trip is out; the rest come now
    answers = await asyncio.wait_for(asyncio.gather(first, *(ask(n) for n in range(1, 20))), 5)
    assert [answer[1] for answer in answers] == [str(n).encode() for n in range(20)]
