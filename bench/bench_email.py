"""Reading a mailbox: mails/s from a full IMAP folder to conversations an agent can list.

Starts a throwaway Dovecot (the tests' harness), fills a folder with `--mails` varied mails
(the MIME fixtures of tests/channels/email/fixtures as templates, each with its own sender
among `--senders`, Message-ID and a serial header), then, in the same run:

- the baseline, the I/O floor: a bare imap-tools fetch of every mail of the folder
  (`MailBox.fetch(mark_seen=False, bulk=True)`, each mail parsed into a MailMessage);
- the contact centre: the mailbox's polls (`channels.email.imap.poll_mailbox`, the worker's
  job without the scheduler's wait) until nothing new is left, on a fresh database; then it
  checks that every mail is one stored message in a conversation routed to the mailbox's
  queue (what an agent of that queue lists);
- the folder read again, as after a UIDVALIDITY reset or a poll that died before its cursor
  moved (the cursor set back to the start): every mail is fetched once more and found
  stored; it checks that none was stored twice;
- a ceiling: the same mails only parsed (`channels.email.mime.parse_mail`), on every core
  this process may use, with no IMAP and no database: no poll can list mails faster than
  it reads them, so this bounds what the contact centre's rate can reach on this machine.

Prints the rates and their ratios. Nothing else runs; the Redis database is flushed.

    python -m bench.bench_email [--mails 5000] [--senders 1500] [--db sqlite|postgresql]
                                [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import redis
from sqlalchemy import func, select

from bench.bench_webchat import scratch_database
from bench.processes import database_options
from inbox.storage.db import migrate
from routing.corpus.generate import made_up_fin
from settings import EmailChannel, Imap, Mailbox, load_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "channels" / "email" / "fixtures"
BENCH_REDIS = "redis://127.0.0.1:6379/12"
_REPLACED = re.compile(rb"^(From|Message-ID|Return-Path):.*\r?\n(?:[ \t].*\r?\n)*",
                       re.IGNORECASE | re.MULTILINE)
# The FINs the fixtures' residents give: each varied mail's resident gives their own.
_FIXTURE_FINS = re.compile(rb"6RT4NBV|7QM2PLX|5ZK7HXM")


def templates() -> list[bytes]:
    found = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    if not found:
        raise SystemExit(f"no mail fixtures in {FIXTURES}")
    return found


def varied(template: bytes, serial: int, senders: int) -> bytes:
    """The template as another resident's mail: its own sender, Message-ID, FIN and serial."""
    head, separator, body = template.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = template.partition(b"\n\n")
    newline = b"\r\n" if separator == b"\r\n\r\n" else b"\n"
    head = _REPLACED.sub(b"", head + newline).rstrip(b"\r\n")
    sender = serial % senders
    own = (f"From: Sakin {sender} <resident{sender}@mail.example.az>{newline.decode()}"
           f"Message-ID: <bench.{serial}@mail.example.az>{newline.decode()}"
           f"X-Bench-Serial: {serial}{newline.decode()}").encode()
    return own + head + separator + _FIXTURE_FINS.sub(made_up_fin(sender).encode(), body)


def fill(dovecot, user: str, count: int, senders: int) -> float:
    """Append `count` mails over IMAP; seconds taken."""
    started = time.perf_counter()
    shapes = templates()
    with dovecot.session(user) as box:
        for serial in range(count):
            box.append(varied(shapes[serial % len(shapes)], serial, senders), "INBOX")
    return time.perf_counter() - started


def _parsed(mails: list[bytes]) -> int:
    from channels.email.mime import parse_mail

    for raw in mails:
        parse_mail(raw)
    return len(mails)


def parsing_alone(count: int, senders: int) -> float:
    """Seconds to parse the benchmark's `count` mails on every core, in pieces of 100 as
    the poll reads them (the processes started, and warmed, before the clock)."""
    from multiprocessing import get_context

    from channels.email.readers import worker_count

    shapes = templates()
    mails = [varied(shapes[serial % len(shapes)], serial, senders) for serial in range(count)]
    pieces = [mails[start:start + 100] for start in range(0, count, 100)]
    with get_context("spawn").Pool(worker_count()) as pool:
        pool.map(_parsed, pieces[:worker_count()], chunksize=1)
        started = time.perf_counter()
        parsed = sum(pool.map(_parsed, pieces, chunksize=1))
        took = time.perf_counter() - started
    assert parsed == count
    return took


def bare_fetch(dovecot, user: str) -> tuple[int, float]:
    started = time.perf_counter()
    with dovecot.session(user) as box:
        box.folder.set("INBOX", readonly=True)
        uids = [message.uid for message in box.fetch(mark_seen=False, bulk=True)]
    return len(uids), time.perf_counter() - started


async def listed(ctx, mailbox) -> tuple[int, int, int]:
    """Inbound e-mail messages stored, those outside the mailbox's queue, conversations."""
    from inbox.storage.schema import conversations, messages

    inbound = (messages.c.channel == "email", messages.c.direction == "in")
    async with ctx.store.read() as tx:
        stored = (await tx.conn.execute(
            select(func.count()).select_from(messages).where(*inbound))).scalar_one()
        unlisted = (await tx.conn.execute(
            select(func.count()).select_from(messages).join(
                conversations, conversations.c.id == messages.c.conversation_id)
            .where(*inbound, conversations.c.queue != mailbox.queue))).scalar_one()
        opened = (await tx.conn.execute(select(func.count()).select_from(conversations))
                  ).scalar_one()
    return stored, unlisted, opened


async def contact_centre(config, user: str, total: int) -> tuple[int, float, float, str]:
    """Mails stored, seconds until all are listed, seconds to read the folder again, and
    the verdict."""
    from channels.email.imap import poll_mailbox
    from channels.registry import channel_book
    from inbox import channel_traits
    from inbox.context import open_context
    from routing.model import shared_model

    shared_model()   # the classifier is loaded before the clock starts, as in the worker
    channel_traits.install(channel_book())
    ctx = open_context(config, pool=True)
    [mailbox] = config.channels.email.mailboxes
    try:
        started = time.perf_counter()
        while (outcome := await poll_mailbox(ctx, mailbox)) != "0 stored":
            if not outcome.endswith("stored"):
                raise SystemExit(f"the poll failed: {outcome}")
        took = time.perf_counter() - started
        stored, unlisted, opened = await listed(ctx, mailbox)
        # The folder read again from its start, until the cursor is back where it was.
        async with ctx.store.transaction() as tx:
            cursor = await tx.mail.cursor(mailbox.id, "INBOX")
            await tx.mail.set_cursor(mailbox.id, "INBOX", cursor["uidvalidity"], 0)
        started = time.perf_counter()
        while True:
            outcome = await poll_mailbox(ctx, mailbox)
            if not outcome.endswith("stored"):
                raise SystemExit(f"the poll failed: {outcome}")
            async with ctx.store.read() as tx:
                if (await tx.mail.cursor(mailbox.id, "INBOX"))["last_uid"] >= \
                        cursor["last_uid"]:
                    break
        again = time.perf_counter() - started
        stored_after, _, _ = await listed(ctx, mailbox)
    finally:
        await ctx.close()
    verdict = "each mail once, all in the mailbox's queue" \
        if stored == stored_after == total and unlisted == 0 else \
        f"WRONG: {stored} stored ({stored_after} after reading again), {unlisted} outside " \
        "the queue"
    return stored, took, again, f"{verdict}; {opened} conversations"


async def run(args: argparse.Namespace) -> None:
    from tests.channels.email.dovecot import Dovecot

    dovecot = Dovecot().start()
    user = "bench"
    try:
        filled = fill(dovecot, user, args.mails, args.senders)
        print(f"Dovecot folder filled with {args.mails} varied mails "
              f"({len(templates())} templates, {args.senders} senders) in {filled:.1f}s")
        fetched, bare_s = bare_fetch(dovecot, user)
        async with scratch_database(args.db, args.postgres_url) as database:
            await asyncio.to_thread(migrate, database)   # alembic runs its own loop
            os.environ.update(DATABASE_URL=database, REDIS_URL=args.redis_url)
            redis.Redis.from_url(args.redis_url).flushdb()
            # The raw mails are kept where a deployment keeps its media (under var/), not in
            # /tmp, which may be a slower file system than the one the system runs on.
            (ROOT / "var").mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="bench-media-", dir=ROOT / "var") as media:
                base = load_config(ROOT / "config.yaml", env={})
                mailbox = Mailbox(
                    id="dost-baku-1", address="baku1@dost.example.gov.az", queue="dost-baku-1",
                    imap=Imap(host=dovecot.host, port=dovecot.port, security="none",
                              user=user, password=dovecot.password, after="none"),
                    smtp={}, poll_interval_s=30)
                config = replace(base, channels=replace(
                    base.channels, email=replace(base.channels.email or EmailChannel(30, ()),
                                                 mailboxes=(mailbox,))),
                    media=replace(base.media, directory=media))
                stored, ours_s, again_s, verdict = await contact_centre(config, user,
                                                                        args.mails)
            redis.Redis.from_url(args.redis_url).flushdb()
    finally:
        dovecot.stop()
    parse_s = parsing_alone(args.mails, args.senders)
    bare_rate, ours_rate = fetched / bare_s, stored / ours_s
    print(f"{'reader':<44}{'mails':>7}{'seconds':>9}{'mails/s':>9}")
    print(f"{'bare imap-tools fetch (baseline)':<44}{fetched:>7}{bare_s:>9.1f}{bare_rate:>9.0f}")
    print(f"{'contact centre: polled to listed conversations':<44}{stored:>7}{ours_s:>9.1f}"
          f"{ours_rate:>9.0f}")
    print(f"{'contact centre: the folder read again':<44}{stored:>7}{again_s:>9.1f}"
          f"{stored / again_s:>9.0f}")
    print(f"{'ceiling: parsing alone, no IMAP, no database':<44}{args.mails:>7}{parse_s:>9.1f}"
          f"{args.mails / parse_s:>9.0f}")
    print(f"ratio {ours_rate / bare_rate:.2f}x the bare fetch (goal >= 0.5x), {args.db}; "
          f"{verdict}")
    print(f"ceiling {args.mails / parse_s / bare_rate:.2f}x the bare fetch; the contact centre "
          f"at {ours_rate * parse_s / args.mails:.2f}x the ceiling")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=1500)
    database_options(parser, BENCH_REDIS)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
