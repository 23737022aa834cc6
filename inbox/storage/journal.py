"""The intake journal: webhook messages accepted before they were stored as messages.

The batch writers (`SqliteJournal`, `PostgresJournal`) are the hot path of every webhook and
write outside SQLAlchemy's session; the records here are read by the sweep that recovers what a
stopped process left."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.storage.db import sqlite_connect
from inbox.storage.records import Records, Row
from inbox.storage.schema import (
    intake,
)
from inbox.storage.turns import WriterTurns, turn


class JournalRecords(Records):
    async def entries_before(self, before: datetime, limit: int = 500) -> list[Row]:
        """Journal entries accepted before `before`, oldest first: left by a stopped process."""
        return await self._all(select(intake).where(intake.c.accepted_at < before)
                               .order_by(intake.c.id).limit(limit))

    async def discard(self, intake_id: int) -> None:
        await self.conn.execute(delete(intake).where(intake.c.id == intake_id))

    async def discard_many(self, intake_ids: Sequence[int]) -> None:
        if intake_ids:
            await self.conn.execute(delete(intake).where(self.one_of(intake.c.id, intake_ids)))


class SqliteJournal:
    """The intake journal's write on SQLite, made on the event loop's own thread.

    Every Twilio webhook waits for this write. Through aiosqlite, SQLAlchemy hands each
    statement to a thread several times (some 140 µs a hand-off here), so a one-row
    transaction takes about 2.2 ms; as plain sqlite3 calls it takes about 45 µs
    (bench/bench_journal.py). It must never block the loop, so this connection does not
    wait for the lock (busy_timeout 0: when the worker process is writing, the write goes
    to a thread and waits there) and never checkpoints the WAL (the serving process's
    checkpointer does that in a thread, inbox.storage.checkpoints; elsewhere the engine's
    connections do, in theirs). Values are encoded by the columns' own SQLAlchemy types.
    """

    SQL = ("INSERT INTO intake (channel, external_id, message, accepted_at) VALUES (?, ?, ?, ?)"
           " ON CONFLICT (channel, external_id) DO NOTHING RETURNING id")

    def __init__(self, engine: AsyncEngine, writers: asyncio.Lock,
                 turns: WriterTurns | None = None):
        self._engine = engine
        self._writers = writers          # the Store's: this process's writers, in turn
        self._turns = turns              # the Store's: turns with other processes' writers
        self._connection: sqlite3.Connection | None = None   # opened by the first write
        self._message = intake.c.message.type.bind_processor(engine.dialect)
        self._time = intake.c.accepted_at.type.bind_processor(engine.dialect)

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite_connect(self._engine)
            self._no_wait()
        return self._connection

    def _no_wait(self) -> None:
        self.connection.execute("PRAGMA busy_timeout=0")
        self.connection.execute("PRAGMA wal_autocheckpoint=0")

    async def write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        async with self._writers, turn(self._turns):
            try:
                return self._write(entries)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
            return await asyncio.to_thread(self._write_waiting, entries)

    def _write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """Raises sqlite3.OperationalError ("database is locked") when another process
        holds the write lock; nothing is written then."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            new = {}
            for entry in entries:
                row = connection.execute(self.SQL, (
                    entry["channel"], entry["external_id"], self._message(entry["message"]),
                    self._time(entry["accepted_at"]))).fetchone()
                if row is not None:
                    new[(entry["channel"], entry["external_id"])] = row[0]
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return new

    def _write_waiting(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """`_write`, waiting for the lock as the engine's connections do (in a thread)."""
        self.connection.execute("PRAGMA busy_timeout=10000")
        try:
            return self._write(entries)
        finally:
            self._no_wait()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()



async def _as_is(_connection: asyncpg.Connection) -> None:
    return None



class PostgresJournal:
    """The intake journal's write on PostgreSQL: one statement on a plain asyncpg connection.

    Through SQLAlchemy's pool a one-row transaction takes about 2.2 ms (a ping on checkout,
    BEGIN, the statement, COMMIT, a rollback on return); as one `unnest` INSERT on a
    connection of this small pool it is a single round trip, about 0.6 ms with the commit's
    flush (bench/bench_journal.py). The statement is atomic on its own, so no transaction is
    opened around it. asyncpg replaces a broken connection on the next acquire, and the
    webhook that met it gets an error (and Twilio's retry).
    """

    SQL = ("INSERT INTO intake (channel, external_id, message, accepted_at)"
           " SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::json[], $4::timestamptz[])"
           " ON CONFLICT (channel, external_id) DO NOTHING"
           " RETURNING id, channel, external_id")

    def __init__(self, engine: AsyncEngine, size: int = 4):
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._message = intake.c.message.type.bind_processor(engine.dialect)

    async def _connections(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # No reset on release: these connections only ever run SQL, so there is
                # no session state to clear, and the default reset costs a round trip.
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1,
                                                       max_size=self._size, reset=_as_is)
        return self._pool

    async def write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        pool = await self._connections()
        rows = await pool.fetch(
            self.SQL, [e["channel"] for e in entries], [e["external_id"] for e in entries],
            [self._message(e["message"]) for e in entries],
            [e["accepted_at"] for e in entries])
        return {(row["channel"], row["external_id"]): row["id"] for row in rows}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

