"""The unit of work and the store that opens it.

One transaction, one connection; each kind of record gets its own small object on it, so a
caller reads `tx.messages.insert(...)`, `tx.conversations.claim(...)` and both commit or roll
back together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox.storage.audit import AuditRecords
from inbox.storage.canned import CannedRecords
from inbox.storage.checkpoints import Checkpointer
from inbox.storage.contacts import ContactRecords
from inbox.storage.conversations import ConversationRecords
from inbox.storage.erasure import ErasureRecords
from inbox.storage.events import EventRecords
from inbox.storage.intakes import IntakeRecords
from inbox.storage.journal import JournalRecords, PostgresJournal, SqliteJournal
from inbox.storage.mail import MailRecords
from inbox.storage.messages import MessageRecords
from inbox.storage.outcomes import OutcomeRecords, SurveyRecords
from inbox.storage.provider_erasures import ProviderErasureRecords
from inbox.storage.records import Row
from inbox.storage.statistics import StatisticsKeeper
from inbox.storage.turns import WriterTurns, turn
from inbox.storage.users import UserRecords


class UnitOfWork:
    """One transaction's worth of domain queries, grouped by the kind of record."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn
        self.messages = MessageRecords(conn)
        self.conversations = ConversationRecords(conn)
        self.contacts = ContactRecords(conn)
        self.events = EventRecords(conn)
        self.users = UserRecords(conn)
        self.journal = JournalRecords(conn)
        self.mail = MailRecords(conn)
        self.audit = AuditRecords(conn)
        self.canned = CannedRecords(conn)
        self.intakes = IntakeRecords(conn)
        self.outcomes = OutcomeRecords(conn)
        self.surveys = SurveyRecords(conn)
        self.erasure = ErasureRecords(conn)
        self.provider_erasures = ProviderErasureRecords(conn)


class Store:
    """`upkeep`: for the serving process, which looks after the database while it serves
    (`start_upkeep`). On SQLite its connections leave the WAL's checkpoints to a checkpointer
    of its own, outside the writers' turn (inbox.storage.checkpoints); on PostgreSQL it keeps
    the statistics of young tables (inbox.storage.statistics)."""

    def __init__(self, engine: AsyncEngine, *, upkeep: bool = False):
        self.engine = engine
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # off SQLite's busy handler, whose back-off sleeps would add tens of milliseconds.
        self._writers = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # And other processes writing the same file take turns with this one, fairly
        # (`turns`): an in-memory database has no other process.
        database = engine.url.database if self._writers else None
        self._turns = WriterTurns(f"{database}-writers") \
            if database not in (None, "", ":memory:") else None
        self._journal = SqliteJournal(engine, self._writers, self._turns) if self._writers \
            else PostgresJournal(engine)
        self._checkpointer: Checkpointer | None = None
        if upkeep and self._turns is not None:
            Checkpointer.leave_checkpoints_to_it(engine)
            self._checkpointer = Checkpointer(engine)
        self._statistics = StatisticsKeeper(engine) \
            if upkeep and engine.dialect.name == "postgresql" else None

    def start_upkeep(self) -> None:
        """Start the checkpointer or the statistics keeper, where this store has one
        (`upkeep`)."""
        if self._checkpointer is not None:
            self._checkpointer.start()
        if self._statistics is not None:
            self._statistics.start()

    @asynccontextmanager
    async def keeping_statistics(self) -> AsyncIterator[None]:
        """On PostgreSQL, analyze the young tables as they grow while the block runs (a
        process without `upkeep` taking in a backlog: a mailbox's first poll)."""
        if self._statistics is not None or self.engine.dialect.name != "postgresql":
            yield
            return
        keeper = StatisticsKeeper(self.engine)
        keeper.start()
        try:
            yield
        finally:
            await keeper.stop()

    async def journal(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """Journal webhook messages ({channel, external_id, message, accepted_at} each) in one
        transaction. A (channel, external_id) already journalled is skipped, so a provider's
        retry adds nothing; returns the id of each entry that was new, by key."""
        return await self._journal.write(entries)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A writing transaction: commits when the block ends, rolls back on an exception.
        Not to be nested: on SQLite a second one in the same task would wait forever."""
        async with self._writers or contextlib.nullcontext(), self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_immediate=True)
            # The turn from BEGIN (IMMEDIATE: the write lock) until the commit, not while
            # the connection is opened.
            async with turn(self._turns), conn.begin():
                yield UnitOfWork(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        """A read-only transaction (no write lock on SQLite)."""
        async with self.engine.connect() as conn, conn.begin():
            yield UnitOfWork(conn)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    async def close(self) -> None:
        if self._statistics is not None:
            await self._statistics.stop()
        await self.engine.dispose()
        await self._journal.close()
        if self._checkpointer is not None:
            await self._checkpointer.stop()
        if self._turns:
            self._turns.close()
