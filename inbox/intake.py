"""Durable intake for provider webhooks: journal the message, answer the provider, ingest.

A provider such as Twilio waits for its webhook's answer (15 s at most) and retries when it
is slow. Taking a message into the inbox (contact, conversation, classification, routing,
the resident's acknowledgement) costs milliseconds; journalling it costs a share of one
INSERT. So a webhook's message is committed to the `intake` journal (a message acknowledged
to the provider is never lost), the provider gets its answer, and this process's drainer
ingests the entry right after, deleting it in the same transaction.

Group commit: webhooks that arrive while a journal write is in flight wait for the next
write, which takes them all in one statement and one transaction.

Acknowledging comes first: while webhooks are being answered the drainer waits, but never
lets the oldest entry wait longer than `max_lag`. A burst is answered at full speed and is
in the inbox as soon as it ends; under a steady load the drainer keeps up between requests.

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
from inbox.ingest import ingest
from inbox.messages import Attachment, InboundMessage
from inbox.outage import REDIS_UNAVAILABLE
from inbox.storage import utcnow

log = logging.getLogger(__name__)

# No webhook for this long means the burst is over and the drainer may take the writer.
QUIET_S = 0.005
SHUTDOWN_GRACE_S = 10.0


# --- the journalled form of a message (pure) ----------------------------------------------


def to_entry(message: InboundMessage, accepted_at: datetime) -> dict[str, Any]:
    """The journal row of `message`."""
    # A shallow copy: every field is a str, number or None but these two (asdict's deep copy
    # would cost more than the journal write).
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
    return InboundMessage(**values)


# --- this process's journal writer and drainer --------------------------------------------


@dataclass
class _Waiting:
    entry: dict[str, Any]
    message: InboundMessage
    journalled: asyncio.Future[bool]


@dataclass(frozen=True)
class _Backlogged:
    intake_id: int
    message: InboundMessage
    since: float          # loop time it was journalled

    @property
    def resident(self) -> tuple[str, str]:
        """Whose message it is: one resident's messages are ingested one at a time, in
        order (the phone, shared by SMS and WhatsApp, else the address)."""
        return ("phone", self.message.phone) if self.message.phone else \
            (self.message.channel, self.message.address)


def drain_concurrency(dialect: str) -> int:
    """How many residents' messages are ingested at once. SQLite has one writer, so more
    would only queue for it; PostgreSQL overlaps one ingest's round trips with another's."""
    return 1 if dialect == "sqlite" else 4


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
        for task in (*self._drainers, *self._writers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

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

    def _next(self) -> _Backlogged | None:
        """The oldest entry of a resident no drainer is busy with."""
        for entry in self._backlog:
            if entry.resident not in self._busy:
                return entry
        return None

    async def _give_way(self, oldest: _Backlogged) -> None:
        """Wait while webhooks are being answered, unless the oldest entry has waited long
        enough."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now - oldest.since >= self._max_lag:
                return
            if not self._answering and now - self._last_arrival >= QUIET_S:
                return
            await asyncio.sleep(QUIET_S)

    async def _drain(self) -> None:
        while True:
            await self._wait_until(lambda: self._next() is not None)
            entry = self._next()
            assert entry is not None
            self._backlog.remove(entry)
            self._busy[entry.resident] = entry
            try:
                await self._give_way(entry)
                await _ingest_entry(self._ctx, entry.message, entry.intake_id)
            finally:
                del self._busy[entry.resident]
                self._notify()


async def _ingest_entry(ctx: InboxContext, message: InboundMessage, intake_id: int) -> bool:
    """Ingest one journal entry; False when that failed, leaving it in the journal for the
    sweep to retry after `recover_after`."""
    try:
        await ingest(ctx, message, intake_id=intake_id)
    except REDIS_UNAVAILABLE as exc:
        # Ingest meets Redis only after its commit, which took the entry out of the journal:
        # the message is in; the sweeps route, deliver and assign what the outage held up.
        ctx.redis_outage.failed(exc)
    except Exception:
        log.exception("journalled %s message (intake %s) could not be ingested",
                      message.channel, intake_id)
        return False
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
