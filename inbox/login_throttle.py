"""The brake on password guessing. It slows guessing down and never locks an account: a
guesser elsewhere cannot keep an agent from signing in.

- Per (account, client address): after FREE_FAILURES failures each further one makes that
  address wait before its next try at that account, twice as long each time up to
  MAX_DELAY_S (0, 0, 0, 1, 2, 4, 8 ... s). The account's owner at another address is not
  slowed. Failures are forgotten FAILURE_MEMORY_S after the last one, or at a success.
- Per client address, across accounts: at most ADDRESS_FAILURES failures in
  ADDRESS_WINDOW_S (one guess at each of many accounts: credential stuffing).

The counts live in Redis, so every app instance applies the same brake. An attempt counts
as a failure from the moment it is admitted (one atomic script checks and counts), so
parallel guesses cannot all get in before the wait is set; a success takes it back. Keys
name the account by a digest only: an e-mail address is personal data.
"""

from __future__ import annotations

import hashlib
import math

import redis.asyncio as aioredis

FREE_FAILURES = 3
MAX_DELAY_S = 60
FAILURE_MEMORY_S = 15 * 60
ADDRESS_FAILURES = 50
ADDRESS_WINDOW_S = 15 * 60


def delay_after(failures: int) -> int:
    """Seconds to wait after the n-th failure in a row from one address at one account."""
    if failures <= FREE_FAILURES:
        return 0
    return min(2 ** (failures - FREE_FAILURES - 1), MAX_DELAY_S)


def _schedule_ms() -> list[int]:
    """delay_after(1), delay_after(2), ... in ms, up to the first that stops growing (it then
    holds for every later failure)."""
    delays = [delay_after(1), delay_after(2)]
    while delays[-1] == 0 or delays[-1] > delays[-2]:
        delays.append(delay_after(len(delays) + 1))
    return [delay * 1000 for delay in delays]

# KEYS: pair failures, pair wait, address failures.
# ARGV: failure memory ms, address limit, address window ms, then the delays in ms.
# Returns 0 when the attempt may go ahead (counted as a failure), else ms to wait.
_ADMIT = """
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return wait end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used >= tonumber(ARGV[2]) then
  local left = redis.call('PTTL', KEYS[3])
  if left > 0 then return left end
  return tonumber(ARGV[3])
end
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local delay = tonumber(ARGV[math.min(3 + failures, #ARGV)])
if delay > 0 then redis.call('SET', KEYS[2], '1', 'PX', delay) end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
return 0
"""

# A success: the pair starts again, and its attempt no longer counts against the address.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 0
"""


def _keys(account: str, address: str) -> list[str]:
    pair = hashlib.sha256(f"{account.strip().lower()}\n{address}".encode()).hexdigest()[:32]
    return [f"cc:login:failures:{pair}", f"cc:login:wait:{pair}",
            f"cc:login:address:{address}"]


async def admit(redis: aioredis.Redis, account: str, address: str) -> int:
    """0 when this attempt may check its password, else the seconds to wait first."""
    wait_ms = await redis.eval(_ADMIT, 3, *_keys(account, address), FAILURE_MEMORY_S * 1000,
                               ADDRESS_FAILURES, ADDRESS_WINDOW_S * 1000, *_schedule_ms())
    return math.ceil(int(wait_ms) / 1000)


async def succeeded(redis: aioredis.Redis, account: str, address: str) -> None:
    await redis.eval(_SUCCEEDED, 3, *_keys(account, address))
