"""Enqueueing background jobs by name, so the inbox never imports the channels it serves.

Sends go to one of two rq queues by who wrote the message: agents' replies to `replies`,
automatic messages (acknowledgements, notices: author_kind "system") to `delivery`. A worker
takes `replies` first, so however many automatic sends wait, an agent's reply waits at most
for the one job in progress; a worker started with `--queues replies` serves replies alone.
One job carries up to `DELIVERY_BATCH` messages (what one call queued together, such as the
acknowledgements of an intake batch): the worker sends them side by side, and a message that
fails is retried later in a job of its own (`enqueue_retry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq import Queue, Retry

REPLIES_QUEUE = "replies"      # what an agent wrote: a resident is waiting for it
DELIVERY_QUEUE = "delivery"    # automatic messages; a burst of them must never delay a reply
DEFAULT_QUEUE = "default"      # periodic sweeps, media fetches, report facts
# The order a worker takes them in. Periodic jobs come last: the sweep takes a send that has
# waited past its lease for lost, so it must not run while a backlog of sends still drains.
QUEUES = (REPLIES_QUEUE, DELIVERY_QUEUE, DEFAULT_QUEUE)

DELIVER_JOB = "channels.delivery.deliver"
MEDIA_JOB = "channels.media.fetch_attachments"
# Deletes what providers keep of erased residents' messages (`provider_erasures`).
FORGET_JOB = "channels.provider_records.forget_job"
FORGET_INTERVAL_S = 300        # its periodic run, for what failed or was never queued
DELIVERY_RETRY_INTERVALS: Sequence[int] = (5, 15, 60, 300, 900)
# The most messages one delivery job carries: the intake's batch of acknowledgements.
DELIVERY_BATCH = 100


@dataclass(frozen=True)
class DeliveryLane:
    queue: str
    # A send that runs longer (a provider holding the request open) is stopped; its outcome
    # is then unknown and the next attempt reconciles with the provider before sending.
    job_timeout_s: int


REPLY_LANE = DeliveryLane(REPLIES_QUEUE, job_timeout_s=30)   # a long SMS goes in several parts
# One Twilio request and its reconciliation; an automatic send holds a worker no longer.
AUTOMATIC_LANE = DeliveryLane(DELIVERY_QUEUE, job_timeout_s=20)
DELIVERY_LANES: dict[str, DeliveryLane] = {"agent": REPLY_LANE}


def delivery_lane(author_kind: str) -> DeliveryLane:
    """Where a message's send is queued: agents' replies apart from everything automatic."""
    return DELIVERY_LANES.get(author_kind, AUTOMATIC_LANE)


def _job_options(job: dict) -> dict:
    """`Queue.prepare_data`'s keywords as `Queue.enqueue` spells them."""
    return {"retry": job["retry"], "job_timeout": job["timeout"],
            "result_ttl": job["result_ttl"], "failure_ttl": job["failure_ttl"],
            "description": job["description"]}


class Jobs:
    """The rq queues, on a synchronous Redis connection as rq requires."""

    def __init__(self, redis_url: str, send_lease_s: int | None = None):
        self.connection = Redis.from_url(redis_url)
        self.default = Queue(DEFAULT_QUEUE, connection=self.connection)
        # A send's claim lapses after the outbox lease (`outbox.lease`), and the sweep then
        # hands it to another attempt; a send still running by then could go alongside
        # that one. Each send is stopped before its claim lapses (`send_timeout_s`).
        self.send_lease_s = send_lease_s

    def send_timeout_s(self, lane: DeliveryLane) -> int:
        if self.send_lease_s is None:
            return lane.job_timeout_s
        return max(1, min(lane.job_timeout_s, self.send_lease_s - 1))

    def batch_timeout_s(self, lane: DeliveryLane, count: int) -> int:
        """How long rq lets a job of `count` sends run. Each send is stopped after
        `send_timeout_s` by the job itself; this bounds the whole job (a second per message
        beyond the first: far more than any configured send rate needs). A job stopped here
        leaves its unsent messages queued and its unfinished ones claimed; the sweep
        re-drives both once their lease runs out."""
        return self.send_timeout_s(lane) + (count - 1)

    def _job(self, lane: DeliveryLane, message_ids: Sequence[int]) -> dict:
        first = message_ids[0]
        return {
            "args": tuple(message_ids),
            "retry": Retry(max=len(DELIVERY_RETRY_INTERVALS),
                           interval=list(DELIVERY_RETRY_INTERVALS)),
            "timeout": self.batch_timeout_s(lane, len(message_ids)),
            "result_ttl": 600, "failure_ttl": 7 * 86400,
            "description": f"deliver message {first}" if len(message_ids) == 1
            else f"deliver {len(message_ids)} messages from {first}",
        }

    def enqueue_delivery(self, message_id: int, author_kind: str) -> None:
        self.enqueue_deliveries([message_id], author_kind)

    def enqueue_deliveries(self, message_ids: Sequence[int], author_kind: str) -> None:
        """One job per `DELIVERY_BATCH` of these messages, all queued in one round trip."""
        lane = delivery_lane(author_kind)
        queue = Queue(lane.queue, connection=self.connection)
        batches = [message_ids[i:i + DELIVERY_BATCH]
                   for i in range(0, len(message_ids), DELIVERY_BATCH)]
        queue.enqueue_many([Queue.prepare_data(DELIVER_JOB, **self._job(lane, batch))
                            for batch in batches])

    def enqueue_retry(self, message_id: int, author_kind: str, at: datetime) -> None:
        """A message whose send failed (or was refused for now), queued alone for `at`, the
        end of its back-off (rq's scheduler starts it then)."""
        lane = delivery_lane(author_kind)
        options = _job_options(self._job(lane, [message_id]))
        Queue(lane.queue, connection=self.connection).enqueue_at(
            at, DELIVER_JOB, message_id, **options)

    async def enqueue_media_async(self, message_ids: Sequence[int]) -> None:
        """A media job for each of these messages (their attachments fetched and kept), all
        queued in one round trip."""
        if message_ids:
            await asyncio.to_thread(self.default.enqueue_many, [
                Queue.prepare_data(
                    MEDIA_JOB, args=(message_id,),
                    retry=Retry(max=len(DELIVERY_RETRY_INTERVALS),
                                interval=list(DELIVERY_RETRY_INTERVALS)),
                    timeout=120, result_ttl=600, failure_ttl=7 * 86400,
                    description=f"fetch attachments of message {message_id}")
                for message_id in message_ids])

    async def enqueue_forget_async(self) -> None:
        """A job deleting at the providers what `provider_erasures` lists as due. Nothing is
        lost when this fails: the rows stay due for the job's periodic run."""
        await asyncio.to_thread(self.default.enqueue, FORGET_JOB, job_timeout=120,
                                result_ttl=600, failure_ttl=7 * 86400,
                                description="delete erased residents' messages at providers")

    async def enqueue_delivery_async(self, message_ids: Sequence[int], author_kind: str) -> None:
        """Queue the sends of these messages, all written by `author_kind` (agent, system)."""
        # rq speaks synchronous Redis; keep its round trips off the event loop.
        if message_ids:
            await asyncio.to_thread(self.enqueue_deliveries, list(message_ids), author_kind)

    async def enqueue_retries_async(self, retries: Sequence[tuple[int, str, datetime]]) -> None:
        """`enqueue_retry` for each (message id, author kind, when)."""
        def enqueue_all() -> None:
            for message_id, author_kind, at in retries:
                self.enqueue_retry(message_id, author_kind, at)

        if retries:
            await asyncio.to_thread(enqueue_all)

    def close(self) -> None:
        self.connection.close()


async def queue_depths(redis) -> dict[str, int]:
    """Jobs waiting in each rq queue (not those scheduled for later), read with the caller's
    asynchronous Redis in one pipelined round trip. A delivery job carries up to
    `DELIVERY_BATCH` messages."""
    async with redis.pipeline(transaction=False) as pipe:
        for name in QUEUES:
            pipe.llen(Queue.redis_queue_namespace_prefix + name)
        lengths = await pipe.execute()
    return dict(zip(QUEUES, lengths, strict=True))
