"""Limits that hold across every app instance, kept in Redis: token buckets for how often, and
leases for how many at once.

Both are Lua scripts, so a check and its update are one step however many instances ask at
the same moment, and both read Redis's clock, so instances whose clocks disagree still agree
on a limit. A bucket holds `count` tokens and earns them back evenly over `per_s` seconds;
a lease is a member of a sorted set scored by its expiry, so one an instance never returned
(it crashed) runs out by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

# Token buckets taken for one request or many in one script run: each request takes one
# token from every one of its buckets, or from none when any of them is empty (a refused
# attempt costs nothing: an abuser who is refused does not drain a shared bucket further), the
# requests one after another (two messages of one session draw on its bucket in turn).
# KEYS: every request's buckets, request after request; ARGV: the number of requests, then
# for each its number of buckets and the count and period (ms) of each bucket. Returns, for
# each request, 0 and 0 when taken, else the 1-based index of the bucket (within the request)
# that refused and the milliseconds until it has a token.
TAKE_EACH = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local answers = {}
local key, arg = 0, 2
for _ = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[arg])
  local levels = {}
  local refused, wait = 0, 0
  for i = 1, n do
    local count, period = tonumber(ARGV[arg + 2 * i - 1]), tonumber(ARGV[arg + 2 * i])
    local state = redis.call('HMGET', KEYS[key + i], 'tokens', 'at')
    local tokens = tonumber(state[1]) or count
    local at = tonumber(state[2]) or now
    tokens = math.min(count, tokens + math.max(0, now - at) * count / period)
    levels[i] = tokens
    if tokens < 1 then
      local needed = math.ceil((1 - tokens) * period / count)
      if needed > wait then refused, wait = i, needed end
    end
  end
  if refused == 0 then
    for i = 1, n do
      redis.call('HSET', KEYS[key + i], 'tokens', tostring(levels[i] - 1), 'at', now)
      -- After one period a bucket is full again, the same as absent.
      redis.call('PEXPIRE', KEYS[key + i], tonumber(ARGV[arg + 2 * i]))
    end
  end
  answers[#answers + 1] = refused
  answers[#answers + 1] = wait
  key, arg = key + n, arg + 2 * n + 1
end
return answers
"""

# Holds or renews the lease ARGV[1] in the set KEYS[1] for ARGV[3] ms, unless ARGV[2] other
# leases are held. Returns 1 when held.
_LEASE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    count: int
    per_s: float


@dataclass(frozen=True)
class Refusal:
    bucket: Bucket
    retry_after_s: float


class Limiter:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._take = redis.register_script(TAKE_EACH)
        self._lease = redis.register_script(_LEASE)

    async def take(self, *buckets: Bucket) -> Refusal | None:
        """One token from each of `buckets`, all or none; the refusal names the bucket that
        was empty (the one that will take longest to refill, when several are)."""
        args: list[int] = [1, len(buckets)]     # one request, of these buckets
        for bucket in buckets:
            args += [bucket.count, max(1, round(bucket.per_s * 1000))]
        refused, wait_ms = await self._take(keys=[b.key for b in buckets], args=args)
        if not refused:
            return None
        return Refusal(buckets[int(refused) - 1], int(wait_ms) / 1000)

    async def hold(self, key: str, holder: str, limit: int, ttl_s: float) -> bool:
        """Hold (or renew) `holder`'s lease in `key` for `ttl_s`, if fewer than `limit`
        others are held."""
        return bool(await self._lease(keys=[key], args=[holder, limit, round(ttl_s * 1000)]))

    async def hold_in(self, pipe: aioredis.client.Pipeline, key: str, holder: str, limit: int,
                      ttl_s: float) -> None:
        """`hold` queued on a pipeline: many renewals in one round trip."""
        await self._lease(keys=[key], args=[holder, limit, round(ttl_s * 1000)], client=pipe)

    async def release(self, key: str, holder: str) -> None:
        await self.redis.zrem(key, holder)
