"""The garbage collector of a process that holds thousands of open connections (residents'
chat windows, agents' event streams).

CPython's full collection scans every object the collector tracks. With 10,000 chat windows
that is about a million objects, and each full pass stalled every window for 0.2–3 s on the
shared two-core machine (bench/bench_webchat_fanout.py, timed with `gc.callbacks`): several a
minute, because every object that outlives two young collections (a window's timers, its
pending Redis calls) counts towards the next one. What survives a full pass is mostly the
windows themselves, alive for minutes or hours, so after each full pass its survivors are
frozen (`gc.freeze`): the next full pass scans only what came since, and costs what the
process's churn costs, not what its open windows do.

Frozen objects are still freed when nothing refers to them; only cycles among them are not
(a window closed since its objects were frozen may leave one). Every `thaw_every_s` (an
hour) they are unfrozen and one full pass reclaims those cycles: one pause an hour instead of
one every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

THAW_EVERY_S = 3600


class Collector:
    """Freezes the survivors of each full collection, and thaws them every `thaw_every_s`."""

    def __init__(self, thaw_every_s: float = THAW_EVERY_S):
        self.thaw_every_s = thaw_every_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thawing: asyncio.Task | None = None
        self.freezes = 0

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        gc.collect()
        gc.freeze()   # what start-up made lives as long as the process
        gc.callbacks.append(self._after_collection)
        self.thawing = self.loop.create_task(self._thaw_regularly(), name="gc-thaw")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._after_collection)
        if self.thawing is not None:
            self.thawing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.thawing

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2 and self.loop is not None:
            # Not inside the collection's own callback (it may run in any thread): the
            # loop's next turn freezes what survived.
            with contextlib.suppress(RuntimeError):   # the loop has closed
                self.loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        gc.freeze()
        self.freezes += 1

    async def _thaw_regularly(self) -> None:
        while True:
            await asyncio.sleep(self.thaw_every_s)
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()   # its callback freezes the survivors again
            log.info("collector: thawed and collected %d objects in %.0f ms", found,
                     (time.perf_counter() - started) * 1000)
