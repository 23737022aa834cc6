"""The serving process's SQLite checkpoints, taken outside the writers' turn.

In WAL mode a commit appends to the `-wal` file, and every thousand pages or so SQLite copies
them back into the database (a checkpoint). By default the connection whose commit crosses
that mark does it, inside its commit, while it still holds the one writer's lock. In a storm
that is the drainer's batch: 15-20 ms more on a lock that every webhook's journal write waits
for, and the answers' p99 went past 100 ms in half the benchmark runs.

So the serving process's own connections never checkpoint (`wal_autocheckpoint=0`) and a
checkpointer does it every `every_s` seconds on a connection of its own, in a thread. A
PASSIVE checkpoint takes no writer's lock: writers append to the WAL while it copies what
readers no longer need. Other processes (the worker, the command line) keep SQLite's default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.storage.chores import Chore
from inbox.storage.db import sqlite_connect

log = logging.getLogger(__name__)

EVERY_S = 1.0


def _no_autocheckpoint(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    """Checkpoints the WAL of a SQLite `engine` on its own connection, for an engine whose
    connections were told not to (`leave_checkpoints_to_it`)."""

    def __init__(self, engine: AsyncEngine, every_s: float = EVERY_S):
        self._engine = engine
        self._connection: sqlite3.Connection | None = None
        self._chore = Chore(self._checkpoint_in_a_thread, every_s, "sqlite-checkpoints")

    @staticmethod
    def leave_checkpoints_to_it(engine: AsyncEngine) -> None:
        """Make `engine`'s connections skip their checkpoints; before its first connection."""
        event.listen(engine.sync_engine, "connect", _no_autocheckpoint)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the WAL, pages copied back)."""
        if self._connection is None:
            self._connection = sqlite_connect(self._engine)
        busy, wal_pages, copied = self._connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, wal_pages, copied

    @property
    def every_s(self) -> float:
        return self._chore.every_s

    @every_s.setter
    def every_s(self, value: float) -> None:
        self._chore.every_s = value

    def start(self) -> None:
        self._chore.start()

    async def _checkpoint_in_a_thread(self) -> None:
        try:
            await asyncio.to_thread(self.checkpoint)
        except sqlite3.Error as exc:
            # The next one copies what this one could not; a database that keeps failing
            # shows in every write long before here.
            log.warning("SQLite checkpoint failed: %s", exc)

    async def stop(self) -> None:
        await self._chore.stop()
        # A last checkpoint, so a stopped app leaves a short WAL behind it.
        with contextlib.suppress(sqlite3.Error):
            await asyncio.to_thread(self.checkpoint)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
