"""Processes writing one SQLite database take turns at it.

SQLite lets one writer in at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps and looks again (1, 2, 5 ... 100 ms apart). A process writing
transaction after transaction (the worker claiming a batch of sends, recording their
results) takes the lock again a few hundred microseconds after letting it go, long before a
sleeping writer looks, so another process's single transaction (an agent's reply, and the
enqueueing of its send) can wait until that whole run of writes is over.

So a writer first takes its turn: an advisory `flock` on a file beside the database. A
process waiting for a flock is woken by the kernel the moment it is let go, so it gets in
before the busy process's next transaction instead of sleeping through it. The turn only
makes writers fair; SQLite's own locking still keeps them correct. A turn not had within
the cap (a holder stopped, or writing for that long) lets the writer go on without it, so
the turn can never deadlock anything that would otherwise have run.
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
    asyncio lock), so a turn is only ever contended by other processes (or other objects).
    """

    def __init__(self, path: str | os.PathLike[str], cap_s: float = CAP_S):
        self.path = os.fspath(path)
        self.cap_s = cap_s
        self._fd: int | None = None
        self._pid: int | None = None
        # A wait that ran past the cap and still waits in its thread: until it ends, the
        # holder is presumed stuck and writers go on without a turn (one thread, not one
        # per transaction).
        self._overdue: _Wait | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for the block (or, past the cap, go on without it)."""
        fd = await self._take()
        try:
            yield
        finally:
            if fd is not None:
                self._give_back(fd)

    async def _take(self) -> int | None:
        fd = self._own_fd()
        try:
            # Uncontended, the turn costs one system call and no hop to a thread.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        if self._overdue is not None and not self._overdue.ended.is_set():
            return None
        self._overdue = None
        wait = _Wait(self.path, asyncio.get_running_loop())
        try:
            await asyncio.wait_for(asyncio.shield(wait.done), self.cap_s)
        except TimeoutError:
            if wait.abandon():
                log.warning("no turn at writing %s within %.0f s: writing without one",
                            self.path, self.cap_s)
                self._overdue = wait
                return None
        except BaseException:
            # Cancelled while waiting: the turn, should it come, goes straight back.
            if not wait.abandon():
                self._give_back(wait.fd)
            raise
        return wait.fd

    def _give_back(self, fd: int) -> None:
        if fd == self._fd:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            # A waiting thread's own descriptor: closing it lets the lock go.
            os.close(fd)

    def _own_fd(self) -> int:
        # A forked child must not share its parent's descriptor: flock belongs to the open
        # file, so the two would hold the same turn and release each other's.
        if self._fd is None or self._pid != os.getpid():
            self._fd = _open(self.path)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def turn(turns: WriterTurns | None) -> contextlib.AbstractAsyncContextManager[None]:
    """A turn of `turns`, or nothing to wait for when there are none (PostgreSQL, or an
    in-memory SQLite database)."""
    return turns.turn() if turns is not None else contextlib.nullcontext()


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class _Wait:
    """One blocking wait for the turn, in a daemon thread of its own: the event loop is not
    blocked, and a wait that never ends neither holds up the process's exit nor takes a
    thread from the loop's executor. It opens a descriptor of its own, so that when it is
    abandoned and the turn comes late, it can let the turn go without touching anyone
    else's."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop):
        self.fd = _open(path)
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
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        with self._lock:
            if self._abandoned:
                os.close(self.fd)
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
