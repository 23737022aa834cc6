"""Which agents have a console open. An agent who chose "online" is taken offline (and their
unanswered conversations handed back) once no console of theirs has been heard from.

Each console connection (an event stream, or an API client calling the presence endpoint)
keeps a member in a Redis sorted set per agent, scored with the time it expires; heartbeats
push that time forward. Redis holds only this short-lived state.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis

from inbox import assignment
from inbox.context import InboxContext

log = logging.getLogger(__name__)

CONSOLE_TTL_S = 45        # a console not heard from for this long is gone
CLOSE_GRACE_S = 10        # a reloading page reconnects within this
API_PRESENCE_TTL_S = 120  # an API client's presence call counts as a console this long


def _key(user_id: int) -> str:
    return f"cc:consoles:{user_id}"


async def console_seen(redis: aioredis.Redis, user_id: int, connection: str,
                       ttl_s: int = CONSOLE_TTL_S) -> None:
    await redis.zadd(_key(user_id), {connection: time.time() + ttl_s})
    await redis.expire(_key(user_id), ttl_s + CONSOLE_TTL_S)


async def console_closed(redis: aioredis.Redis, user_id: int, connection: str) -> None:
    # Not removed at once: a page reload closes and reopens its stream within seconds.
    await redis.zadd(_key(user_id), {connection: time.time() + CLOSE_GRACE_S}, xx=True)


async def live_consoles(redis: aioredis.Redis, user_id: int) -> int:
    return await redis.zcount(_key(user_id), time.time(), "+inf")


async def expire_absent_agents(ctx: InboxContext) -> list[int]:
    """Online agents with no live console go offline; their unanswered work goes back."""
    async with ctx.store.read() as tx:
        online = [u["id"] for u in await tx.users.online_agents()]
    gone = []
    for agent_id in online:
        if await live_consoles(ctx.redis, agent_id) == 0:
            log.info("agent %s has no console open any more: offline", agent_id)
            await assignment.set_presence(ctx, agent_id, "offline")
            gone.append(agent_id)
    return gone
