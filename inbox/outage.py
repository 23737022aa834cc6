"""A dependency's outage in the log as three facts: when it stopped answering, how many
operations failed meanwhile, and when (and after how long) it answered again.

Every chat frame, API call and live event touches Redis, so during an outage a traceback per
failure buries the log (hundreds a second). Each place that can meet the outage hands the
error to the process's `OutageLog` and gives its caller a clear answer (a 503, an error
frame); the log gets one warning without a traceback, a count, and the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.exceptions

log = logging.getLogger(__name__)

# What a Redis client raises when the server cannot be reached or does not answer in time
# (the synchronous and the asyncio clients raise the same classes).
REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

PROBE_INTERVAL_S = 1.0


class OutageLog:
    """The outages of one dependency, as this process meets them.

    `failed` is called with each error an operation met; `answered` when the dependency was
    seen answering. `probe` (async, optional) is tried every `probe_interval_s` while the
    dependency is down, so the end of an outage is logged even when nothing else asks."""

    def __init__(self, dependency: str, *, probe: Callable[[], Awaitable[Any]] | None = None,
                 probe_interval_s: float = PROBE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.dependency = dependency
        self.probe = probe
        self.probe_interval_s = probe_interval_s
        self.clock = clock
        self.since: float | None = None
        self.failures = 0
        self._prober: asyncio.Task | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.since is not None:
            return
        self.since = self.clock()
        log.warning("%s is unreachable (%s: %s); failures are counted until it answers again",
                    self.dependency, type(error).__name__, error)
        self._start_probing()

    def answered(self) -> None:
        if self.since is None:
            return
        log.warning("%s answers again after %.1f s; %d operation(s) failed during the outage",
                    self.dependency, self.clock() - self.since, self.failures)
        self.since = None
        self.failures = 0

    @contextlib.contextmanager
    def best_effort(self) -> Iterator[None]:
        """For a step that may be skipped while Redis is down (a heartbeat): its failure is
        counted and goes no further."""
        try:
            yield
        except REDIS_UNAVAILABLE as exc:
            self.failed(exc)

    def _start_probing(self) -> None:
        if self.probe is None or (self._prober is not None and not self._prober.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return   # a synchronous caller: its next success reports the end
        self._prober = loop.create_task(self._probe_until_answered(),
                                        name=f"{self.dependency} outage probe")

    async def _probe_until_answered(self) -> None:
        while self.down:
            await asyncio.sleep(self.probe_interval_s)
            try:
                await self.probe()
            except Exception:   # any failure means: not back yet
                continue
            self.answered()

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
