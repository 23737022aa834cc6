"""The real worker process: its forked children (the work horse running a job, rq's scheduler)
end with it, whether it is killed outright or asked to stop; and its scheduling thread meets
a Redis outage with one warning and its end."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq import Worker as RqWorker
from rq.job import Job, JobStatus
from rq.utils import import_attribute
from rq.worker import WorkerStatus

from inbox.jobs import DEFAULT_QUEUE
from inbox.storage.db import migrate
from reports.rollup import FACTS_CONSUMER
from tests.conftest import ROOT, TEST_CONFIG
from tests.inbox.test_outage import PrivateRedis
from worker import (
    CONSUMERS_JOB,
    EVENT_CONSUMERS,
    UNSUBSCRIBE_WAIT_S,
    PeriodicJobs,
    Worker,
    consume_events,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="parent-death signals are Linux's")


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")   # a zombie has ended


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.fixture
def worker(clean_redis: str, tmp_path):
    database = f"sqlite:///{tmp_path / 'contact-centre.db'}"
    migrate(database)
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": clean_redis,
           "CC_CONFIG": str(TEST_CONFIG), "SECRET_KEY": "test-secret-key",
           "CC_MODEL_DIR": str(ROOT / "var" / "model"), "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    seen: set[int] = set()
    yield process, seen
    for pid in seen | {process.pid}:   # whatever the test left running
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    log.close()


def _scheduler_and_horse(process: subprocess.Popen, redis_url: str,
                         seen: set[int]) -> set[int]:
    """Starts a long job and waits until the worker runs it in a horse beside its scheduler."""
    connection = Redis.from_url(redis_url)
    job = Queue(DEFAULT_QUEUE, connection=connection).enqueue("time.sleep", 120,
                                                              job_timeout=300)
    _wait_for(lambda: Job.fetch(job.id, connection=connection).get_status()
              == JobStatus.STARTED, 30, "the job did not start")
    connection.close()
    children = _wait_for(lambda: len(c := _children(process.pid)) >= 2 and c, 10,
                         "the worker did not have a scheduler and a horse")
    seen |= children
    return children


def test_killing_the_worker_ends_its_scheduler_and_its_job(worker, clean_redis):
    process, seen = worker
    children = _scheduler_and_horse(process, clean_redis, seen)

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    # Generous for a loaded machine: without the parent-death signal they would run the
    # job's whole 120 s.
    _wait_for(lambda: not any(_running(pid) for pid in children), 30,
              f"children {sorted(pid for pid in children if _running(pid))} still ran")


def test_stopping_the_worker_stops_its_scheduler(worker, clean_redis):
    process, seen = worker
    scheduler = _wait_for(lambda: _children(process.pid), 30, "no scheduler started")
    seen |= scheduler

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    _wait_for(lambda: not any(_running(pid) for pid in scheduler), 5,
              "the scheduler outlived the worker")


def _blocked_signals(pid: int, tid: int) -> set[int]:
    """The signals thread `tid` of `pid` blocks (its SigBlk mask: bit n - 1 is signal n)."""
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return {number for number in range(1, 65) if mask >> (number - 1) & 1}
    raise AssertionError(f"no signal mask for thread {tid}")


def test_an_idle_worker_stops_on_ctrl_c_whichever_thread_the_kernel_picks(worker, clean_redis):
    """The kernel gives a process's signal to any thread not blocking it (numpy's BLAS
    threads included); Python handles it in the main thread only, which waits for a job in
    a blocking Redis read that only a signal of its own interrupts. Only the main thread may
    take the stop signals."""
    process, _ = worker
    connection = Redis.from_url(clean_redis)
    _wait_for(lambda: [w for w in RqWorker.all(connection=connection)
                       if w.pid == process.pid and w.get_state() == WorkerStatus.IDLE],
              30, "the worker did not wait for jobs")
    connection.close()
    threads = {int(tid) for tid in os.listdir(f"/proc/{process.pid}/task")} - {process.pid}
    # At least the scheduling thread, the delivery loop and rq's command listener.
    assert len(threads) >= 3, threads
    stops = {int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIGALRM)}
    assert not stops & _blocked_signals(process.pid, process.pid)
    for tid in threads:
        assert stops <= _blocked_signals(process.pid, tid), tid
    # rq's scheduler, a process the worker forks, takes them (and stops with the worker).
    [scheduler] = _wait_for(lambda: _children(process.pid), 30, "no scheduler started")
    assert not stops & _blocked_signals(scheduler, scheduler)

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=15) == 0


def test_a_stopping_worker_does_not_wait_out_its_command_listener(clean_redis):
    """rq's thread for its commands (a pub/sub listener), once unsubscribed, sleeps a minute
    waiting for a subscription; stopping the worker must not wait for it to wake."""
    connection = Redis.from_url(clean_redis)
    worker = Worker([Queue(DEFAULT_QUEUE, connection=connection)], connection=connection)
    worker.subscribe()
    _wait_for(lambda: worker.pubsub.subscribed, 5, "the worker did not subscribe")
    # As it happens when the stop comes at the wrong moment: the listener reads the
    # unsubscription's answer, then goes to sleep until a subscription that never comes.
    worker.pubsub.unsubscribe()
    _wait_for(lambda: not worker.pubsub.subscribed, 5, "the worker did not unsubscribe")
    time.sleep(0.3)
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < UNSUBSCRIBE_WAIT_S + 1
    connection.close()


def test_the_scheduler_thread_logs_a_redis_outage_once_and_its_end(tmp_path, caplog):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to start a Redis of its own")
    server = PrivateRedis(tmp_path)
    server.start()
    connection = Redis.from_url(server.url, socket_timeout=1)
    periodic = PeriodicJobs(connection, {"inbox.sweeps.sweep": 1})
    caplog.set_level(logging.INFO)
    thread = periodic.start()
    try:
        server.kill()
        _wait_for(lambda: periodic.outage.down, 10, "the outage was not noticed")
        time.sleep(2.5)     # periods that fail in silence
        server.start()
        _wait_for(lambda: not periodic.outage.down, 10, "the end was not noticed")
    finally:
        periodic.stopped.set()
        thread.join(timeout=5)
        server.kill()
        connection.close()

    lines = [r.getMessage() for r in caplog.records if r.name in ("worker", "inbox.outage")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Redis is unreachable")
    assert lines[1].startswith("Redis answers again after ")
    failures = int(lines[1].split("; ")[1].split()[0])
    assert failures >= 2
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_the_periodic_job_runs_the_event_consumers_report_facts_first(environment):
    assert import_attribute(CONSUMERS_JOB) is consume_events   # rq finds the job by name
    assert EVENT_CONSUMERS[0] is FACTS_CONSUMER
    # The watermark report facts kept before they were a consumer: no rebuild on upgrade.
    assert FACTS_CONSUMER.watermark_key == "cc:facts:last-event-id"
    # An empty log, on the real database and Redis; results are told, then surveys asked.
    assert consume_events() == {"facts": 0, "notifications": 0, "surveys": 0}
