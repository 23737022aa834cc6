"""Which rq queue a send goes to, and how long rq lets it run; against real Redis."""

from __future__ import annotations

import pytest
from rq import Queue

from inbox.jobs import (
    DEFAULT_QUEUE,
    DELIVERY_QUEUE,
    DELIVERY_RETRY_INTERVALS,
    MEDIA_JOB,
    QUEUES,
    REPLIES_QUEUE,
    Jobs,
)


@pytest.fixture
def jobs(clean_redis):
    def make(lease_s: int | None) -> Jobs:
        made.append(Jobs(clean_redis, send_lease_s=lease_s))
        return made[-1]

    made: list[Jobs] = []
    yield make
    for each in made:
        each.close()


def queued(jobs: Jobs, name: str) -> list[tuple[tuple, int]]:
    return [(job.args, job.timeout) for job in Queue(name, connection=jobs.connection).jobs]


def test_replies_and_automatic_messages_go_to_their_own_queues(jobs) -> None:
    production = jobs(60)
    production.enqueue_delivery(7, "agent")
    production.enqueue_delivery(8, "system")
    assert queued(production, REPLIES_QUEUE) == [((7,), 30)]
    assert queued(production, DELIVERY_QUEUE) == [((8,), 20)]
    assert QUEUES.index(REPLIES_QUEUE) < QUEUES.index(DELIVERY_QUEUE)   # a worker takes it first


def test_a_send_is_stopped_before_its_claim_can_lapse(jobs) -> None:
    short_lease = jobs(6)
    short_lease.enqueue_delivery(7, "agent")
    assert queued(short_lease, REPLIES_QUEUE) == [((7,), 5)]


async def test_a_batch_queues_a_retried_media_job_for_each_message_with_files(jobs) -> None:
    production = jobs(60)
    await production.enqueue_media_async([31, 32, 35])
    await production.enqueue_media_async([])
    queue = Queue(DEFAULT_QUEUE, connection=production.connection)
    assert [(job.func_name, job.args, job.timeout) for job in queue.jobs] == [
        (MEDIA_JOB, (31,), 120), (MEDIA_JOB, (32,), 120), (MEDIA_JOB, (35,), 120)]
    for job in queue.jobs:
        assert job.retries_left == len(DELIVERY_RETRY_INTERVALS)
        assert job.retry_intervals == list(DELIVERY_RETRY_INTERVALS)
        assert job.description == f"fetch attachments of message {job.args[0]}"
