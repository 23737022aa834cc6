"""The poll as the worker runs it: declared by the channel, enqueued by the worker's
scheduler, run in a forked work horse from the configuration file (its password from the
environment); and a worker killed in the middle of a poll loses no mail and doubles none."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from channels.email import kept_sweep
from channels.email.channel import EMAIL_CHANNEL, POLL_JOB
from channels.email.imap import poll_mailbox
from inbox.jobs import FORGET_INTERVAL_S, FORGET_JOB
from inbox.storage.schema import messages
from settings import load_config
from tests.channels.email.test_imap import mail
from tests.conftest import ROOT, TEST_CONFIG


def config_file(tmp_path, dovecot, user: str, fetch_batch: int = 100):
    """The test configuration with one mailbox on the test Dovecot; its password is
    "${TEST_IMAP_PASSWORD}", as a deployment's would be."""
    text = TEST_CONFIG.read_text().replace("    mailboxes: []\n", f"""    fetch_batch: {fetch_batch}
    mailboxes:
      - id: dost-baku-1
        address: baku1@dost.example.gov.az
        queue: dost-baku-1
        imap:
          host: {dovecot.host}
          port: {dovecot.port}
          security: none
          user: {user}
          password: "${{TEST_IMAP_PASSWORD}}"
        smtp: {{host: 127.0.0.1, port: 25}}
""").replace("  directory: var/media", f"  directory: {tmp_path / 'media'}")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def mail_environment(environment, monkeypatch, tmp_path, dovecot, new_account):
    user = new_account()
    path = config_file(tmp_path, dovecot, user, fetch_batch=2)
    monkeypatch.setenv("CC_CONFIG", str(path))
    monkeypatch.setenv("TEST_IMAP_PASSWORD", dovecot.password)
    return user, {**os.environ}


async def inbound_count(ctx) -> int:
    async with ctx.store.read() as tx:
        return (await tx.conn.execute(select(func.count()).select_from(messages).where(
            messages.c.channel == "email", messages.c.direction == "in"))).scalar_one()


def test_the_channel_asks_for_its_poll_sweep_and_erasures_only_when_there_are_mailboxes(
        tmp_path, dovecot):
    assert EMAIL_CHANNEL.scheduled_jobs(load_config(TEST_CONFIG, env={})) == {}
    config = load_config(config_file(tmp_path, dovecot, "someone"),
                         env={"TEST_IMAP_PASSWORD": "x"})
    assert EMAIL_CHANNEL.scheduled_jobs(config) == {POLL_JOB: 5,
                                                    kept_sweep.SWEEP_JOB: 3600,
                                                    FORGET_JOB: FORGET_INTERVAL_S}


async def test_the_worker_polls_the_mailboxes(mail_environment, dovecot, ctx):
    user, env = mail_environment
    for n in range(3):
        dovecot.append(user, mail(f"Məktub {n}", sender=f"r{n}@mail.ru"))
    done = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert await inbound_count(ctx) == 3


async def test_a_worker_killed_mid_poll_stores_every_mail_once_after_restart(
        mail_environment, dovecot, ctx):
    user, env = mail_environment
    total = 40
    for n in range(total):
        dovecot.append(user, mail(f"Məktub {n}", sender=f"r{n}@mail.ru"))
    worker = subprocess.Popen([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while (stored := await inbound_count(ctx)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)   # the worker and its work horse, mid-poll
        worker.wait()
    assert 4 <= stored < total
    # Its lock lapses by its TTL (MailboxLock, shown in test_imap); here it is let go now.
    await ctx.redis.delete("cc:mailbox-lock:dost-baku-1")
    [mailbox] = load_config().channels.email.mailboxes
    ctx.config = load_config()
    while (outcome := await poll_mailbox(ctx, mailbox)) != "0 stored":
        assert outcome.endswith("stored")
    assert await inbound_count(ctx) == total
    async with ctx.store.read() as tx:
        bodies = (await tx.conn.execute(select(messages.c.body).where(
            messages.c.channel == "email", messages.c.direction == "in"))).scalars().all()
    assert sorted(bodies) == sorted(f"Məktub {n}" for n in range(total))
