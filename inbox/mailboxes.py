"""How each mailbox's polling goes: written by the worker's poll (channels.email.imap), read
by `/readyz` and `/metrics` in the app, which never reaches a channel.

One Redis hash, a field per mailbox: whether its last poll worked, the kind of the error
when it did not (never the server's words: they may name the account), how many polls in a
row failed, since when, and when the next poll is due (the back-off). Nothing here is the
only copy of anything: a lost hash only means the next poll is due at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

KEY = "cc:mailboxes"
MAX_BACKOFF_S = 15 * 60


@dataclass(frozen=True)
class MailboxHealth:
    ok: bool
    failures: int = 0        # polls failed in a row
    error: str | None = None  # its kind: connection, login, tls, timeout, server, storage
    since: float | None = None   # when it began failing (epoch s)
    due_at: float = 0.0      # when the next poll may start (epoch s)
    polled_at: float | None = None   # the last poll that worked


def backoff_s(interval_s: int, failures: int) -> float:
    """The wait after `failures` failed polls in a row: the interval, doubled each time, at
    most MAX_BACKOFF_S (or the interval, when that is longer)."""
    return max(interval_s, min(interval_s * 2 ** max(failures - 1, 0), MAX_BACKOFF_S))


async def health(redis: aioredis.Redis) -> dict[str, MailboxHealth]:
    raw = await redis.hgetall(KEY)
    return {name.decode(): MailboxHealth(**json.loads(value)) for name, value in raw.items()}


async def health_of(redis: aioredis.Redis, mailbox: str) -> MailboxHealth | None:
    value = await redis.hget(KEY, mailbox)
    return None if value is None else MailboxHealth(**json.loads(value))


async def polled(redis: aioredis.Redis, mailbox: str, interval_s: int,
                 now: float | None = None) -> MailboxHealth:
    now = time.time() if now is None else now
    state = MailboxHealth(ok=True, due_at=now + interval_s, polled_at=now)
    await redis.hset(KEY, mailbox, json.dumps(asdict(state)))
    return state


async def failed(redis: aioredis.Redis, mailbox: str, interval_s: int, error: str,
                 now: float | None = None) -> MailboxHealth:
    now = time.time() if now is None else now
    before = await health_of(redis, mailbox)
    failures = (before.failures if before else 0) + 1
    since = before.since if before and not before.ok and before.since else now
    state = MailboxHealth(ok=False, failures=failures, error=error, since=since,
                          due_at=now + backoff_s(interval_s, failures),
                          polled_at=before.polled_at if before else None)
    await redis.hset(KEY, mailbox, json.dumps(asdict(state)))
    return state


async def forget_others(redis: aioredis.Redis, mailboxes: set[str]) -> None:
    """Drop the state of mailboxes the configuration no longer has."""
    gone = [name for name in await redis.hkeys(KEY) if name.decode() not in mailboxes]
    if gone:
        await redis.hdel(KEY, *gone)
