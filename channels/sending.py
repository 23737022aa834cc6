"""What the sends of one worker share: provider clients kept open from one send to the next,
and each provider's request rate, which every worker obeys together.

A worker that runs its sends on one long-lived event loop opens `kept_open()` on it once;
inside it a channel's `shared(key, opener)` opens its HTTP client the first time and hands
the same one to every later send (its connections stay warm). Outside such a scope (a job on
an event loop of its own, a test) each send opens and closes its own.

`SendRate` is a per-second budget in Redis, counted over all workers: automatic messages may
use only their share of it, so an agent's reply always finds room within the second; and a
provider's 429 pauses everyone's sends to it for its Retry-After.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from channels.base import RateLimited

T = TypeVar("T")

# Where a long-lived loop keeps what its sends opened: {loop: (closer, {key: client})}.
_KEPT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                 tuple[AsyncExitStack, dict[Hashable, Any]]] = \
    weakref.WeakKeyDictionary()


@asynccontextmanager
async def kept_open() -> AsyncIterator[None]:
    """Until this block ends, what `shared` opens on this event loop stays open."""
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        _KEPT[loop] = (stack, {})
        try:
            yield
        finally:
            _KEPT.pop(loop, None)


@asynccontextmanager
async def shared(key: Hashable,
                 opener: Callable[[], AbstractAsyncContextManager[T]]) -> AsyncIterator[T]:
    """The client `opener` opens, kept for later sends under `key` when a `kept_open` scope
    is active on this loop; otherwise opened for this block alone."""
    kept = _KEPT.get(asyncio.get_running_loop())
    if kept is None:
        async with opener() as value:
            yield value
        return
    stack, values = kept
    if key not in values:
        value = await stack.enter_async_context(opener())
        # Two first sends may race to open it: the second one's is closed with the scope.
        values.setdefault(key, value)
    yield values[key]


# A send waits at most this long for room in the rate; past it the message goes back to
# the queue for that long instead of holding its claim (and the batch it is in).
MAX_WAIT_S = 2.0
AUTOMATIC_SHARE = 0.8   # what automatic messages may use of each second: replies keep the rest


# Requests a worker takes from the shared budget in one Redis round trip (fewer when the
# budget is small): what it does not use lapses with the second.
RESERVE = 8
# This process's reservations: {(provider, urgent): (second, requests left)}.
_RESERVED: dict[tuple[str, bool], tuple[int, int]] = {}
# Lanes are per provider, but also per chat (Telegram's limit per chat): a long-running
# worker meets a new lane with every resident, so past this many the lapsed ones go.
PRUNE_AT = 512
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                  dict[tuple[str, bool], asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def _clock() -> float:
    return time.time()


def _lock(lane: tuple[str, bool]) -> asyncio.Lock:
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    if lane not in locks and len(locks) >= PRUNE_AT:
        _prune(locks)
    return locks.setdefault(lane, asyncio.Lock())


def _prune(locks: dict[tuple[str, bool], asyncio.Lock]) -> None:
    """Forget the lanes whose reservation has lapsed with its second and whose lock nobody
    holds or waits for: they are re-made, empty, when a send needs them again."""
    second = int(_clock())
    for lane, (reserved, _) in list(_RESERVED.items()):
        if reserved < second:
            del _RESERVED[lane]
    for lane, lock in list(locks.items()):
        if lane not in _RESERVED and not lock.locked():
            del locks[lane]


class SendRate:
    """At most `per_second` requests to the provider `name` in any second, across workers.

    A fixed one-second window counted in Redis. A worker reserves a few requests of the
    current second at a time (one pipelined round trip for several sends) and spends them
    itself. `urgent` sends (an agent's reply) may use the whole second; others only
    `AUTOMATIC_SHARE` of it, so however many acknowledgements wait, a reply never waits for
    the next second behind them."""

    def __init__(self, name: str, per_second: int):
        self.name = name
        self.per_second = per_second
        self.pause_key = f"cc:send-rate:{name}:paused"

    def limit(self, urgent: bool) -> int:
        return self.per_second if urgent else max(1, int(self.per_second * AUTOMATIC_SHARE))

    async def slot(self, redis: Any, *, urgent: bool, max_wait_s: float = MAX_WAIT_S) -> None:
        """Returns when this request may go; RateLimited when that would take too long."""
        lane = (self.name, urgent)
        waited = 0.0
        while True:
            if self._take(lane):
                return
            # One reservation at a time per lane: concurrent sends wait for it rather than
            # each reserving (and wasting) requests of their own.
            async with _lock(lane):
                if self._take(lane):
                    return
                wait = await self._reserve(redis, lane, self.limit(urgent))
            if wait is None:
                continue
            if waited + wait > max_wait_s:
                raise RateLimited(f"{self.name}'s send rate is used up; "
                                  f"trying again in {wait:.1f} s", retry_after_s=wait)
            await asyncio.sleep(wait)
            waited += wait

    @staticmethod
    def _take(lane: tuple[str, bool]) -> bool:
        second, left = _RESERVED.get(lane, (0, 0))
        if second == int(_clock()) and left > 0:
            _RESERVED[lane] = (second, left - 1)
            return True
        return False

    async def _reserve(self, redis: Any, lane: tuple[str, bool], limit: int) -> float | None:
        """Reserve requests of this second: None when some were granted, else how long to
        wait (the provider's pause, or the rest of the second)."""
        now = _clock()
        second = int(now)
        want = max(1, min(RESERVE, limit // 16))
        key = f"cc:send-rate:{self.name}:{second}"
        async with redis.pipeline(transaction=False) as pipe:
            count, _, paused_ms = await pipe.incrby(key, want).expire(key, 5) \
                .pttl(self.pause_key).execute()
        granted = 0 if paused_ms > 0 else max(0, min(want, limit - (count - want)))
        if granted < want:
            # Give back what was not granted: a send turned away must not use up the room
            # that is left (the replies' share) for the rest of the second.
            await redis.decrby(key, want - granted)
        if paused_ms > 0:
            return paused_ms / 1000
        if granted == 0:
            return second + 1 - now
        _RESERVED[lane] = (second, granted)
        return None

    async def pause(self, redis: Any, seconds: float) -> None:
        """The provider answered 429: no worker sends to it for `seconds`."""
        _RESERVED.clear()
        await redis.set(self.pause_key, "1", px=max(1, int(seconds * 1000)))


class RedisBatch:
    """The Redis commands concurrent sends issue at the same moment, in one round trip (a
    MULTI/EXEC block, so each caller's commands stay atomic as in a pipeline of its own):
    the sends a group commit resumes together ask Redis together."""

    def __init__(self, redis: Any):
        self.redis = redis
        self.pending: list[tuple[Callable[[Any], Any], int, asyncio.Future[list[Any]]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def run(self, add: Callable[[Any], Any], count: int) -> list[Any]:
        """`add` queues `count` commands on the pipeline; their results, in order."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.pending.append((add, count, done))
        if self.flushing is None or self.flushing.done():
            # Runs after the callers already woken in this turn of the loop have added theirs.
            self.flushing = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        # Callers that come while a round trip is out go in the next one.
        while self.pending:
            group, self.pending = self.pending, []
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for add, _, _ in group:
                        add(pipe)
                    results = await pipe.execute()
            except Exception as exc:
                for _, _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for _, count, done in group:
                if not done.done():
                    done.set_result(results[start:start + count])
                start += count


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisBatch] = \
    weakref.WeakKeyDictionary()


def redis_batch(redis: Any) -> RedisBatch:
    """This event loop's batch for `redis` (a new one when the client changed)."""
    loop = asyncio.get_running_loop()
    batch = _BATCHES.get(loop)
    if batch is None or batch.redis is not redis:
        batch = _BATCHES[loop] = RedisBatch(redis)
    return batch
