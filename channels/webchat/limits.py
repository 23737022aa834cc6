"""How much one resident, and one network address, may use the web chat
(`channels.webchat.limits`), counted in Redis so the limits hold across every app instance.

Messages are limited per session (a tight limit, counted with the session's address) and per
address (a generous one: an office or a mobile network puts many residents behind one), new
conversations and open chat windows per address. The address is the client's as
`web.client_address` reads it (X-Forwarded-For only from the deployment's
`trusted_proxies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from inbox.outage import OutageLog
from inbox.ratelimit import TAKE_EACH, Bucket, Limiter, Refusal
from settings import Rate, WebchatLimits

# An open chat window holds a lease on its address's count, renewed while it stays open; one
# whose app instance died is no longer counted once its lease runs out.
SOCKET_LEASE_S = 90
SOCKET_RENEW_S = 30


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)   # ::ffff:1.2.3.4 is 1.2.3.4
    return mapped or address


def address_key(address: str) -> str:
    """What the per-address limits count by: an IPv6 address by its /64, since one home or
    phone is given a whole /64 and could otherwise take a new address for every socket."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


@functools.lru_cache(maxsize=4096)
def _slot(address: str) -> str:
    """`address_key`, remembered: a socket's address is the same for every frame it sends."""
    return address_key(address)


class TakeBatch:
    """Every chat socket's token takes in this process, sent to Redis together.

    A message's limits were one script call of its own, and the Redis client's work around a
    call (its connection pool, retries, encoding) was most of what the web chat spent on a
    frame. Takes asked for while one batch is at Redis wait for it and go in the next, so a
    batch grows with the load and a take waits at most one round trip longer. One script run
    per address (its buckets share one Redis Cluster slot), all in one pipeline.
    """

    def __init__(self, redis: aioredis.Redis):
        # Weakly: the batch is kept per client (`take_batch`), and must not keep it alive.
        self._redis = weakref.ref(redis)
        self.sha = hashlib.sha1(TAKE_EACH.encode()).hexdigest()
        self.waiting: list[tuple[Sequence[Bucket], str, asyncio.Future]] = []
        self.sending: asyncio.Task | None = None

    async def take(self, slot: str, buckets: Sequence[Bucket]) -> Refusal | None:
        """One token from each of `buckets` (all in Redis Cluster slot `slot`), all or none."""
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append((buckets, slot, answer))
        if self.sending is None or self.sending.done():
            self.sending = asyncio.create_task(self._send())
        return await answer

    async def _send(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    refusals = await self._run(batch)
                except asyncio.CancelledError:
                    for _, _, answer in batch:
                        answer.cancel()
                    raise
                except Exception as exc:   # a Redis error is every waiting frame's to handle
                    for _, _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (_, _, answer), refusal in zip(batch, refusals, strict=True):
                    if not answer.done():
                        answer.set_result(refusal)
        finally:
            self.sending = None

    async def _run(self, batch: list[tuple[Sequence[Bucket], str, asyncio.Future]]
                   ) -> list[Refusal | None]:
        slots: dict[str, list[int]] = {}
        for index, (_, slot, _) in enumerate(batch):
            slots.setdefault(slot, []).append(index)
        calls = []
        for indexes in slots.values():
            keys: list[str] = []
            args: list[int] = [len(indexes)]
            for index in indexes:
                buckets = batch[index][0]
                args.append(len(buckets))
                for bucket in buckets:
                    keys.append(bucket.key)
                    args += [bucket.count, max(1, round(bucket.per_s * 1000))]
            calls.append((indexes, keys, args))
        answers = await self._evaluate([(keys, args) for _, keys, args in calls])
        refusals: list[Refusal | None] = [None] * len(batch)
        for (indexes, _, _), answer in zip(calls, answers, strict=True):
            for n, index in enumerate(indexes):
                refused, wait_ms = int(answer[2 * n]), int(answer[2 * n + 1])
                if refused:
                    refusals[index] = Refusal(batch[index][0][refused - 1], wait_ms / 1000)
        return refusals

    async def _evaluate(self, calls: list[tuple[list[str], list[int]]]) -> list[list[int]]:
        """Each script call's answer, in one pipeline; the script is loaded if Redis lost it
        (a restart, SCRIPT FLUSH), and only the calls it refused for that are repeated."""
        answers: list = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            redis = self._redis()
            if redis is None:
                raise aioredis.ConnectionError("the Redis client is gone")
            pipe = redis.pipeline(transaction=False)
            for index in todo:
                keys, args = calls[index]
                pipe.evalsha(self.sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            missing = []
            for index, result in zip(todo, results, strict=True):
                if isinstance(result, NoScriptError) and attempt == 0:
                    missing.append(index)
                elif isinstance(result, Exception):
                    raise result
                else:
                    answers[index] = result
            if not missing:
                break
            self.sha = await redis.script_load(TAKE_EACH)
            todo = missing
        return answers


# One batch per Redis client (an app instance's), shared by all its sockets.
_batches: weakref.WeakKeyDictionary[aioredis.Redis, TakeBatch] = weakref.WeakKeyDictionary()


def take_batch(redis: aioredis.Redis) -> TakeBatch:
    batch = _batches.get(redis)
    if batch is None:
        batch = _batches[redis] = TakeBatch(redis)
    return batch


@dataclass(frozen=True)
class Refused:
    code: str                # the error catalogue's code (channels/webchat/errors.py)
    retry_after_s: int


class ChatLimits:
    def __init__(self, redis: aioredis.Redis, limits: WebchatLimits, outage: OutageLog):
        self.limiter = Limiter(redis)
        self.takes = take_batch(redis)
        self.limits = limits
        self.outage = outage    # an outage is logged once for every frame it touches

    def _bucket(self, slot: str, name: str, rate: Rate) -> Bucket:
        # The braces keep one address's keys in one Redis Cluster slot, as the script needs.
        return Bucket(f"cc:webchat:{{{slot}}}:{name}", rate.count, rate.per_s)

    async def message(self, session: str, address: str, *,
                      opens_conversation: bool) -> Refused | None:
        """A resident's message may be stored, or the limit it runs into."""
        limits = self.limits
        slot = _slot(address)
        # Each bucket with the error its refusal is told as.
        buckets = {
            self._bucket(slot, f"session:{session}", limits.messages_per_session):
                "too_many_messages",
            self._bucket(slot, "messages", limits.messages_per_address): "too_many_messages",
        }
        if opens_conversation:
            buckets[self._bucket(slot, "conversations", limits.conversations_per_address)] = \
                "too_many_conversations"
        try:
            refusal = await self.takes.take(slot, tuple(buckets))
        except aioredis.RedisError as exc:
            # Residents' messages come before their limits: with Redis away they are stored
            # (the database has them) and counted again once it is back.
            self.outage.failed(exc)
            return None
        if refusal is None:
            return None
        return Refused(buckets[refusal.bucket], max(1, math.ceil(refusal.retry_after_s)))

    def _sockets_key(self, address: str) -> str:
        return f"cc:webchat:{{{_slot(address)}}}:sockets"

    async def hold_socket(self, address: str, socket_id: str) -> bool:
        """Count an open chat window (or renew its count), unless its address has too many;
        with Redis away, a window is let in uncounted, as messages are."""
        try:
            return await self.limiter.hold(self._sockets_key(address), socket_id,
                                           self.limits.sockets_per_address, SOCKET_LEASE_S)
        except aioredis.RedisError as exc:
            self.outage.failed(exc)
            return True

    async def renew_socket(self, pipe: aioredis.client.Pipeline, address: str,
                           socket_id: str) -> None:
        """`hold_socket`'s renewal of a window already counted, queued on a pipeline (the
        renewals of many windows go in one round trip)."""
        await self.limiter.hold_in(pipe, self._sockets_key(address), socket_id,
                                   self.limits.sockets_per_address, SOCKET_LEASE_S)

    async def release_socket(self, address: str, socket_id: str) -> None:
        with contextlib.suppress(aioredis.RedisError):   # its lease runs out by itself
            await self.limiter.release(self._sockets_key(address), socket_id)
