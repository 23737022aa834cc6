"""How much one resident, and one network address, may use the web chat
(`channels.webchat.limits`), counted in Redis so the limits hold across every app instance.

Messages are limited per session (a tight limit, counted with the session's address) and per
address (a generous one: an office or a mobile network puts many residents behind one), new
conversations and open chat windows per address. The address is the client's as
`web.client_address` reads it (X-Forwarded-For only from the deployment's
`trusted_proxies`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from inbox.outage import OutageLog
from inbox.ratelimit import Bucket, Limiter
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


@dataclass(frozen=True)
class Refused:
    code: str                # the error catalogue's code (channels/webchat/errors.py)
    retry_after_s: int


class ChatLimits:
    def __init__(self, redis: aioredis.Redis, limits: WebchatLimits, outage: OutageLog):
        self.limiter = Limiter(redis)
        self.limits = limits
        self.outage = outage    # an outage is logged once for every frame it touches

    def _bucket(self, address: str, name: str, rate: Rate) -> Bucket:
        # The braces keep one address's keys in one Redis Cluster slot, as the script needs.
        return Bucket(f"cc:webchat:{{{address_key(address)}}}:{name}", rate.count, rate.per_s)

    async def message(self, session: str, address: str, *,
                      opens_conversation: bool) -> Refused | None:
        """A resident's message may be stored, or the limit it runs into."""
        limits = self.limits
        # Each bucket with the error its refusal is told as.
        buckets = {
            self._bucket(address, f"session:{session}", limits.messages_per_session):
                "too_many_messages",
            self._bucket(address, "messages", limits.messages_per_address): "too_many_messages",
        }
        if opens_conversation:
            buckets[self._bucket(address, "conversations", limits.conversations_per_address)] = \
                "too_many_conversations"
        try:
            refusal = await self.limiter.take(*buckets)
        except aioredis.RedisError as exc:
            # Residents' messages come before their limits: with Redis away they are stored
            # (the database has them) and counted again once it is back.
            self.outage.failed(exc)
            return None
        if refusal is None:
            return None
        return Refused(buckets[refusal.bucket], max(1, math.ceil(refusal.retry_after_s)))

    def _sockets_key(self, address: str) -> str:
        return f"cc:webchat:{{{address_key(address)}}}:sockets"

    async def hold_socket(self, address: str, socket_id: str) -> bool:
        """Count an open chat window (or renew its count), unless its address has too many;
        with Redis away, a window is let in uncounted, as messages are."""
        try:
            return await self.limiter.hold(self._sockets_key(address), socket_id,
                                           self.limits.sockets_per_address, SOCKET_LEASE_S)
        except aioredis.RedisError as exc:
            self.outage.failed(exc)
            return True

    async def release_socket(self, address: str, socket_id: str) -> None:
        with contextlib.suppress(aioredis.RedisError):   # its lease runs out by itself
            await self.limiter.release(self._sockets_key(address), socket_id)
