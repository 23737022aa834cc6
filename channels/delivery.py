"""The delivery job: send outbox messages through their channels.

rq runs `deliver(*message_ids)`: one message (an agent's reply) or a batch of them (the
acknowledgements the intake queued together). The job takes ids, not objects, and loads fresh
state, so a retried or re-driven job sees the truth. The worker runs it on its long-lived
`DeliveryRuntime` (one event loop, one context, the providers' clients kept open), with the
batch's sends overlapped, at most `concurrency` at once; each send is stopped after its
lane's timeout, before its claim can lapse. Transient failures go back to `queued` and the
message is queued again alone, for after its back-off; permanent ones are marked failed
with the reason; a provider's "slow down" (429) puts it back for its Retry-After without
counting the attempt. A retried or re-driven send carries what earlier attempts left behind
(the parts the provider accepted, and whether an answer may have been lost), so a channel
whose provider can be asked sends each part once; the README's "Delivery guarantees" says
what each channel really promises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from channels.base import (
    PermanentSendError,
    RateLimited,
    SendElsewhere,
    SendResult,
    TransientSendError,
)
from channels.registry import channel_book, channel_for
from channels.sending import kept_open
from inbox import outbox
from inbox.clock import utcnow
from inbox.context import InboxContext, open_context, run_in_job_context
from inbox.jobs import DELIVERY_RETRY_INTERVALS, delivery_lane
from inbox.messages import OutboundMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

# Resilience tests stop a worker in the middle of a send; this widens that window on purpose.
FAULT_DELAY_ENV = "CC_FAULT_DELIVERY_DELAY_S"
# Sends one worker overlaps unless `worker.py --concurrency` says otherwise.
DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True)
class Outcome:
    status: str                      # sent, failed, skipped, retry, deferred, error
    author_kind: str | None = None   # whose message: which queue a retry goes to
    retry_at: datetime | None = None  # retry, deferred: when to try again


def _retry_delay(attempt: int) -> int:
    return DELIVERY_RETRY_INTERVALS[min(attempt - 1, len(DELIVERY_RETRY_INTERVALS) - 1)]


async def deliver_message(ctx: InboxContext, message_id: int) -> str:
    """One attempt at one message: sent, failed, skipped (not ours to send), retry or
    deferred (queued again, for later)."""
    return (await attempt_delivery(ctx, message_id)).status


async def attempt_delivery(ctx: InboxContext, message_id: int) -> Outcome:
    return (await deliver_wave(ctx, [message_id]))[message_id]


async def deliver_wave(ctx: InboxContext, message_ids: Sequence[int]) -> dict[int, Outcome]:
    """One attempt at each of these messages, side by side: claimed together, sent
    concurrently (each within its lane's timeout, so before its claim can lapse), and those
    that went out recorded together."""
    claimed = await outbox.claim_many(ctx, message_ids)
    outcomes = {message_id: Outcome("skipped") for message_id in message_ids
                if message_id not in claimed}
    for message_id in outcomes:
        log.info("message %s is not waiting to be sent; nothing to do", message_id)
    results = await asyncio.gather(*(_send(ctx, each) for each in claimed.values()),
                                   return_exceptions=True)
    sent = []
    errors = []
    for each, result in zip(claimed.values(), results, strict=True):
        message_id = each.message.message_id
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result      # cancelled: the job was stopped
            # Not the channel's verdict (the database or Redis failed): the message stays
            # claimed until its lease lapses, and the sweep re-drives it.
            errors.append(result)
            log.warning("message %s: the send broke off (%s); the sweep will re-drive it",
                        message_id, type(result).__name__)
            outcomes[message_id] = Outcome("error")
            continue
        outcome, external_id = result
        outcomes[message_id] = outcome
        if outcome.status == "sent":
            sent.append((each, external_id))
    await outbox.mark_sent_many(ctx, sent)
    if errors and len(errors) == len(message_ids):
        raise errors[0]   # nothing got through: let the caller's retry take it
    return outcomes


async def _send(ctx: InboxContext, claimed: outbox.Claimed) -> tuple[Outcome, str | None]:
    """Hand one claimed message to its channel: (outcome, the provider's id when sent).
    Every outcome but `sent` is recorded here; the sent ones by the wave, together."""
    if delay := float(os.environ.get(FAULT_DELAY_ENV) or 0):
        await asyncio.sleep(delay)
    message = claimed.message
    message_id, kind = message.message_id, message.author_kind
    try:
        # Stopped before the claim's lease runs out, so no other attempt can overlap it.
        async with asyncio.timeout(ctx.jobs.send_timeout_s(delivery_lane(kind))):
            result = await _send_on_its_route(ctx, message)
    except PermanentSendError as exc:
        reason = f"{exc.code}: {exc.reason}" if exc.code else exc.reason
        await outbox.mark_failed(ctx, message_id, reason)
        log.warning("message %s failed permanently (%s)", message_id, exc.code or "no code")
        await outbox.announce_delivery(ctx, message_id)
        return Outcome("failed", kind), None
    except RateLimited as exc:
        await outbox.defer(ctx, message_id, claimed.attempt, str(exc), exc.retry_after_s)
        log.info("message %s waits %.1f s for the provider's rate", message_id,
                 exc.retry_after_s)
        return Outcome("deferred", kind, utcnow() + timedelta(seconds=exc.retry_after_s)), None
    except (TransientSendError, OSError, TimeoutError) as exc:
        if claimed.attempt >= ctx.config.outbox.max_attempts:
            await outbox.mark_failed(ctx, message_id, f"gave up after {claimed.attempt} "
                                                      f"attempts: {exc}")
            await outbox.announce_delivery(ctx, message_id)
            return Outcome("failed", kind), None
        delay = _retry_delay(claimed.attempt)
        await outbox.mark_retry(ctx, message_id, str(exc) or type(exc).__name__, delay)
        log.warning("message %s send attempt %s failed; will retry", message_id, claimed.attempt)
        return Outcome("retry", kind, utcnow() + timedelta(seconds=delay)), None
    return Outcome("sent", kind), result.external_id


async def _send_on_its_route(ctx: InboxContext, message: OutboundMessage) -> SendResult:
    """Through the message's channel, or the one that channel says it must take now
    (`SendElsewhere`), recorded on the message first."""
    try:
        return await channel_for(message.channel).send(ctx, message)
    except SendElsewhere as elsewhere:
        message = await outbox.divert(ctx, message, elsewhere.channel, elsewhere.address,
                                      elsewhere.extra)
        return await channel_for(message.channel).send(ctx, message)


async def deliver_batch(ctx: InboxContext, message_ids: Sequence[int], *,
                        concurrency: int = DEFAULT_CONCURRENCY) -> list[Outcome]:
    """Send these messages at most `concurrency` at once, in waves of half that (each wave
    claimed, sent side by side, recorded) with two waves overlapping, so one wave's
    database work runs while the other's requests are out; queue each message that must be
    tried again alone, for after its back-off. A wave that fails as a whole (the database is
    down) leaves its messages to the sweep; when every wave fails the exception goes to rq,
    which retries the job."""
    ids = list(dict.fromkeys(message_ids))
    wave_size = max(1, concurrency // 2)
    waves = [ids[start:start + wave_size] for start in range(0, len(ids), wave_size)]
    overlap = asyncio.Semaphore(2 if concurrency > 1 else 1)
    outcomes: dict[int, Outcome] = {}
    failures: list[Exception] = []

    async def run(wave: list[int]) -> None:
        async with overlap:
            try:
                outcomes.update(await deliver_wave(ctx, wave))
            except Exception as exc:
                failures.append(exc)
                log.warning("%d sends broke off (%s); the sweep will re-drive them", len(wave),
                            type(exc).__name__)
                outcomes.update({message_id: Outcome("error") for message_id in wave})

    await asyncio.gather(*(run(wave) for wave in waves))
    await ctx.jobs.enqueue_retries_async([
        (message_id, outcome.author_kind, outcome.retry_at)
        for message_id, outcome in outcomes.items()
        if outcome.status in ("retry", "deferred")])
    if failures and all(outcome.status == "error" for outcome in outcomes.values()):
        raise failures[0]
    return [outcomes[message_id] for message_id in ids]


class DeliveryRuntime:
    """Where a worker runs its delivery jobs: one event loop in a thread of its own, one
    context (database pool, Redis) and the providers' clients kept open for the worker's
    life, so a job costs its sends and not a process or a context of its own.

    rq calls `deliver` in the worker's main thread, which waits for the batch here; rq's job
    timeout (a signal in that thread) cancels the batch, and what it left claimed is
    re-driven once its lease lapses."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY):
        self.concurrency = concurrency
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="delivery-loop",
                                       daemon=True)
        self.ctx: InboxContext | None = None
        self._resources = AsyncExitStack()

    def start(self) -> DeliveryRuntime:
        self.thread.start()
        self._call(self._open)
        return self

    async def _open(self) -> None:
        self.ctx = open_context(channels=channel_book())
        await self._resources.enter_async_context(kept_open())

    def run(self, work: Callable[[InboxContext], Awaitable[T]]) -> T:
        return self._call(lambda: work(self.ctx))

    def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()   # a job timeout or a stop while the sends ran
            raise

    def close(self) -> None:
        async def closing() -> None:
            await self._resources.aclose()
            if self.ctx is not None:
                await self.ctx.close()

        try:
            asyncio.run_coroutine_threadsafe(closing(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


_runtime: DeliveryRuntime | None = None


def install(runtime: DeliveryRuntime | None) -> None:
    """Run this process's delivery jobs on `runtime` (None: each on an event loop of its own)."""
    global _runtime
    _runtime = runtime


def deliver(*message_ids: int) -> dict[str, int]:
    """The rq job: how many of its messages were sent, failed, skipped, queued again."""
    runtime = _runtime
    if runtime is not None:
        outcomes = runtime.run(lambda ctx: deliver_batch(ctx, message_ids,
                                                         concurrency=runtime.concurrency))
    else:
        outcomes = run_in_job_context(lambda ctx: deliver_batch(ctx, message_ids),
                                      channels=channel_book())
    return dict(Counter(outcome.status for outcome in outcomes))
