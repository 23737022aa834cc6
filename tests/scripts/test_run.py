"""scripts/run as a new user meets it: it starts the system once, refuses clearly to start it a
second time on the same port, and a signal stops everything it started, its Redis included."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import JobStatus

from inbox.jobs import DEFAULT_QUEUE
from tests.conftest import ROOT
from tests.e2e.support import free_port

RUN = ROOT / "scripts" / "run"


def _group(pgid: int) -> set[int]:
    """The live processes of a process group (the script and what it started)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.add(int(entry.name))
    return members


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


@pytest.fixture
def settings(tmp_path) -> dict[str, str]:
    outside = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_URL", "HOST")}
    return {**outside, "PORT": str(free_port()),
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'contact-centre.db'}",
            "CC_MODEL_DIR": str(ROOT / "var" / "model")}


@pytest.fixture
def first_run(settings, tmp_path):
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen([str(RUN)], cwd=ROOT, env=settings, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{settings['PORT']}"
    deadline = time.monotonic() + 180
    while not _healthy(base):
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"scripts/run did not come up:\n{(tmp_path / 'run.log').read_text()}")
        time.sleep(0.5)
    yield process, base, settings
    for pid in _group(process.pid):   # whatever a failed test left running
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    client = redis.Redis.from_url(settings["REDIS_URL"])
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(nosave=True)
    log.close()


def test_a_second_run_says_the_system_runs_and_a_signal_stops_all_the_first_started(
        first_run, tmp_path):
    process, base, settings = first_run
    assert _redis_answers(settings["REDIS_URL"])   # started by the script: nothing was there
    started = _group(process.pid) - {process.pid}
    assert len(started) >= 2, started              # the app and the worker, at least
    with urllib.request.urlopen(f"{base}/chat/widget.js", timeout=5) as answer:
        assert f"{base}/chat" in answer.read().decode()   # PUBLIC_URL follows PORT

    began = time.monotonic()
    second = subprocess.run([str(RUN)], cwd=ROOT, env=settings, capture_output=True,
                            text=True, timeout=60)

    assert second.returncode != 0
    assert time.monotonic() - began < 30
    assert f"The contact centre is already running at {base}" in second.stderr
    assert f"pid {process.pid}" in second.stderr
    assert "Nothing was started" in second.stderr
    assert _healthy(base)                          # the first one was left alone

    process.send_signal(signal.SIGTERM)

    _assert_all_stopped(process, base, settings)


def _assert_all_stopped(process: subprocess.Popen, base: str, settings: dict[str, str]) -> None:
    assert process.wait(timeout=60) != 0
    deadline = time.monotonic() + 15
    while _group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(process.pid) == set()            # the app and the worker are gone
    assert not _healthy(base)
    assert not _redis_answers(settings["REDIS_URL"])   # and the Redis it started


def test_ctrl_c_stops_all_it_started(first_run):
    process, base, settings = first_run

    os.killpg(process.pid, signal.SIGINT)          # what a terminal sends on Ctrl-C

    _assert_all_stopped(process, base, settings)


def test_ctrl_c_during_a_long_job_stops_all_after_a_short_grace(first_run):
    process, base, settings = first_run
    connection = redis.Redis.from_url(settings["REDIS_URL"])
    job = Queue(DEFAULT_QUEUE, connection=connection).enqueue("time.sleep", 300,
                                                              job_timeout=600)
    deadline = time.monotonic() + 60
    while job.get_status(refresh=True) != JobStatus.STARTED:
        assert time.monotonic() < deadline, "the worker did not start the job"
        time.sleep(0.2)
    connection.close()

    began = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)

    _assert_all_stopped(process, base, settings)
    # The job's process is ended after the grace, not waited for (nor the worker killed
    # after the script's last 20 s).
    assert time.monotonic() - began < 25


def test_a_port_taken_by_another_program_is_named(settings):
    with socket.socket() as other:
        other.bind(("127.0.0.1", int(settings["PORT"])))
        other.listen()
        result = subprocess.run([str(RUN)], cwd=ROOT, env=settings, capture_output=True,
                                text=True, timeout=60)

    assert result.returncode != 0
    assert f"Port {settings['PORT']} on 127.0.0.1 is in use by another program" in result.stderr
    assert not _redis_answers(settings["REDIS_URL"])   # nothing was started
