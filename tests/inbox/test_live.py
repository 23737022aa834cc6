"""Live events reach only the consoles allowed to see them: the filter as a pure function, then
`/api/v1/stream` against the real app while residents write (SQLite and PostgreSQL, real
Redis), including a resident's second message that comes before the first one is routed."""

from __future__ import annotations

import asyncio
import json

import pytest

from app import create_app
from inbox import dispatch
from inbox import ingest as ingest_module
from inbox.actions import Actor
from inbox.dispatch import route_unrouted
from inbox.ingest import Arrival, IngestResult, ingest, store_many
from inbox.live import publish_console_event, publish_event, reaches_console
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from tests.channels.webchat.test_channel import say_hello, send_text
from tests.unrouted import unroute
from tests.web.test_api import Person, people  # noqa: F401  (fixture)

PENSION = "Salam, bu ay pensiyam gəlməyib"           # the pension rule: call-centre-142
LEYLAS_QUEUE = "migration-registration"              # leyla is an agent of another queue
SENTINEL = "sentinel.checked"


# --- the filter -------------------------------------------------------------------------------

AGENT_142 = Actor(id=1, role="agent", queues=("call-centre-142",))
SUPERVISOR = Actor(id=2, role="supervisor", queues=())


@pytest.mark.parametrize("envelope, agent, supervisor", [
    ({"type": "message.created", "queue": "call-centre-142", "data": {}}, True, True),
    ({"type": "message.created", "queue": "migration-support", "data": {}}, False, True),
    ({"type": "message.created", "queue": None, "data": {}}, False, True),
    ({"type": "message.created", "data": {}}, False, True),
    ({"type": "agent.updated", "queue": None, "all_consoles": True, "data": {}}, True, True),
    ({"type": "agent.updated", "queue": None, "all_consoles": "yes", "data": {}}, False, True),
], ids=["own-queue", "other-queue", "no-queue", "queue-missing", "every-console",
        "every-console-not-quite"])
def test_an_event_without_a_queue_reaches_only_those_who_see_every_queue(envelope, agent,
                                                                           supervisor):
    assert reaches_console(envelope, AGENT_142.may_see_queue) is agent
    assert reaches_console(envelope, SUPERVISOR.may_see_queue) is supervisor


# --- over /api/v1/stream ----------------------------------------------------------------------

class EventStream:
    """One console's `/api/v1/stream`, read in the background into (type, data) pairs."""

    def __init__(self, response):
        self.response = response
        self.events: list[tuple[str, dict]] = []
        self.sentinel = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        event_type = None
        async for raw in self.response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event_type = line.removeprefix("event: ")
            elif line.startswith("data: "):
                self.events.append((event_type, json.loads(line.removeprefix("data: "))))
                if event_type == SENTINEL:
                    self.sentinel.set()

    async def close(self) -> None:
        self._reader.cancel()
        self.response.close()

    def bodies(self) -> list[str]:
        return [data["message"]["body"] for kind, data in self.events
                if kind == "message.created"]

    def mentions(self, text: str) -> bool:
        return any(text in json.dumps(data, ensure_ascii=False) for _, data in self.events)


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def streams(client, people):  # noqa: F811
    opened: dict[str, EventStream] = {}
    for name, person in people.items():
        response = await client.get("/api/v1/stream", headers=person.headers)
        assert response.status == 200
        assert await response.content.readline() == b": connected\n"
        opened[name] = EventStream(response)
    yield opened
    for stream in opened.values():
        await stream.close()


async def heard_everything(ctx, streams: dict[str, EventStream]) -> None:
    """Every event published so far has reached every stream: one published after them to
    every console comes last (one hub, one Redis connection, in order)."""
    # Re-armed for each call: a stream that saw an earlier sentinel must see this one too.
    for stream in streams.values():
        stream.sentinel.clear()
    await publish_console_event(ctx.redis, SENTINEL, {})
    for stream in streams.values():
        await asyncio.wait_for(stream.sentinel.wait(), 10)


def resident(session: str, client_id: str, text: str) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"{session}:{client_id}",
                          address=session, text=text, received_at=utcnow(),
                          display_name="Günel Əliyeva", language="az")


async def left_unrouted(ctx, message: InboundMessage) -> IngestResult:
    """A first message stored in a conversation whose routing never happened."""
    [stored] = await store_many(ctx, [Arrival(message)])
    await unroute(ctx, stored.conversation_id)
    return stored


async def test_a_message_in_a_conversation_left_unrouted_reaches_supervisors_only(ctx,
                                                                                  streams):
    # The first message is stored, and its routing crashed before it began.
    first = await left_unrouted(ctx, resident("sess-1", "c-1", PENSION))
    second = await ingest(ctx, resident("sess-1", "c-2", "Cavab gözləyirəm, zəhmət olmasa"))
    assert (second.conversation_id, second.new_conversation) == (first.conversation_id, False)
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(first.conversation_id))["queue"] is None
    await heard_everything(ctx, streams)
    assert streams["nigar"].bodies() == ["Cavab gözləyirəm, zəhmət olmasa"]
    assert streams["leyla"].events == streams["rauf"].events == [(SENTINEL, {})]
    # The sweep routes it: the queue's agent gets the conversation, and no one else's.
    assert await route_unrouted(ctx, older_than_s=0) == [first.conversation_id]
    await heard_everything(ctx, streams)
    created = [data["conversation"]["id"] for kind, data in streams["rauf"].events
               if kind == "conversation.created"]
    assert created == [first.conversation_id]
    assert not streams["leyla"].mentions("Cavab gözləyirəm")
    assert [kind for kind, _ in streams["leyla"].events] == [SENTINEL, SENTINEL]


async def test_a_message_stored_before_its_conversation_was_routed_waits_for_the_queue(
        ctx, streams, monkeypatch):
    # The race of two chat windows: the second message is stored before routing the first
    # began, and announced while that routing is under way (its transaction open).
    first = await left_unrouted(ctx, resident("sess-1", "c-1", PENSION))
    reading, go_on = asyncio.Event(), asyncio.Event()
    read_first = dispatch.text_to_classify

    async def slow_reading(tx, conversation_id):
        reading.set()
        await go_on.wait()
        return await read_first(tx, conversation_id)

    routing: list[asyncio.Task] = []
    store = ingest_module.store_many

    async def stored_then_routing_begins(*args):
        stored = await store(*args)
        routing.append(asyncio.create_task(
            dispatch.route_conversation(ctx, first.conversation_id)))
        await reading.wait()
        return stored

    monkeypatch.setattr(dispatch, "text_to_classify", slow_reading)
    monkeypatch.setattr(ingest_module, "store_many", stored_then_routing_begins)
    second = asyncio.create_task(
        ingest(ctx, resident("sess-1", "c-2", "Cavab gözləyirəm, zəhmət olmasa")))
    await reading.wait()
    await asyncio.sleep(0.3)
    assert not second.done()                       # held until the conversation has a queue
    go_on.set()
    await routing[0]
    assert (await second).conversation_id == first.conversation_id
    await heard_everything(ctx, streams)
    for name in ("rauf", "nigar"):
        assert streams[name].bodies() == ["Cavab gözləyirəm, zəhmət olmasa"], name
    assert not streams["leyla"].mentions("Cavab gözləyirəm")


async def test_a_queue_less_event_reaches_supervisors_only(ctx, streams):
    await publish_event(ctx.redis, "message.created", None,
                        {"conversation_id": 1, "message": {"body": "Mənim FİN-im 5ZJ8K2L"}})
    await heard_everything(ctx, streams)
    assert streams["nigar"].bodies() == ["Mənim FİN-im 5ZJ8K2L"]
    assert streams["leyla"].bodies() == streams["rauf"].bodies() == []


async def test_presence_still_reaches_every_console(ctx, streams, people):  # noqa: F811
    from inbox.assignment import set_presence
    await set_presence(ctx, people["leyla"].id, "online")
    await heard_everything(ctx, streams)
    for stream in streams.values():
        assert ("agent.updated", {"agent_id": people["leyla"].id, "presence": "online",
                                  "reason": None}) \
            in stream.events


async def test_two_sockets_racing_on_one_session_leak_nothing_to_another_queue(client, ctx,
                                                                               streams):
    rounds = 20
    for i in range(rounds):
        async with client.ws_connect("/chat/ws") as one, client.ws_connect("/chat/ws") as two:
            token = (await say_hello(one))["session"]
            await say_hello(two, session=token)
            acks = await asyncio.gather(send_text(one, "a", f"{PENSION} (yazı {i}a)"),
                                        send_text(two, "b", f"{PENSION} (yazı {i}b)"))
            assert [ack["type"] for ack in acks] == ["ack", "ack"], acks
    await heard_everything(ctx, streams)
    leaked = [text for text in streams["leyla"].bodies() if text.startswith(PENSION)]
    assert leaked == [], f"{len(leaked)} of {rounds} foreign bodies reached another queue"
    assert not any(streams["leyla"].mentions(f"(yazı {i}") for i in range(rounds))
    # Each round's second message (whichever socket won) reached a supervisor; and the
    # queue's agent, who has every round's conversation.
    heard = {text.rsplit(" ", 1)[1][:-2] for text in streams["nigar"].bodies()}
    assert heard == {str(i) for i in range(rounds)}
    assert len([kind for kind, _ in streams["rauf"].events
                if kind == "conversation.created"]) == rounds
