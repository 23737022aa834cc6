"""Consumers of the event log: each reads the events written since it last ran and handles
them (report facts today; CSAT, notifications, registration intake later), so a new reader
of state changes plugs in here instead of into the code that makes them.

A consumer keeps its own watermark, the id of the last event it handled, in Redis. It moves
past a batch only once the batch was handled, so a consumer that fails (or is stopped) sees
that batch again next run: handling must be idempotent. Losing a watermark means handling
the whole log again. One consumer failing does not hold up the others.

The worker assembles the list of consumers (the inbox does not know who reads its log) and
runs them periodically (`run_consumers`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from inbox.context import InboxContext
from inbox.storage import Row

log = logging.getLogger(__name__)

# Events per read: a catch-up after downtime goes in bounded steps, each followed by a
# watermark that a crash would not undo.
BATCH_SIZE = 5000

Handler = Callable[[InboxContext, Sequence[Row]], Awaitable[object]]


@dataclass(frozen=True)
class EventConsumer:
    name: str          # unique among consumers: it names the watermark
    handle: Handler    # called with each batch of new events, oldest first

    @property
    def watermark_key(self) -> str:
        return f"cc:{self.name}:last-event-id"


async def consume(ctx: InboxContext, consumer: EventConsumer,
                  batch_size: int = BATCH_SIZE) -> int:
    """Hand `consumer` every event after its watermark, a batch at a time, moving the
    watermark past each batch handled. Returns how many events it handled."""
    seen = int(await ctx.redis.get(consumer.watermark_key) or 0)
    handled = 0
    while True:
        async with ctx.store.read() as tx:
            batch = await tx.events.after(seen, batch_size)
        if not batch:
            return handled
        await consumer.handle(ctx, batch)
        handled += len(batch)
        seen = batch[-1]["id"]
        await ctx.redis.set(consumer.watermark_key, seen)


async def run_consumers(ctx: InboxContext,
                        consumers: Iterable[EventConsumer]) -> dict[str, int | None]:
    """Run each consumer once; the events each handled, None for one that failed (it tries
    again from its watermark next run)."""
    handled: dict[str, int | None] = {}
    for consumer in consumers:
        try:
            handled[consumer.name] = await consume(ctx, consumer)
        except Exception:
            log.exception("event consumer %s failed; it resumes after its last handled "
                          "event next run", consumer.name)
            handled[consumer.name] = None
    return handled
