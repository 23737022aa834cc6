"""Enqueueing background jobs by name, so the inbox never imports the channels it serves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis import Redis
from rq import Queue, Retry

DELIVERY_QUEUE = "delivery"
DEFAULT_QUEUE = "default"
QUEUES = (DELIVERY_QUEUE, DEFAULT_QUEUE)

DELIVER_JOB = "channels.delivery.deliver"
MEDIA_JOB = "channels.media.fetch_attachments"
DELIVERY_RETRY_INTERVALS: Sequence[int] = (5, 15, 60, 300, 900)
DELIVERY_TIMEOUT_S = 30


class Jobs:
    """The rq queues, on a synchronous Redis connection as rq requires."""

    def __init__(self, redis_url: str):
        self.connection = Redis.from_url(redis_url)
        self.delivery = Queue(DELIVERY_QUEUE, connection=self.connection)
        self.default = Queue(DEFAULT_QUEUE, connection=self.connection)

    def enqueue_delivery(self, message_id: int) -> None:
        self.delivery.enqueue(
            DELIVER_JOB, message_id,
            retry=Retry(max=len(DELIVERY_RETRY_INTERVALS), interval=list(DELIVERY_RETRY_INTERVALS)),
            job_timeout=DELIVERY_TIMEOUT_S,
            result_ttl=600, failure_ttl=7 * 86400,
            description=f"deliver message {message_id}",
        )

    async def enqueue_media_async(self, message_id: int) -> None:
        await asyncio.to_thread(
            self.default.enqueue, MEDIA_JOB, message_id,
            retry=Retry(max=len(DELIVERY_RETRY_INTERVALS), interval=list(DELIVERY_RETRY_INTERVALS)),
            job_timeout=120, result_ttl=600, failure_ttl=7 * 86400,
            description=f"fetch attachments of message {message_id}")

    async def enqueue_delivery_async(self, message_ids: Sequence[int]) -> None:
        # rq speaks synchronous Redis; keep its round trips off the event loop.
        def enqueue_all() -> None:
            for message_id in message_ids:
                self.enqueue_delivery(message_id)

        if message_ids:
            await asyncio.to_thread(enqueue_all)

    def close(self) -> None:
        self.connection.close()
