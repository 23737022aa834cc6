"""The mailboxes' poll: the worker's periodic job that reads new mail over IMAP (imap-tools)
and hands it to the inbox.

One job runs every few seconds (`channel.POLL_JOB`) and polls each mailbox whose own
interval (or back-off) has passed, all of them side by side: a mailbox that hangs or fails
holds up nobody else. A Redis lock per mailbox, with a TTL a killed worker's lock lapses
by, lets exactly one worker poll a mailbox at a time.

Per folder, the cursor in the database (UIDVALIDITY, last UID) says what was read. New mail
is fetched by UID, in chunks, without setting \\Seen (BODY.PEEK); each chunk is parsed,
stored through the inbox's port in few transactions, and only then is the cursor moved and
the mail flagged or moved as configured. A crash between the commit and the cursor only
reads those mails again, and the raw-hash external id keeps each stored once. When the
folder's UIDVALIDITY changes (or on the first poll), the mail of the last
`reread_window` is read again, and the same dedupe keeps it once. A mail fetched again is
looked up by that id before it is parsed: one stored already is neither parsed nor kept
on disk a second time.

A mail that fails is tried again at the next poll (its attempts are counted in the
database); once it has failed `max_attempts` times it becomes a dead letter with its raw
bytes and the error, the cursor moves past it, and `app.py email replay ID` takes it in
once it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
import redis.exceptions
import sqlalchemy.exc
from imap_tools import AND, MailBox, MailBoxUnencrypted
from imap_tools.errors import (
    MailboxLoginError,
    MailboxStarttlsError,
    UnexpectedCommandStatusError,
)
from imap_tools.mailbox import BaseMailBox
from imap_tools.utils import check_command_status

from channels.email.inbound import CHANNEL, digest, external_id_of
from channels.email.mime import sender_in_headers
from channels.email.readers import MailReader, ReadMail, Unread, worker_count
from inbox import mailboxes
from inbox.clock import utcnow
from inbox.context import InboxContext, run_in_job_context
from inbox.ingest import IngestResult
from inbox.port import ChannelPort
from settings import EmailChannel, Imap, Mailbox

log = logging.getLogger(__name__)

LOCK_TTL_S = 120         # a poll renews its lock after every chunk; a dead one's lapses
# A poll stops taking new chunks after this and the next one goes on: with the IMAP
# timeout, the job ends well within the minute rq gives a periodic job.
POLL_BUDGET_S = 20
# A poll with this many new mails in a folder reads them in worker processes (`readers`).
PARALLEL_FROM = 300
# The most mail bytes a chunk holds: a chunk is fetched whole, copied to the reading
# processes and kept until stored, and a centre's mail carries scanned documents; a hundred
# of those must not take gigabytes of the worker. A mail larger than this is a chunk alone.
CHUNK_BYTES = 64 * 1024 * 1024
_FETCHED_UID = re.compile(rb"UID (\d+)")
_FETCHED_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


# --- the job -------------------------------------------------------------------------------


def poll_mailboxes() -> dict[str, str]:
    """Periodic (rq): poll every mailbox that is due; {mailbox id: what happened}."""
    return run_in_job_context(poll_due)   # the channels' traits: those the worker installed


async def poll_due(ctx: InboxContext, now: float | None = None) -> dict[str, str]:
    """Poll, side by side, each mailbox whose next poll is due."""
    email = ctx.config.channels.email
    if email is None or not email.mailboxes:
        return {}
    now = time.time() if now is None else now
    await mailboxes.forget_others(ctx.redis, {m.id for m in email.mailboxes})
    health = await mailboxes.health(ctx.redis)
    due = [m for m in email.mailboxes if m.id not in health or health[m.id].due_at <= now]
    outcomes = await asyncio.gather(*(poll_mailbox(ctx, m) for m in due))
    return {mailbox.id: outcome for mailbox, outcome in zip(due, outcomes, strict=True)}


async def poll_mailbox(ctx: InboxContext, mailbox: Mailbox) -> str:
    """One poll of `mailbox` under its lock; what happened, in a word or two. Never raises:
    a failure is recorded (health, back-off) and logged without the server's words, which
    may name the account."""
    lock = MailboxLock(ctx.redis, mailbox.id)
    if not await lock.acquire():
        return "busy"
    try:
        stored = await read_mailbox(ctx, mailbox, lock)
    except Exception as exc:
        kind = error_kind(exc)
        state = await _record_failure(ctx, mailbox, kind)
        log.warning("mailbox %s: poll failed (%s, %s); %d in a row, next try in %.0fs",
                    mailbox.id, kind, type(exc).__name__, state.failures if state else 0,
                    (state.due_at - time.time()) if state else mailbox.poll_interval_s)
        return f"failed: {kind}"
    finally:
        await lock.release()
    await mailboxes.polled(ctx.redis, mailbox.id, mailbox.poll_interval_s)
    if stored:
        log.info("mailbox %s: %d new mail(s) stored", mailbox.id, stored)
    return f"{stored} stored"


async def _record_failure(ctx: InboxContext, mailbox: Mailbox,
                          kind: str) -> mailboxes.MailboxHealth | None:
    try:
        return await mailboxes.failed(ctx.redis, mailbox.id, mailbox.poll_interval_s, kind)
    except redis.exceptions.RedisError as exc:
        ctx.redis_outage.failed(exc)
        return None


def error_kind(exc: BaseException) -> str:
    """What went wrong, in words fit for logs and metrics (no server text, no account)."""
    if isinstance(exc, MailboxLoginError):
        return "login"
    if isinstance(exc, LockLost):
        return "lock lost"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, UnexpectedCommandStatusError | imaplib.IMAP4.error):
        return "server"
    if isinstance(exc, OSError):
        return "connection"
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return "storage"
    if isinstance(exc, redis.exceptions.RedisError):
        return "redis"
    return "internal"


# --- the lock ------------------------------------------------------------------------------


_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1])
else return 0 end"""
_EXTEND = """if redis.call('get', KEYS[1]) == ARGV[1] then
return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"""


class MailboxLock:
    """Exactly one poller per mailbox: a Redis key with this poller's token and a TTL, so a
    killed worker's lock lapses; released or renewed only by the token that holds it."""

    def __init__(self, redis: aioredis.Redis, mailbox_id: str, ttl_s: int = LOCK_TTL_S):
        self.redis = redis
        self.key = f"cc:mailbox-lock:{mailbox_id}"
        self.token = secrets.token_hex(8)
        self.ttl_ms = ttl_s * 1000

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> None:
        """Keep the lock through a long poll; raises if it was lost (another poller may
        have the mailbox now, so this one must stop)."""
        if not await self.redis.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms):
            raise LockLost(self.key)

    async def release(self) -> None:
        with contextlib.suppress(redis.exceptions.RedisError):   # else it lapses by its TTL
            await self.redis.eval(_RELEASE, 1, self.key, self.token)


class LockLost(RuntimeError):
    """The mailbox's lock lapsed during the poll."""


# --- reading a mailbox ---------------------------------------------------------------------


class _ClosingIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib's IMAPS client, but a failed TLS handshake closes its socket (imaplib's leaves
    it open, one leaked socket per poll of a mailbox whose TLS fails)."""

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        try:
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class _TlsMailBox(MailBox):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _ClosingIMAP4SSL(self._host, self._port, ssl_context=self._ssl_context,
                                timeout=self._timeout)


def connect(imap: Imap) -> BaseMailBox:
    """A logged-in IMAP session (blocking: run it in a thread). Whatever fails on the way
    closes the connection."""
    if imap.security == "tls":
        client: BaseMailBox = _TlsMailBox(imap.host, imap.port, timeout=imap.timeout_s,
                                          ssl_context=ssl.create_default_context())
    else:
        client = MailBoxUnencrypted(imap.host, imap.port, timeout=imap.timeout_s)
    try:
        if imap.security == "starttls":
            check_command_status(client.client.starttls(ssl.create_default_context()),
                                 MailboxStarttlsError)
        client.login(imap.user, imap.password, initial_folder=None)
        refresh_capabilities(client)
    except BaseException:
        disconnect(client)
        raise
    return client


def refresh_capabilities(client: BaseMailBox) -> None:
    """Ask the server what it can do now that we are logged in. imaplib keeps what it read
    on connecting, and servers announce more after login (Dovecot's MOVE and UIDPLUS):
    without them imap-tools moves a mail by copying it and expunging the folder, which
    also removes whatever else was marked deleted there."""
    typ, data = client.client.capability()
    if typ == "OK" and data and isinstance(data[-1], bytes):
        client.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())


def disconnect(client: BaseMailBox) -> None:
    """Log out, or at least close the connection (blocking)."""
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.client.shutdown()


def fetch_raw(client: BaseMailBox, uids: list[int]) -> list[tuple[int, bytes]]:
    """The raw bytes of mails by UID, in one command, without setting \\Seen."""
    typ, data = client.client.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"FETCH answered {typ}")
    mails = []
    for item in data:
        if isinstance(item, tuple) and (found := _FETCHED_UID.search(item[0])):
            mails.append((int(found.group(1)), item[1]))
    return sorted(mails)


def uid_set(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set, runs as ranges ("1:5000,5002"): a backlog's
    thousands of UIDs in a short command."""
    runs: list[str] = []
    start = previous = uids[0]
    for uid in [*uids[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        runs.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(runs)


def fetch_sizes(client: BaseMailBox, uids: list[int]) -> dict[int, int]:
    """Each mail's size in bytes (RFC822.SIZE) by UID, in one command; a mail the server
    names no size for is left out."""
    typ, data = client.client.uid("FETCH", uid_set(uids), "(UID RFC822.SIZE)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"FETCH answered {typ}")
    sizes = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes) and (uid := _FETCHED_UID.search(line)) \
                and (size := _FETCHED_SIZE.search(line)):
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def chunks(uids: list[int], sizes: dict[int, int], count: int,
           max_bytes: int) -> Iterator[list[int]]:
    """`uids` in order, in chunks of at most `count` mails and `max_bytes` (by `sizes`; a
    mail of unknown size counts as none, one larger than `max_bytes` is a chunk alone)."""
    chunk: list[int] = []
    held = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) == count or held + size > max_bytes):
            yield chunk
            chunk, held = [], 0
        chunk.append(uid)
        held += size
    if chunk:
        yield chunk


@dataclass
class Outcome:
    """What became of one fetched mail in a chunk."""
    uid: int
    raw: bytes
    digest: str
    stored: bool = False         # taken in (or found stored already)
    buried: bool = False         # a dead letter (now or before)
    error: Unread | None = None


@dataclass
class Chunk:
    """A chunk of the folder's new mail, fetched and read (parsed, raw kept), not stored."""
    outcomes: list[Outcome]
    read: list[ReadMail | Unread | None]    # None: buried or stored already, not read again


def reader_for(ctx: InboxContext, mailbox: Mailbox, backlog: int) -> MailReader:
    """Worker processes for a backlog that pays for them; the poll's thread otherwise."""
    workers = worker_count() if backlog >= PARALLEL_FROM else 0
    window = timedelta(seconds=ctx.config.channels.email.reread_window_s)
    return MailReader(mailbox, ctx.media_dir, own_addresses(ctx), workers=workers,
                      window=window)


async def read_mailbox(ctx: InboxContext, mailbox: Mailbox, lock: MailboxLock) -> int:
    """Read every configured folder of `mailbox`; how many mails were newly stored."""
    client = await asyncio.to_thread(connect, mailbox.imap)
    try:
        deadline = time.monotonic() + POLL_BUDGET_S
        stored = 0
        # A first poll's backlog fills young tables in seconds (inbox.storage.statistics).
        async with ChannelPort(ctx).taking_in_a_backlog():
            for folder in mailbox.imap.folders:
                stored += await read_folder(ctx, mailbox, client, folder, lock, deadline)
        return stored
    finally:
        await asyncio.to_thread(disconnect, client)


async def read_folder(ctx: InboxContext, mailbox: Mailbox, client: BaseMailBox,
                      folder: str, lock: MailboxLock, deadline: float) -> int:
    email: EmailChannel = ctx.config.channels.email
    status = await asyncio.to_thread(client.folder.status, folder, ["UIDVALIDITY", "UIDNEXT"])
    await asyncio.to_thread(client.folder.set, folder, mailbox.imap.after == "none")
    uidvalidity = int(status["UIDVALIDITY"])
    port = ChannelPort(ctx)
    cursor = await port.mail_cursor(mailbox.id, folder)
    if cursor is not None and cursor["uidvalidity"] == uidvalidity:
        last = int(cursor["last_uid"])
        # "UID n:*" names at least the newest mail, even below n: keep only the new ones.
        found = await asyncio.to_thread(client.uids, f"UID {last + 1}:*")
        uids = sorted(u for u in map(int, found) if u > last)
    else:
        if cursor is not None:
            log.warning("mailbox %s: folder UIDVALIDITY changed; reading the last %s again",
                        mailbox.id, timedelta(seconds=email.reread_window_s))
        since = (utcnow() - timedelta(seconds=email.reread_window_s)).date()
        found = await asyncio.to_thread(client.uids, AND(date_gte=since))
        uids = sorted(map(int, found))
        last = 0
        if not uids:
            await port.advance_mail_cursor(mailbox.id, folder, uidvalidity,
                                           int(status["UIDNEXT"]) - 1)
            return 0
    if not uids:
        return 0
    # One IMAP command at a time on the connection: the next chunk's fetch and this one's
    # flagging take turns.
    imap_turn = asyncio.Lock()
    reader = reader_for(ctx, mailbox, len(uids))
    await reader.start()
    sizes = await asyncio.to_thread(fetch_sizes, client, uids)
    pending = list(chunks(uids, sizes, email.fetch_batch, CHUNK_BYTES))
    ahead: asyncio.Task[Chunk] | None = None
    stored = 0
    try:
        ahead = asyncio.create_task(read_chunk(ctx, mailbox, client, imap_turn, reader,
                                               pending.pop(0)))
        while ahead is not None:
            chunk = await ahead
            ahead = None
            # The next chunk is fetched and read while this one is stored.
            if pending and time.monotonic() <= deadline:
                ahead = asyncio.create_task(read_chunk(ctx, mailbox, client, imap_turn,
                                                       reader, pending.pop(0)))
            newly = await take_in(ctx, mailbox, chunk)
            stored += newly
            safe, blocked = await settle(ctx, mailbox, folder, uidvalidity, last,
                                         chunk.outcomes)
            async with imap_turn:
                await after_reading(client, mailbox, [o.uid for o in chunk.outcomes
                                                      if o.stored and o.uid <= safe])
            last = safe
            await lock.renew()
            if blocked:
                break
    finally:
        if ahead is not None:
            # Its fetch runs in a thread on the connection the caller is about to close: it
            # ends first. What it read is read again by the next poll.
            with contextlib.suppress(Exception):
                await ahead
        await reader.stop()
    return stored


async def read_chunk(ctx: InboxContext, mailbox: Mailbox, client: BaseMailBox,
                     imap_turn: asyncio.Lock, reader: MailReader, uids: list[int]) -> Chunk:
    """Fetch the mails `uids` and read those that are neither dead letters nor stored
    already. A folder read again (its UIDVALIDITY changed, or a poll died before its cursor
    moved) holds mails stored before: they are not parsed, nor their raw bytes kept, again."""
    async with imap_turn:
        fetched = await asyncio.to_thread(fetch_raw, client, uids)
    outcomes = [Outcome(uid, raw, digest(raw)) for uid, raw in fetched]
    port = ChannelPort(ctx)
    buried = await port.buried_mails(mailbox.id, [o.digest for o in outcomes])
    external_ids = [external_id_of(mailbox.id, o.digest) for o in outcomes]
    stored = await port.stored_messages(CHANNEL, external_ids)
    for outcome, external_id in zip(outcomes, external_ids, strict=True):
        outcome.buried = outcome.digest in buried
        outcome.stored = not outcome.buried and external_id in stored
    reading = [o for o in outcomes if not o.buried and not o.stored]
    read = iter(await reader.read([(o.raw, o.digest) for o in reading]) if reading else [])
    return Chunk(outcomes, [None if o.buried or o.stored else next(read) for o in outcomes])


def own_addresses(ctx: InboxContext) -> tuple[str, ...]:
    email = ctx.config.channels.email
    return tuple(m.address.lower() for m in email.mailboxes) if email else ()


async def take_in(ctx: InboxContext, mailbox: Mailbox, chunk: Chunk) -> int:
    """Store a chunk of read mails; how many are new. Each outcome says what became of its
    mail."""
    port = ChannelPort(ctx)
    # A bounce of our own mail fails that mail (the agent reads why) and is kept as a note
    # beside it; one that names none of ours is taken in as machine mail.
    named = [mail_id for read in chunk.read if isinstance(read, ReadMail) and read.bounce
             for mail_id in read.bounce.original_message_ids]
    ours = await port.sent_external_ids(CHANNEL, named) if named else set()
    messages, taking, bounces = [], [], 0
    for outcome, read in zip(chunk.outcomes, chunk.read, strict=True):
        if read is None:
            continue
        if isinstance(read, Unread):
            outcome.error = read
            continue
        bounce = read.bounce
        try:
            if bounce is not None and ours.intersection(bounce.original_message_ids) and \
                    await port.mark_bounced(CHANNEL, bounce.original_message_ids,
                                            bounce.reason, read.message):
                outcome.stored = True
                bounces += 1
                continue
        except Exception as exc:
            outcome.error = Unread.of(exc)
            continue
        messages.append(read.message)
        taking.append(outcome)
    results = await port.ingest_many(messages) if messages else []
    newly = bounces
    for outcome, result in zip(taking, results, strict=True):
        if isinstance(result, IngestResult):
            outcome.stored = True
            newly += not result.duplicate
        else:
            outcome.error = Unread.of(result)
    return newly


async def settle(ctx: InboxContext, mailbox: Mailbox, folder: str, uidvalidity: int,
                 last: int, outcomes: list[Outcome]) -> tuple[int, bool]:
    """After a chunk was stored: count the failures, bury the mails that failed too often,
    and move the cursor up to the first mail that must be tried again. The cursor and
    whether the folder is blocked until the next poll."""
    max_attempts = ctx.config.channels.email.max_attempts
    port = ChannelPort(ctx)
    safe, blocked = last, False
    for outcome in outcomes:
        if outcome.error is not None:
            error = outcome.error.error
            attempts = await port.count_mail_failure(mailbox.id, outcome.digest, error)
            if attempts < max_attempts:
                log.warning("mailbox %s: mail UID %d failed (%s), attempt %d of %d",
                            mailbox.id, outcome.uid, outcome.error.kind, attempts,
                            max_attempts)
                blocked = True
                break
            # Buried before the cursor passes it: a crash between the two finds it buried.
            letter = await port.bury_mail(mailbox.id, folder, outcome.uid, outcome.digest,
                                          outcome.raw, error, attempts,
                                          sender_in_headers(outcome.raw))
            log.error("mailbox %s: mail UID %d failed %d times (%s): dead letter %d",
                      mailbox.id, outcome.uid, attempts, outcome.error.kind, letter)
        safe = outcome.uid
    await port.advance_mail_cursor(mailbox.id, folder, uidvalidity, safe,
                                   [o.digest for o in outcomes if o.stored and o.uid <= safe])
    return safe, blocked


async def after_reading(client: BaseMailBox, mailbox: Mailbox, uids: list[int]) -> None:
    """Flag or move the mails now stored, as configured. A failure here loses nothing (the
    cursor is past them): it is logged, and the mail stays as it was."""
    imap = mailbox.imap
    if not uids or imap.after == "none":
        return
    names = [str(uid) for uid in uids]
    try:
        if imap.after == "flag":
            await asyncio.to_thread(client.flag, names, imap.flag, True)
        else:
            await asyncio.to_thread(client.move, names, imap.move_to)
    except (UnexpectedCommandStatusError, imaplib.IMAP4.error) as exc:
        log.warning("mailbox %s: could not %s %d stored mail(s) (%s)", mailbox.id,
                    imap.after, len(uids), type(exc).__name__)
