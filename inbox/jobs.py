"""Enqueueing background jobs by name, so the inbox never imports the channels it serves.

Sends go to one of two rq queues by who wrote the message: agents' replies to `replies`,
automatic messages (acknowledgements, notices: author_kind "system") to `delivery`. A worker
takes `replies` first, so however many automatic sends wait, an agent's reply waits at most
for the one send in progress; a worker started with `--queues replies` serves replies alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

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
DELIVERY_RETRY_INTERVALS: Sequence[int] = (5, 15, 60, 300, 900)


@dataclass(frozen=True)
class DeliveryLane:
    queue: str
    # rq stops a send that runs longer (a provider holding the request open); its outcome
    # is then unknown and the next attempt reconciles with the provider before sending.
    job_timeout_s: int


REPLY_LANE = DeliveryLane(REPLIES_QUEUE, job_timeout_s=30)   # a long SMS goes in several parts
# One Twilio request and its reconciliation; an automatic send holds a worker no longer.
AUTOMATIC_LANE = DeliveryLane(DELIVERY_QUEUE, job_timeout_s=20)
DELIVERY_LANES: dict[str, DeliveryLane] = {"agent": REPLY_LANE}


def delivery_lane(author_kind: str) -> DeliveryLane:
    """Where a message's send is queued: agents' replies apart from everything automatic."""
    return DELIVERY_LANES.get(author_kind, AUTOMATIC_LANE)


class Jobs:
    """The rq queues, on a synchronous Redis connection as rq requires."""

    def __init__(self, redis_url: str, send_lease_s: int | None = None):
        self.connection = Redis.from_url(redis_url)
        self.default = Queue(DEFAULT_QUEUE, connection=self.connection)
        # A send's claim lapses after the outbox lease (`outbox.lease`), and the sweep then
        # hands it to another attempt; a job still running by then could send alongside
        # that one. rq stops the job before its claim lapses.
        self.send_lease_s = send_lease_s

    def send_timeout_s(self, lane: DeliveryLane) -> int:
        if self.send_lease_s is None:
            return lane.job_timeout_s
        return max(1, min(lane.job_timeout_s, self.send_lease_s - 1))

    def enqueue_delivery(self, message_id: int, author_kind: str) -> None:
        lane = delivery_lane(author_kind)
        Queue(lane.queue, connection=self.connection).enqueue(
            DELIVER_JOB, message_id,
            retry=Retry(max=len(DELIVERY_RETRY_INTERVALS), interval=list(DELIVERY_RETRY_INTERVALS)),
            job_timeout=self.send_timeout_s(lane),
            result_ttl=600, failure_ttl=7 * 86400,
            description=f"deliver message {message_id}",
        )

    async def enqueue_media_async(self, message_id: int) -> None:
        await asyncio.to_thread(
            self.default.enqueue, MEDIA_JOB, message_id,
            retry=Retry(max=len(DELIVERY_RETRY_INTERVALS), interval=list(DELIVERY_RETRY_INTERVALS)),
            job_timeout=120, result_ttl=600, failure_ttl=7 * 86400,
            description=f"fetch attachments of message {message_id}")

    async def enqueue_delivery_async(self, message_ids: Sequence[int], author_kind: str) -> None:
        """Queue the sends of these messages, all written by `author_kind` (agent, system)."""
        # rq speaks synchronous Redis; keep its round trips off the event loop.
        def enqueue_all() -> None:
            for message_id in message_ids:
                self.enqueue_delivery(message_id, author_kind)

        if message_ids:
            await asyncio.to_thread(enqueue_all)

    def close(self) -> None:
        self.connection.close()
