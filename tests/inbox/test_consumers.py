"""Consumers of the event log on the real database and Redis: each sees every event once, in
order; resumes after its watermark; and one that fails holds up no other."""

from datetime import UTC, datetime

from inbox.consumers import EventConsumer, consume, run_consumers
from inbox.ingest import ingest
from inbox.messages import InboundMessage


async def new_conversations(ctx, *sessions: str) -> list[int]:
    ids = []
    for session in sessions:
        result = await ingest(ctx, InboundMessage(
            channel="webchat", external_id=f"{session}:1", address=session, text="Salam",
            received_at=datetime.now(UTC), language="az"))
        ids.append(result.conversation_id)
    return ids


async def all_event_ids(ctx, conversation_ids) -> list[int]:
    ids = []
    async with ctx.store.read() as tx:
        for conversation_id in conversation_ids:
            ids += [e["id"] for e in await tx.events.of_conversation(conversation_id)]
    return sorted(ids)


class Recorder:
    """A consumer's handler that keeps the ids of the events it was handed, per call."""

    def __init__(self, fail: bool = False):
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, _ctx, batch) -> None:
        if self.fail:
            raise RuntimeError("notifications are down")
        self.batches.append([event["id"] for event in batch])

    @property
    def seen(self) -> list[int]:
        return [event_id for batch in self.batches for event_id in batch]


async def test_a_consumer_sees_each_event_once_in_batches_and_in_order(ctx):
    ids = await new_conversations(ctx, "s1", "s2", "s3")
    recorder = Recorder()
    consumer = EventConsumer("test-consumer", recorder)
    expected = await all_event_ids(ctx, ids)
    assert await consume(ctx, consumer, batch_size=2) == len(expected)
    assert recorder.seen == expected
    assert all(len(batch) <= 2 for batch in recorder.batches)
    assert await consume(ctx, consumer) == 0   # nothing new: nothing handed again
    assert recorder.seen == expected
    assert int(await ctx.redis.get(consumer.watermark_key)) == expected[-1]


async def test_a_consumer_resumes_after_its_watermark(ctx):
    first = await new_conversations(ctx, "s1")
    recorder = Recorder()
    consumer = EventConsumer("test-consumer", recorder)
    await consume(ctx, consumer)
    before = list(recorder.seen)
    later = await new_conversations(ctx, "s2")
    await consume(ctx, EventConsumer("test-consumer", recorder))   # as a new run would
    assert before == await all_event_ids(ctx, first)
    assert recorder.seen == before + await all_event_ids(ctx, later)


async def test_a_failing_consumer_does_not_stop_the_others_and_retries_later(ctx):
    ids = await new_conversations(ctx, "s1")
    failing, healthy = Recorder(fail=True), Recorder()
    consumers = (EventConsumer("notifications", failing), EventConsumer("csat", healthy))
    expected = await all_event_ids(ctx, ids)
    assert await run_consumers(ctx, consumers) == {"notifications": None,
                                                   "csat": len(expected)}
    assert healthy.seen == expected
    assert await ctx.redis.get(consumers[0].watermark_key) is None   # nothing handled yet
    failing.fail = False
    assert await run_consumers(ctx, consumers) == {"notifications": len(expected), "csat": 0}
    assert failing.seen == expected

