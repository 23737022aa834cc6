"""Live events over Redis pub/sub, so every app instance hears every change.

Publishers (app handlers, worker jobs) send JSON envelopes on two Redis channels: agent-facing
events, and frames addressed to one web-chat session. Each app instance runs one `LiveHub`
that subscribes once and fans out to its local listeners (SSE streams, chat sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from inbox import json_text
from inbox.outage import REDIS_UNAVAILABLE, OutageLog

EVENTS_CHANNEL = "cc:events"
WEBCHAT_CHANNEL = "cc:webchat"


def channel_name(redis: aioredis.Redis, name: str) -> str:
    """Pub/sub channels are shared by every database of a Redis server; naming them after the
    database keeps two deployments (or test runs) on one server from hearing each other."""
    return f"{name}:{redis.connection_pool.connection_kwargs.get('db', 0)}"

log = logging.getLogger(__name__)


async def publish_event(redis: aioredis.Redis, event_type: str, queue: str | None,
                        data: dict[str, Any]) -> None:
    """An agent-facing event about a conversation or a queue (conversation.created/updated,
    message.created, queue.updated): it reaches the consoles of `queue`'s agents, and
    supervisors and admins. Publishers pass the conversation's queue; one that has none yet
    (not routed) reaches supervisors and admins only."""
    envelope = {"type": event_type, "queue": queue, "data": data}
    await redis.publish(channel_name(redis, EVENTS_CHANNEL), json_text.dumps(envelope, default=str))


async def publish_events(redis: aioredis.Redis,
                         events: Iterable[tuple[str, str | None, dict[str, Any]]]) -> None:
    """`publish_event` of many (type, queue, data) in one round trip, in order."""
    events = list(events)
    if not events:
        return
    channel = channel_name(redis, EVENTS_CHANNEL)
    async with redis.pipeline(transaction=False) as pipe:
        for event_type, queue, data in events:
            envelope = {"type": event_type, "queue": queue, "data": data}
            pipe.publish(channel, json_text.dumps(envelope, default=str))
        await pipe.execute()


async def publish_console_event(redis: aioredis.Redis, event_type: str,
                                data: dict[str, Any]) -> None:
    """An event about no conversation that every console hears (agent.updated: presence)."""
    envelope = {"type": event_type, "queue": None, "all_consoles": True, "data": data}
    await redis.publish(channel_name(redis, EVENTS_CHANNEL), json_text.dumps(envelope, default=str))


def reaches_console(envelope: dict[str, Any], may_see_queue: Callable[[str | None], bool]) -> bool:
    """Whether an event goes to a console whose user may see the queues `may_see_queue`
    accepts. A queue-less event is never let through to everyone by default: only one
    published for every console is; any other is for those who see every queue, since its
    conversation may belong to anyone's queue."""
    return envelope.get("all_consoles") is True or may_see_queue(envelope.get("queue"))


# The key of a message.created event's data that holds the message as those outside its
# queue read it (the guided intake's answers: a FIN, an ID card number masked), if it differs.
MASKED_MESSAGE = "masked_message"


def as_seen_by(data: dict[str, Any], operator_of_queue: bool) -> dict[str, Any]:
    """An event's data as one reader gets it: the queue's operators the message as typed,
    anyone else (a supervisor) its masked form where the event carries one."""
    if MASKED_MESSAGE not in data:
        return data
    seen = {key: value for key, value in data.items() if key != MASKED_MESSAGE}
    if not operator_of_queue:
        seen["message"] = data[MASKED_MESSAGE]
    return seen


async def publish_to_chat(redis: aioredis.Redis, session: str, frame: dict[str, Any]) -> int:
    """A frame for one resident's chat window, wherever its socket is held."""
    return await redis.publish(channel_name(redis, WEBCHAT_CHANNEL),
                               json_text.dumps({"session": session, "frame": frame}, default=str))


@dataclass(eq=False)
class Listener:
    """One local consumer: an SSE stream with its filter, or a chat socket."""

    accepts: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))

    def offer(self, item: dict[str, Any]) -> None:
        if self.accepts(item):
            with contextlib.suppress(asyncio.QueueFull):
                # A consumer that stopped reading must not grow memory without bound.
                self.queue.put_nowait(item)


class LiveHub:
    def __init__(self, redis: aioredis.Redis, outage: OutageLog):
        self.redis = redis
        self.outage = outage
        self.streams: set[Listener] = set()
        self.chats: dict[str, set[Callable[[dict[str, Any]], None]]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        subscribed = True   # so that the first failure, at start, is reported
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel_name(self.redis, EVENTS_CHANNEL),
                                           channel_name(self.redis, WEBCHAT_CHANNEL))
                    subscribed = True
                    self.outage.answered()
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except REDIS_UNAVAILABLE as exc:  # the hub must outlive a Redis restart
                if subscribed:   # the loss counts once, not every attempt to resubscribe
                    self.outage.failed(exc)
                subscribed = False
                await asyncio.sleep(1)
            except Exception:
                log.exception("live hub lost its Redis subscription; reconnecting")
                await asyncio.sleep(1)

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        channel = channel.decode() if isinstance(channel, bytes) else channel
        chat = channel == channel_name(self.redis, WEBCHAT_CHANNEL)
        if not (self.chats if chat else self.streams):
            return     # nobody here listens: a storm's events cost no decoding
        try:
            envelope = json.loads(data)
        except ValueError:
            log.warning("ignoring a malformed live event")
            return
        if chat:
            for deliver in list(self.chats.get(envelope.get("session"), ())):
                try:
                    deliver(envelope["frame"])
                except Exception:   # one window's failure must not keep it from the others
                    log.exception("a chat window could not take a live frame")
        else:
            for listener in list(self.streams):
                listener.offer(envelope)

    def subscribe_stream(self, accepts: Callable[[dict[str, Any]], bool]) -> Listener:
        listener = Listener(accepts)
        self.streams.add(listener)
        return listener

    def close_streams(self) -> None:
        """At shutdown: tell every event stream to end now rather than at its next heartbeat."""
        for listener in list(self.streams):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(None)

    def unsubscribe_stream(self, listener: Listener) -> None:
        self.streams.discard(listener)

    def subscribe_chat(self, session: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """`deliver` is called, on the event loop, with each frame published for `session`.
        A callback and not a queue read by a task of its own: ten thousand idle windows
        then hold no task each (memory, and the collector's work)."""
        self.chats[session].add(deliver)

    def unsubscribe_chat(self, session: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        listeners = self.chats.get(session)
        if listeners is not None:
            listeners.discard(deliver)
            if not listeners:
                del self.chats[session]
