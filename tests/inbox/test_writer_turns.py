"""Writers of one SQLite file take turns (`inbox.storage.turns`): one that waits gets in
between a busy writer's back-to-back turns, and one never let in goes on after the cap.

Two WriterTurns on one file stand for two processes: a flock belongs to the open file, so
they exclude each other as two processes' would."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time

from inbox.storage.turns import WriterTurns


def held_by_someone(path) -> bool:
    """Whether a turn at `path` is held (by anyone but the caller)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


async def test_one_turn_at_a_time(tmp_path):
    path = tmp_path / "db-writers"
    first, second = WriterTurns(path), WriterTurns(path)
    async with first.turn():
        assert held_by_someone(path)
        waiting = asyncio.create_task(_enter(second))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "two writers held the turn at once"
    await asyncio.wait_for(waiting, 1)
    assert not held_by_someone(path)
    first.close()
    second.close()


async def _enter(turns: WriterTurns) -> float:
    async with turns.turn():
        return time.monotonic()


async def test_a_waiting_writer_gets_in_between_a_busy_writers_turns(tmp_path):
    """The busy writer takes its next turn the moment it gave one back, as the worker's
    transactions follow each other; the other still gets the very next turn instead of
    waiting for the whole run to end (SQLite's sleeping busy handler would), even on a
    machine too busy to wake it at once."""
    path = tmp_path / "db-writers"
    busy, other = WriterTurns(path), WriterTurns(path)
    turns_begun: list[float] = []

    async def run_of_writes() -> None:
        for _ in range(40):
            async with busy.turn():
                turns_begun.append(time.monotonic())
                await asyncio.sleep(0.005)

    run = asyncio.create_task(run_of_writes())
    while len(turns_begun) < 3:
        await asyncio.sleep(0.001)
    asked = time.monotonic()
    got = await asyncio.wait_for(_enter(other), 5)
    await run
    busy_turns_between = sum(asked < begun < got for begun in turns_begun)
    assert busy_turns_between == 0, f"{busy_turns_between} of the busy writer's turns went first"
    busy.close()
    other.close()


async def test_the_cap_lets_a_writer_through_when_the_holder_never_lets_go(tmp_path):
    path = tmp_path / "db-writers"
    stuck = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(stuck, fcntl.LOCK_EX)
    turns = WriterTurns(path, cap_s=0.3)
    try:
        began = time.monotonic()
        await asyncio.wait_for(_enter(turns), 5)
        assert 0.25 <= time.monotonic() - began < 2
        # While the holder is still stuck, later writers do not each wait the cap again.
        began = time.monotonic()
        await asyncio.wait_for(_enter(turns), 5)
        assert time.monotonic() - began < 0.2   # not the cap (0.3 s) again, on a busy machine
    finally:
        os.close(stuck)
    # Once it lets go, turns are taken again (the late wait let its own go at once).
    await asyncio.sleep(0.1)
    async with turns.turn():
        assert held_by_someone(path)
    assert not held_by_someone(path)
    turns.close()
