"""Whether a resident is in the chat: their session's open windows, counted in Redis so every
app instance (and the worker that sends agents' replies) sees the same.

Each window holds a lease on its session (a sorted set: window id -> lease end), renewed while
it stays open; a window closed in good order gives its lease back, and when it was the last
one the session is "leaving" for `channels.webchat.away_after`: a reload or a lost connection
comes back within it. A window whose app instance died lets its lease run out. A session
with no lease and not leaving is away: an agent's reply then goes where the resident asked
(`inbox.reply_to`), by SMS or e-mail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from channels.webchat.limits import SOCKET_RENEW_S

# A window renews its lease every SOCKET_RENEW_S; three missed renewals and it is gone.
WINDOW_LEASE_S = SOCKET_RENEW_S * 3


@dataclass(frozen=True)
class Whereabouts:
    windows: int            # windows open now
    leaving_for_s: float    # > 0: the last window closed; how long the resident may come back

    @property
    def here(self) -> bool:
        return self.windows > 0

    @property
    def away(self) -> bool:
        return self.windows == 0 and self.leaving_for_s <= 0


def _windows_key(session: str) -> str:
    return f"cc:webchat:windows:{session}"


def _leaving_key(session: str) -> str:
    return f"cc:webchat:leaving:{session}"


async def hold(redis: Any, session: str, window_id: str) -> None:
    """This window is open (or still is): its lease, renewed; the session is not leaving."""
    async with redis.pipeline(transaction=False) as pipe:
        hold_in(pipe, session, window_id)
        await pipe.execute()


def hold_in(pipe: Any, session: str, window_id: str) -> None:
    """`hold` queued on a pipeline: the renewals of many windows in one round trip."""
    now = time.time()
    key = _windows_key(session)
    pipe.zadd(key, {window_id: now + WINDOW_LEASE_S}).zremrangebyscore(key, "-inf", now) \
        .expire(key, WINDOW_LEASE_S).delete(_leaving_key(session))


async def release(redis: Any, session: str, window_id: str, away_after_s: int) -> None:
    """This window closed: the session is leaving when it was its last open one."""
    now = time.time()
    key = _windows_key(session)
    async with redis.pipeline(transaction=True) as pipe:
        _, _, still_open = await (pipe.zrem(key, window_id)
                                  .zremrangebyscore(key, "-inf", now).zcard(key).execute())
    if still_open == 0 and away_after_s > 0:
        await redis.set(_leaving_key(session), "1", ex=away_after_s)


async def whereabouts(redis: Any, session: str) -> Whereabouts:
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        windows, leaving_ms = await (pipe.zcount(_windows_key(session), now, "+inf")
                                     .pttl(_leaving_key(session)).execute())
    return Whereabouts(int(windows), max(0, leaving_ms) / 1000)
