"""The serving process's SQLite checkpoints: its commits leave the WAL as it is, and its own
checkpointer copies it back, outside the writers' turn. Read off the database file itself:
what a commit checkpointed is in it, what it did not is still only in the `-wal` file."""

import asyncio
import os
import sqlite3
from datetime import UTC, datetime

import pytest

from inbox.storage import Store
from inbox.storage.db import make_engine

# Over SQLite's default autocheckpoint mark (1,000 pages of 4 KiB): a commit of this much
# checkpoints, unless its connection was told not to.
ROWS, BODY = 600, "ə" * 4000


@pytest.fixture
def sqlite_url(db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no WAL file of ours to checkpoint")
    return db_url


def _size(url: str) -> int:
    return os.path.getsize(url.removeprefix("sqlite:///"))


async def _write_much(store: Store) -> None:
    now = datetime.now(UTC)
    async with store.transaction() as tx:
        [contact] = await tx.contacts.create_many([{"name": "Günel", "language": "az"}])
        await tx.contacts.add_claims([
            {"contact_id": contact, "kind": "email", "digest": f"{n:064d}", "masked": BODY,
             "conversation_id": None, "found_at": now} for n in range(ROWS)])


async def test_a_store_of_its_own_leaves_checkpoints_to_a_commit(sqlite_url):
    store = Store(make_engine(sqlite_url))
    try:
        before = _size(sqlite_url)
        await _write_much(store)
        assert _size(sqlite_url) > before + 1_000_000     # the commit copied the WAL back
    finally:
        await store.close()


async def test_the_serving_process_commits_without_checkpointing_and_its_checkpointer_does(
        sqlite_url):
    store = Store(make_engine(sqlite_url), upkeep=True)
    store._checkpointer.every_s = 0.05
    try:
        before = _size(sqlite_url)
        await _write_much(store)
        assert _size(sqlite_url) < before + 100_000       # all of it still in the WAL
        store.start_upkeep()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if _size(sqlite_url) > before + 1_000_000:
                break
        assert _size(sqlite_url) > before + 1_000_000     # copied back by the checkpointer
    finally:
        await store.close()


async def test_a_stopped_checkpointer_copies_back_what_is_left(sqlite_url):
    """While another process (the worker) keeps the database open: SQLite itself copies the
    WAL back only when its last connection closes."""
    worker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        worker.execute("SELECT count(*) FROM contacts").fetchone()
        store = Store(make_engine(sqlite_url), upkeep=True)
        before = _size(sqlite_url)
        await _write_much(store)
        await store.close()
        assert _size(sqlite_url) > before + 1_000_000
    finally:
        worker.close()
