"""Processes writing one SQLite database take turns at it.

SQLite lets one writer in at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps and looks again (1, 2, 5 ... 100 ms apart). A process writing
transaction after transaction (the worker claiming a batch of sends, recording their
results) takes the lock again a few hundred microseconds after letting it go, long before a
sleeping writer looks, so another process's single transaction (an agent's reply, and the
enqueueing of its send) can wait until that whole run of writes is over.

So a writer first takes its turn: an advisory `flock` on a file beside the database. A
process waiting for a flock is woken by the kernel the moment it is let go. Being woken is
not yet being first, though: on a busy machine the writer that let go may take the lock
again before the woken one is scheduled. So a writer that has to wait first holds a second
lock, the door (`<file>-next`), and keeps it until it has the turn; a writer whose turn is
over finds the door held and waits behind it. Two writers thus alternate, however fast one
of them comes back. The turn only makes writers fair; SQLite's own locking still keeps them
correct. A turn not had within the cap (a holder stopped, or writing for that long) lets
the writer go on without it, so the turn can never deadlock anything that would otherwise
have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

# As long as SQLite's own busy timeout (`db._sqlite_pragmas`): past it the writer would
# have failed anyway, so waiting longer for a turn would only hide who holds the lock.
CAP_S = 10.0


class WriterTurns:
    """Turns at writing, between the processes sharing the file at `path`.

    One turn at a time per object: the caller queues its own tasks first (the Store's
    asyncio lock), so a turn is only ever contended by other processes (or other objects),
    and the object's two descriptors are used by one turn (or its waiting thread) at a time.
    """

    def __init__(self, path: str | os.PathLike[str], cap_s: float = CAP_S):
        self.path = os.fspath(path)
        self.cap_s = cap_s
        self._fds: tuple[int, int] | None = None      # (door, turn), opened by the first turn
        self._pid: int | None = None
        # A wait given up (past the cap, or cancelled) that still waits in its thread, on
        # this object's descriptors: until it ends, writers go on without a turn (and a
        # stuck holder costs one thread, not one per transaction).
        self._abandoned: _Wait | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for the block (or, past the cap, go on without it)."""
        had = await self._take()
        try:
            yield
        finally:
            if had:
                fcntl.flock(self._own_fds()[1], fcntl.LOCK_UN)

    async def _take(self) -> bool:
        door, fd = self._own_fds()
        if self._abandoned is not None:
            if not self._abandoned.ended.is_set():
                return False
            self._abandoned = None
        # Uncontended, the turn costs four system calls and no hop to a thread.
        holds_door = _try(door)
        if holds_door and _try(fd):
            fcntl.flock(door, fcntl.LOCK_UN)
            return True
        wait = _Wait(door, fd, holds_door, asyncio.get_running_loop())
        try:
            await asyncio.wait_for(asyncio.shield(wait.done), self.cap_s)
        except TimeoutError:
            if wait.abandon():
                log.warning("no turn at writing %s within %.0f s: writing without one",
                            self.path, self.cap_s)
                self._abandoned = wait
                return False
        except BaseException:
            # Cancelled while waiting: the turn, should it come, goes straight back.
            if wait.abandon():
                self._abandoned = wait
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
            raise
        return True

    def _own_fds(self) -> tuple[int, int]:
        # A forked child must not share its parent's descriptors: flock belongs to the open
        # file, so the two would hold the same turn and release each other's.
        if self._fds is None or self._pid != os.getpid():
            self._fds = (_open(f"{self.path}-next"), _open(self.path))
            self._pid = os.getpid()
            self._abandoned = None
        return self._fds

    def close(self) -> None:
        # Descriptors a waiting thread still blocks on are left to the process's end.
        if self._fds is not None and self._pid == os.getpid() and (
                self._abandoned is None or self._abandoned.ended.is_set()):
            for fd in self._fds:
                os.close(fd)
        self._fds = None


def turn(turns: WriterTurns | None) -> contextlib.AbstractAsyncContextManager[None]:
    """A turn of `turns`, or nothing to wait for when there are none (PostgreSQL, or an
    in-memory SQLite database)."""
    return turns.turn() if turns is not None else contextlib.nullcontext()


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _Wait:
    """One blocking wait for the turn, in a daemon thread of its own: the event loop is not
    blocked, and a wait that never ends neither holds up the process's exit nor takes a
    thread from the loop's executor. Through the door first (unless the caller already
    holds it), then the turn, then the door is let go for the next in line."""

    def __init__(self, door: int, fd: int, holds_door: bool,
                 loop: asyncio.AbstractEventLoop):
        self.door, self.fd, self.holds_door = door, fd, holds_door
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._had = False
        threading.Thread(target=self._run, name="sqlite-writer-turn", daemon=True).start()

    def _run(self) -> None:
        # The turn is only fairness: should flock fail, the writer still writes.
        with contextlib.suppress(OSError):
            if not self.holds_door:
                fcntl.flock(self.door, fcntl.LOCK_EX)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            fcntl.flock(self.door, fcntl.LOCK_UN)
        with self._lock:
            if self._abandoned:
                with contextlib.suppress(OSError):
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
            else:
                self._had = True
        self.ended.set()
        with contextlib.suppress(RuntimeError):      # the loop closed meanwhile
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def abandon(self) -> bool:
        """Give up the wait: False when the turn was had already (the caller holds it)."""
        with self._lock:
            if self._had:
                return False
            self._abandoned = True
            return True
