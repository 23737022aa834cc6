"""Durable intake for provider webhooks: journal the message, answer the provider, ingest.

A provider such as Twilio waits for its webhook's answer (15 s at most) and retries when it
is slow. Taking a message into the inbox (contact, conversation, classification, routing,
the resident's acknowledgement) costs more than journalling it, a share of one INSERT. So a
webhook's message is committed to the `intake` journal (a message acknowledged to the
provider is never lost), the provider gets its answer, and this process's drainer ingests
the entry right after, deleting it in the same transaction.

The drainer takes what is waiting in batches (`inbox.ingest.store_many`: one transaction,
multi-row statements), at most one message per resident in a batch so each resident's
messages keep their order. A batch that fails as a whole is taken in message by message, so
one bad message never holds up the others. Channels whose resident waits for the stored
message (web chat's `ack` carries its id) hand it straight to the drainer (`take_in`): their
messages share the batches, without the journal, since they are answered only once stored.

Group commit: webhooks that arrive while a journal write is in flight wait for the next
write, which takes them all in one statement and one transaction.

Acknowledging comes first: while webhooks are being answered the drainer waits. Once the
oldest entry has waited `max_lag`, it takes small batches (`BURST_BATCH_MAX`) and a share
of the event loop (`BURST_DRAIN_SHARE`) until the burst ends, so a long storm moves into the
inbox while it is answered; then full batches. Under a steady load the drainer keeps up
between requests.

A process that stops leaves what it had not ingested in the journal; the worker's sweep
ingests entries older than `recover_after` (`recover`). Ingesting is idempotent (the
messages' unique external id), so an entry taken in twice is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from inbox.context import InboxContext
from inbox.ingest import (
    Arrival,
    IngestResult,
    announce_stored,
    resident_of,
    store_alone,
    store_many,
)
from inbox.messages import Attachment, InboundMessage
from inbox.storage import utcnow

log = logging.getLogger(__name__)

# How often a drainer that gives way looks again.
QUIET_S = 0.005
# No webhook for this long means the burst is over and the drainer may take full batches
# (holding the event loop, and on SQLite the one writer, for up to a tenth of a second). A
# client on a loaded machine easily pauses for a few milliseconds mid-storm, and a full
# batch taken then made the next answers wait for it: a p99 of 100–150 ms.
BURST_OVER_S = 0.05
SHUTDOWN_GRACE_S = 10.0
# Messages stored in one transaction at most. Larger batches save little more per message
# and hold SQLite's one writer (and the webhooks' journal writes) longer.
BATCH_MAX = 200
# While webhooks are being answered, smaller batches: a batch holds the event loop (and on
# SQLite the one writer) for the time it takes, and an answer waits that long at most.
BURST_BATCH_MAX = 32
# In a burst longer than `max_lag`, the drainer takes this share of the event loop, so both
# the answers and the inbox move: a batch that took t seconds is followed by at least
# t × (1 / share − 1) seconds of answering alone.
BURST_DRAIN_SHARE = 0.3


# --- the journalled form of a message (pure) ----------------------------------------------


def to_entry(message: InboundMessage, accepted_at: datetime) -> dict[str, Any]:
    """The journal row of `message`."""
    # A shallow copy: every field is a str, number, None or a JSON-ready tuple or dict but
    # these two (asdict's deep copy would cost more than the journal write).
    data = {f.name: getattr(message, f.name) for f in fields(InboundMessage)}
    data["received_at"] = message.received_at.isoformat()
    data["attachments"] = [vars(a).copy() for a in message.attachments]
    return {"channel": message.channel, "external_id": message.external_id,
            "message": data, "accepted_at": accepted_at}


def from_entry(data: dict[str, Any]) -> InboundMessage:
    """The message a journal row holds (the inverse of `to_entry`)."""
    values = dict(data)
    values["received_at"] = datetime.fromisoformat(values["received_at"])
    values["attachments"] = tuple(Attachment(**a) for a in values.get("attachments") or ())
    values["replies_to"] = tuple(values.get("replies_to") or ())
    return InboundMessage(**values)


# --- this process's journal writer and drainer --------------------------------------------


@dataclass
class _Waiting:
    entry: dict[str, Any]
    message: InboundMessage
    journalled: asyncio.Future[bool]


@dataclass(frozen=True)
class _Backlogged:
    intake_id: int | None   # None: handed over by `take_in`, not journalled
    message: InboundMessage
    since: float          # loop time it was journalled (or handed over)
    stored: asyncio.Future[IngestResult] | None = None   # `take_in`'s caller waits on it

    @property
    def resident(self) -> tuple[str, str]:
        """Whose message it is: one resident's messages are ingested one at a time, in
        order."""
        return resident_of(self.message)


def drain_concurrency(dialect: str) -> int:
    """How many batches are ingested at once. SQLite has one writer, so more would only
    queue for it; PostgreSQL overlaps one batch's round trips with another's."""
    return 1 if dialect == "sqlite" else 2


class Intake:
    def __init__(self, ctx: InboxContext, max_lag_s: float, concurrency: int | None = None):
        self._ctx = ctx
        self._max_lag = max_lag_s
        self._concurrency = concurrency or drain_concurrency(ctx.store.engine.dialect.name)
        self._waiting: list[_Waiting] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._writer_running = False  # from a writer's start to its last look at _waiting
        self._writing = 0             # batches taken by a writer and not yet answered
        self._backlog: deque[_Backlogged] = deque()
        self._busy: dict[tuple[str, str], _Backlogged] = {}   # resident -> entry in hand
        self._changed = asyncio.Event()               # backlog grew, or a resident is free
        self._drainers: list[asyncio.Task[None]] = []
        self._answering = 0           # accept() calls not yet answered
        self._last_arrival = 0.0
        self._answering_until = 0.0   # in a burst, the drainer rests until then
        self._handed_over = 0         # backlogged messages whose resident waits (`take_in`)
        self._draining = 0            # batches being taken in
        self.journal_writes = 0       # transactions that journalled at least one webhook

    @property
    def backlog(self) -> int:
        return len(self._backlog) + len(self._busy)

    @property
    def lag_s(self) -> float:
        """How long the oldest entry not yet in the inbox has waited (0 without one)."""
        waiting = [entry.since for entry in self._busy.values()]
        if self._backlog:
            waiting.append(self._backlog[0].since)
        if not waiting:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - min(waiting))

    def start(self) -> None:
        self._drainers = [asyncio.create_task(self._drain(), name=f"intake-drainer-{n}")
                          for n in range(self._concurrency)]

    async def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Ingest what is journalled (for up to `grace_s`), then stop; the rest is left to
        the sweep."""
        try:
            await asyncio.wait_for(self.settled(), grace_s)
        except TimeoutError:
            log.warning("stopping with %s journalled message(s) not yet ingested; the "
                        "worker's sweep will take them in", self.backlog)
        unstored = [e for e in (*self._backlog, *self._busy.values()) if e.stored is not None]
        for task in (*self._drainers, *self._writers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A handed-over message not stored by now is not: its resident is told so (the web
        # chat's socket closes, and the widget sends it again to the next process).
        for entry in unstored:
            if not entry.stored.done():
                entry.stored.set_exception(ConnectionAbortedError("the app is stopping"))
                entry.stored.exception()

    def _idle(self) -> bool:
        return not (self._waiting or self._backlog or self._busy
                    or self._writing)

    async def settled(self) -> None:
        """Return once everything accepted so far is ingested (or failed and left for the
        sweep)."""
        await self._wait_until(self._idle)

    def _notify(self) -> None:
        # Synchronous on purpose: a writer or drainer that had to await here could miss
        # work that arrives meanwhile. Waiters wait on the event of their time; setting it
        # wakes them all, and the next waiters get a fresh one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._changed.wait()

    async def accept(self, message: InboundMessage) -> bool:
        """Journal `message`; returns once that is committed: True when it is new, False for
        a provider's retry of one already journalled. A database error propagates, and the
        provider, unanswered, retries."""
        loop = asyncio.get_running_loop()
        self._last_arrival = loop.time()
        waiting = _Waiting(to_entry(message, utcnow()), message, loop.create_future())
        self._waiting.append(waiting)
        self._answering += 1
        try:
            # A write in flight takes the webhooks that arrive meanwhile in its next round
            # (group commit). One writer: overlapping writes only make smaller batches (on
            # PostgreSQL each pays its own commit's flush).
            if not self._writer_running:
                self._writer_running = True
                writer = asyncio.create_task(self._write(), name="intake-writer")
                self._writers.add(writer)
                writer.add_done_callback(self._writers.discard)
            return await asyncio.shield(waiting.journalled)
        finally:
            self._answering -= 1
            # The burst lasts BURST_OVER_S past the last answer, not past the last arrival:
            # on a loaded machine a round of journal writes can itself take longer than
            # that, and the senders' next round is only a few milliseconds behind it.
            self._last_arrival = loop.time()

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                self._writing += 1
                try:
                    new = await self._ctx.store.journal([w.entry for w in batch])
                except Exception as exc:
                    for waiting in batch:
                        waiting.journalled.set_exception(exc)
                        waiting.journalled.exception()   # retrieved: the caller may be gone
                    continue
                finally:
                    self._writing -= 1
                self.journal_writes += 1
                now = loop.time()
                for waiting in batch:
                    # The same external id twice in one batch is journalled once: the first
                    # wins.
                    intake_id = new.pop((waiting.entry["channel"],
                                         waiting.entry["external_id"]), None)
                    if intake_id is not None:
                        self._backlog.append(_Backlogged(intake_id, waiting.message, now))
                    waiting.journalled.set_result(intake_id is not None)
                self._notify()
        finally:
            # No await between the last look at `_waiting` and this: a webhook that arrives
            # after it starts a writer of its own.
            self._writer_running = False
            self._notify()

    async def take_in(self, message: InboundMessage) -> IngestResult:
        """Store `message` in the drainer's next batch and return once it is committed (the
        caller answers its resident then). Not journalled: the resident is answered only
        after the message is stored, and resends what was not answered."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[IngestResult] = loop.create_future()
        self._backlog.append(_Backlogged(None, message, loop.time(), stored))
        self._handed_over += 1
        self._notify()
        return await asyncio.shield(stored)

    def _in_burst(self) -> bool:
        return bool(self._answering) or \
            asyncio.get_running_loop().time() - self._last_arrival < BURST_OVER_S

    def _next_batch(self) -> list[_Backlogged]:
        """The oldest entries of residents no drainer is busy with, one per resident."""
        most = BURST_BATCH_MAX if self._in_burst() else BATCH_MAX
        batch: list[_Backlogged] = []
        residents: set[tuple[str, str]] = set()
        for entry in self._backlog:
            resident = entry.resident
            if resident in self._busy or resident in residents:
                continue
            batch.append(entry)
            residents.add(resident)
            if len(batch) == most:
                break
        return batch

    def _has_work(self) -> bool:
        return any(entry.resident not in self._busy for entry in self._backlog)

    async def _give_way(self, oldest: _Backlogged) -> None:
        """Wait while webhooks are being answered, unless the oldest entry has waited long
        enough. A message whose resident waits for it (`take_in`) does not wait, nor do the
        journalled ones that would share its batch."""
        loop = asyncio.get_running_loop()
        while not self._handed_over:
            now = loop.time()
            # In a burst, one batch at a time, and only in the drainer's share of the time.
            if now - oldest.since >= self._max_lag and now >= self._answering_until \
                    and not self._draining:
                return
            if not self._in_burst():
                return
            await asyncio.sleep(QUIET_S)

    async def _drain(self) -> None:
        while True:
            await self._wait_until(self._has_work)
            first = next(e for e in self._backlog if e.resident not in self._busy)
            # Mark the first resident busy while giving way, so another drainer leaves it.
            self._busy[first.resident] = first
            try:
                await self._give_way(first)
            finally:
                del self._busy[first.resident]
            batch = self._next_batch()
            if not batch:
                continue
            taken = set(map(id, batch))
            self._backlog = deque(e for e in self._backlog if id(e) not in taken)
            for entry in batch:
                self._busy[entry.resident] = entry
                self._handed_over -= entry.stored is not None
            started = asyncio.get_running_loop().time()
            self._draining += 1
            try:
                await _ingest_batch(self._ctx, batch)
            finally:
                self._draining -= 1
                took = asyncio.get_running_loop().time() - started
                self._answering_until = asyncio.get_running_loop().time() \
                    + took * (1 / BURST_DRAIN_SHARE - 1)
                for entry in batch:
                    del self._busy[entry.resident]
                self._notify()


async def _ingest_batch(ctx: InboxContext, batch: list[_Backlogged]) -> None:
    """Ingest a batch in one transaction; if that fails, each entry alone."""
    try:
        results = await store_many(ctx, [Arrival(e.message, e.intake_id) for e in batch])
    except Exception as exc:
        if len(batch) > 1:
            log.info("a batch of %s messages failed as a whole (%s); taking them in one by "
                     "one", len(batch), type(exc).__name__)
        for entry in batch:
            await _ingest_alone(ctx, entry)
        return
    for entry, result in zip(batch, results, strict=True):
        if entry.stored is not None and not entry.stored.done():
            entry.stored.set_result(result)
    await announce_stored(ctx, results)


async def _ingest_alone(ctx: InboxContext, entry: _Backlogged) -> None:
    """One message of a failed batch (`store_alone`: tried twice)."""
    try:
        results = await store_alone(ctx, Arrival(entry.message, entry.intake_id))
    except Exception as exc:
        _failed(entry, exc)
        return
    if entry.stored is not None and not entry.stored.done():
        entry.stored.set_result(results[0])
    await announce_stored(ctx, results)


def _failed(entry: _Backlogged, exc: Exception) -> None:
    """A message that could not be stored: a journalled one stays in the journal for the
    sweep to retry after `recover_after`; a handed-over one's caller gets the error."""
    if entry.stored is not None:
        if not entry.stored.done():
            entry.stored.set_exception(exc)
            entry.stored.exception()    # retrieved: the caller may be gone
        return
    log.error("journalled %s message (intake %s) could not be ingested: %s",
              entry.message.channel, entry.intake_id, exc, exc_info=exc)


async def _ingest_entry(ctx: InboxContext, message: InboundMessage, intake_id: int) -> bool:
    """Ingest one journal entry; False when that failed, leaving it in the journal for the
    sweep to retry after `recover_after`."""
    try:
        results = await store_alone(ctx, Arrival(message, intake_id))
    except Exception:
        log.exception("journalled %s message (intake %s) could not be ingested",
                      message.channel, intake_id)
        return False
    await announce_stored(ctx, results)
    return True


# --- the sweep's recovery -----------------------------------------------------------------


async def recover(ctx: InboxContext, older_than: timedelta) -> list[int]:
    """Ingest journal entries a stopped process left behind; the ids of those taken in."""
    async with ctx.store.read() as tx:
        rows = await tx.journal.entries_before(utcnow() - older_than)
    recovered = [row["id"] for row in rows
                 if await _ingest_entry(ctx, from_entry(row["message"]), row["id"])]
    if recovered:
        log.warning("ingested %s journalled message(s) left by a stopped process",
                    len(recovered))
    return recovered
