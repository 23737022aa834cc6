"""The background worker: rq jobs (delivery, polls, sweeps), the consumers of the event log,
and the scheduler that starts the periodic ones.

    python worker.py [--burst] [--queues replies,delivery,default] [--concurrency 64]

Several workers may run at once; a Redis lock per period lets exactly one of them enqueue
each periodic job. A worker started with `--queues replies` sends agents' replies only, so a
reply never waits for an automatic send or a periodic job already running. Delivery jobs run
in the worker's own process, on one long-lived event loop (`channels.delivery`); every other
job in a work horse rq forks for it.
"""

from __future__ import annotations

if __name__ == "__main__":
    # First, before an import starts a thread: the threads leave Ctrl-C, SIGTERM and rq's
    # job timeouts to the main thread, which would otherwise miss them while it waits for a
    # job (inbox.main_thread_signals). It takes them again once rq has started (bootstrap).
    from inbox.main_thread_signals import hold_for_the_main_thread
    hold_for_the_main_thread()

import argparse
import logging
import sys
import threading
from typing import Any

from redis import Redis
from rq import Queue
from rq import Worker as ForkingWorker
from rq.job import Job
from rq.worker import WorkerStatus

from channels.delivery import DEFAULT_CONCURRENCY, DeliveryRuntime, install
from channels.registry import channel_book, config_problems, scheduled_jobs
from inbox import agent_uploads, channel_traits, erasure
from inbox.consumers import EventConsumer, run_consumers
from inbox.context import redis_url, run_in_job_context
from inbox.jobs import DEFAULT_QUEUE, DELIVER_JOB, QUEUES
from inbox.logs import configure_logging
from inbox.main_thread_signals import take_in_the_main_thread, threads_leave_signals_to_main
from inbox.notifications import NOTIFICATIONS_CONSUMER
from inbox.outage import REDIS_UNAVAILABLE, OutageLog
from inbox.parent_death import end_children_with_this_process
from inbox.surveys import SURVEYS_CONSUMER
from inbox.sweeps import SWEEP_JOB
from reports.rollup import FACTS_CONSUMER
from reports.rollup import SWEEP_JOB as FACTS_SWEEP_JOB
from settings import Config, ConfigError, load_config

log = logging.getLogger("worker")

CONSUMERS_INTERVAL_S = 10         # reports (and any consumer) lag live state by about this
UNSUBSCRIBE_WAIT_S = 2            # a stopping worker's wait for rq's pub/sub thread
FACTS_SWEEP_INTERVAL_S = 15 * 60  # a full look back, for anything the watermark missed

# Who reads the event log, in the order they run. A new reader of state changes (CSAT,
# notifications, registration intake) is one more entry here.
EVENT_CONSUMERS: tuple[EventConsumer, ...] = (FACTS_CONSUMER, NOTIFICATIONS_CONSUMER,
                                               SURVEYS_CONSUMER)
CONSUMERS_JOB = "worker.consume_events"


def consume_events() -> dict[str, int | None]:
    """Periodic: every consumer handles the events written since its last run."""
    return run_in_job_context(lambda ctx: run_consumers(ctx, EVENT_CONSUMERS))


class PeriodicJobs:
    """Enqueues each periodic job once per interval across all workers."""

    def __init__(self, connection: Redis, jobs: dict[str, int]):
        self.connection = connection
        self.jobs = jobs
        self.queue = Queue(DEFAULT_QUEUE, connection=connection)
        self.stopped = threading.Event()
        self.outage = OutageLog("Redis")

    def tick(self) -> list[str]:
        enqueued = []
        for name, interval in self.jobs.items():
            # The lock lapses just before the next tick, so one tick per interval wins it.
            if self.connection.set(f"cc:periodic:{name}", "1", nx=True,
                                   px=max(interval * 1000 - 200, 500)):
                self.queue.enqueue(name, job_timeout=max(interval * 4, 60), result_ttl=60,
                                   description=f"periodic {name}")
                enqueued.append(name)
        return enqueued

    def run(self) -> None:
        period = min(self.jobs.values())
        while not self.stopped.wait(period):
            try:
                self.tick()
            except REDIS_UNAVAILABLE as exc:
                self.outage.failed(exc)
            except Exception:
                log.exception("periodic scheduling failed; trying again next period")
            else:
                self.outage.answered()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="periodic-jobs", daemon=True)
        thread.start()
        return thread


def periodic_jobs(config: Config) -> dict[str, int]:
    """The worker's own periodic jobs and those the channels declare (a mailbox's poll)."""
    return {
        SWEEP_JOB: config.outbox.sweep_interval_s,
        CONSUMERS_JOB: CONSUMERS_INTERVAL_S,
        FACTS_SWEEP_JOB: FACTS_SWEEP_INTERVAL_S,
        agent_uploads.SWEEP_JOB: 3600,
        **({erasure.SWEEP_JOB: erasure.SWEEP_INTERVAL_S}
           if config.privacy.retention_s is not None else {}),
        **scheduled_jobs(config),
    }


class Worker(ForkingWorker):
    """rq's worker, but delivery jobs run in this process, on the delivery runtime: a fork
    and a fresh context per send cost far more than the send (rq's forking worker runs a
    few dozen no-op jobs a second). Sweeps, media fetches and the event consumers still run
    in a work horse of their own, so what they hold dies with them."""

    IN_PROCESS = frozenset({DELIVER_JOB})

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name not in self.IN_PROCESS:
            super().execute_job(job, queue)
            return
        # What rq's SimpleWorker does for every job.
        self.prepare_execution(job)
        self.perform_job(job, queue)
        self.set_state(WorkerStatus.IDLE)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """rq's; then, its command listener started, the main thread takes the stop signals
        the threads started so far leave to it (before rq forks its scheduler, which must
        receive them too)."""
        super().bootstrap(*args, **kwargs)
        take_in_the_main_thread()

    def unsubscribe(self) -> None:
        """rq's, with its wait bounded. rq stops the thread that listens for its commands
        and waits for it; since redis-py 8 that wait lasts until the thread wakes, and a
        thread already unsubscribed sleeps out rq's whole minute first, so a worker asked
        to stop could hang that long (and be killed). The thread is a daemon: what it holds
        ends with the process."""
        closing = threading.Thread(target=super().unsubscribe, name="pubsub-close",
                                   daemon=True)
        with threads_leave_signals_to_main():
            closing.start()
        closing.join(UNSUBSCRIBE_WAIT_S)

    def get_heartbeat_ttl(self, job: Job) -> int:
        if job.func_name not in self.IN_PROCESS:
            return super().get_heartbeat_ttl(job)
        # No horse to watch: the worker beats only around the job, so outlive its timeout.
        return int(job.timeout or Queue.DEFAULT_TIMEOUT) + 60


def positive(value: str) -> int:
    if not value.isdecimal() or int(value) < 1:
        raise argparse.ArgumentTypeError("expected a whole number, at least 1")
    return int(value)


def queue_names(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in QUEUES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected queues from {', '.join(QUEUES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="drain the queues and exit")
    parser.add_argument("--queues", type=queue_names, default=QUEUES,
                        help="the rq queues to take jobs from, first listed first "
                             f"(default {','.join(QUEUES)})")
    parser.add_argument("--concurrency", type=positive, default=DEFAULT_CONCURRENCY,
                        help="sends of one delivery job in flight at once "
                             f"(default {DEFAULT_CONCURRENCY})")
    args = parser.parse_args(argv)
    try:
        config = load_config()
        if problems := config_problems(config):
            raise ConfigError(config.source, problems)
    except ConfigError as exc:
        print(f"refusing to start: the configuration has errors\n{exc.format()}",
              file=sys.stderr)
        return 1
    # The jobs forked from here find the channels' traits the inbox needs.
    channel_traits.install(channel_book())
    connection = Redis.from_url(redis_url())
    periodic = PeriodicJobs(connection, periodic_jobs(config))
    periodic.tick()
    if not args.burst:
        periodic.start()
    worker = Worker([Queue(name, connection=connection) for name in args.queues],
                    connection=connection)
    # The work horses and the scheduler process rq forks must not outlive a killed worker.
    end_children_with_this_process()
    runtime = DeliveryRuntime(args.concurrency).start()
    install(runtime)
    try:
        # rq would log every periodic sweep; the jobs log what they did themselves.
        worker.work(with_scheduler=True, burst=args.burst, logging_level="WARNING")
    finally:
        install(None)
        runtime.close()
        periodic.stopped.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
