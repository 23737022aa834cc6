"""A chore the serving process does every so often beside its work, until it stops: the
SQLite checkpoints (`checkpoints`), PostgreSQL's statistics of young tables (`statistics`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Chore:
    """Awaits `do()` every `every_s` seconds (read at each turn) once started. `do` handles
    its own failures: one that raises ends the chore."""

    def __init__(self, do: Callable[[], Awaitable[None]], every_s: float, name: str):
        self._do = do
        self.every_s = every_s
        self._name = name
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._regularly(),
                                                                name=self._name)

    async def _regularly(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self._do()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
