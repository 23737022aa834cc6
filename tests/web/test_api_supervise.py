"""Supervising through /api/v1: watching a colleague's conversation read-only, whispers (notes
only agents and supervisors see, announced to the assignee), taking over; and who may do
each, on the real app (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

import asyncio
import json

import pytest
from rq import Queue

from inbox.jobs import DELIVERY_QUEUE
from inbox.live import publish_console_event
from tests.channels.webchat.test_channel import receive, say_hello, send_text
from tests.web.test_api import client as client  # a fixture, used by name
from tests.web.test_api import delivery_jobs, error_of, seed, stored
from tests.web.test_api import people as people  # a fixture, used by name

SUPPORT_RU = "Здравствуйте! Вопрос по реадмиссии: паспорт утерян, что делать?"
WHISPER = "Leyla xanım, sakinə arayışın DOST mərkəzindən alınacağını deyin."
PENSION = "Salam, bu ay pensiyam gəlməyib. FİN: 5ZK2QJ7"
SENTINEL = "agent.updated"


async def leylas(ctx, people, channel: str = "webchat", address: str | None = None):
    """A migration-support conversation Leyla is answering."""
    return await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                      category="support", language="ru", status="open", channel=channel,
                      assignee=people["leyla"].id, phone=address)


async def whisper(client, conversation_id: int, person, body: str = WHISPER):
    return await client.post(f"/api/v1/conversations/{conversation_id}/whisper",
                             json={"body": body}, headers=person.headers)


async def test_a_supervisors_whisper_is_a_note_only_consoles_see(client, ctx, people):
    c = await leylas(ctx, people)
    response = await whisper(client, c.id, people["nigar"])
    assert response.status == 201, await response.text()
    note = await response.json()
    assert (note["direction"], note["whisper"], note["body"], note["delivery_status"],
            note["author"]) == ("note", True, WHISPER, None,
                                {"kind": "agent", "id": people["nigar"].id})
    # Nothing is queued for any channel.
    assert delivery_jobs(ctx) == []
    assert Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).job_ids == []
    conversation, rows, types = await stored(ctx, c.id)
    assert [(r["direction"], r["delivery_status"]) for r in rows] == [
        ("in", "received"), ("note", "received")]
    assert types[-1] == "noted"
    assert conversation["assignee_id"] == people["leyla"].id   # still Leyla's
    # The assigned agent reads it, marked as a whisper; an ordinary note is not one.
    detail = await (await client.get(f"/api/v1/conversations/{c.id}",
                                     headers=people["leyla"].headers)).json()
    [shown] = [m for m in detail["messages"] if m["direction"] == "note"]
    assert shown["whisper"] is True and shown["body"] == WHISPER
    plain = await client.post(f"/api/v1/conversations/{c.id}/messages",
                              json={"body": "Yoxladım.", "private": True},
                              headers=people["leyla"].headers)
    assert (await plain.json())["whisper"] is False


@pytest.mark.parametrize("who", ["leyla", "rauf"])
async def test_an_agent_cannot_whisper_even_in_their_own_queue(client, ctx, people, who):
    c = await leylas(ctx, people)
    response = await whisper(client, c.id, people[who])
    assert response.status == 403
    body = await response.json()
    error_of(body)
    assert body["code"] == "supervisors_only"
    _, rows, types = await stored(ctx, c.id)
    assert [r["direction"] for r in rows] == ["in"] and "noted" not in types


async def test_an_agent_cannot_open_another_queues_conversation(client, ctx, people):
    """Rauf works the 142 line: Leyla's migration conversation is not his to read, live or not."""
    c = await leylas(ctx, people)
    rauf = people["rauf"]
    for method, path in (("GET", f"/api/v1/conversations/{c.id}"),
                         ("POST", f"/api/v1/conversations/{c.id}/typing"),
                         ("POST", f"/api/v1/conversations/{c.id}/take-over")):
        response = await client.request(method, path, headers=rauf.headers)
        assert response.status == 403, (path, await response.text())
    # The supervisor may open it.
    response = await client.get(f"/api/v1/conversations/{c.id}", headers=people["nigar"].headers)
    assert response.status == 200


@pytest.mark.parametrize("what", [{"body": ""}, {"body": 7}, {}, {"body": "x" * 10_001}])
async def test_a_bad_whisper_is_a_4xx_and_stores_nothing(client, ctx, people, what):
    c = await leylas(ctx, people)
    response = await client.post(f"/api/v1/conversations/{c.id}/whisper", json=what,
                                 headers=people["nigar"].headers)
    assert 400 <= response.status < 500
    error_of(await response.json())
    _, rows, _ = await stored(ctx, c.id)
    assert len(rows) == 1


async def test_a_supervisor_watching_may_not_answer_until_they_take_over(client, ctx, people):
    c = await leylas(ctx, people)
    nigar = people["nigar"]
    reply = {"body": "Здравствуйте, Иван! Отвечу я."}
    refused = await client.post(f"/api/v1/conversations/{c.id}/messages", json=reply,
                                headers=nigar.headers)
    assert refused.status == 409
    assert (await refused.json())["code"] == "take_over_first"
    typing = await client.post(f"/api/v1/conversations/{c.id}/typing", headers=nigar.headers)
    assert typing.status == 409
    _, rows, _ = await stored(ctx, c.id)
    assert [r["direction"] for r in rows] == ["in"]
    assert delivery_jobs(ctx) == []
    # An agent cannot take over; the supervisor can, and may answer then.
    assert (await client.post(f"/api/v1/conversations/{c.id}/take-over",
                              headers=people["leyla"].headers)).status == 403
    taken = await client.post(f"/api/v1/conversations/{c.id}/take-over", headers=nigar.headers)
    assert taken.status == 200, await taken.text()
    assert (await taken.json())["assignee"] == nigar.id
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["assignee_id"] == nigar.id and types[-1] == "assigned"
    detail = await (await client.get(f"/api/v1/conversations/{c.id}",
                                     headers=nigar.headers)).json()
    assert detail["events"][-1]["data"]["reason"] == "taken over"
    answered = await client.post(f"/api/v1/conversations/{c.id}/messages", json=reply,
                                 headers=nigar.headers)
    assert answered.status == 201
    # Taking over one's own conversation again changes nothing.
    again = await client.post(f"/api/v1/conversations/{c.id}/take-over", headers=nigar.headers)
    assert again.status == 200
    assert (await stored(ctx, c.id))[2] == [*types, "replied"]


async def test_a_supervisor_reassigns_a_watched_conversation(client, ctx, people):
    c = await leylas(ctx, people)
    unassigned = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                   json={"agent_id": None}, headers=people["nigar"].headers)
    assert unassigned.status == 200
    moved = await client.post(f"/api/v1/conversations/{c.id}/assign",
                              json={"agent_id": people["rauf"].id, "queue": "call-centre-142"},
                              headers=people["nigar"].headers)
    assert moved.status == 200, await moved.text()
    assert ((await moved.json())["assignee"], (await moved.json())["queue"]) == (
        people["rauf"].id, "call-centre-142")


async def _events(client, person, seen: list[tuple[str, dict]], ready: asyncio.Event) -> None:
    """Reads `person`'s event stream into `seen` until the sentinel event arrives."""
    async with client.get("/api/v1/stream", headers=person.headers) as response:
        event = None
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line == ": connected":
                ready.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                seen.append((event, json.loads(line[6:])))
                if event == SENTINEL:
                    return


async def test_the_whisper_event_reaches_only_those_who_may_see_it(client, ctx, people):
    c = await leylas(ctx, people)
    streams = {}
    for name in ("leyla", "rauf", "nigar"):
        seen: list[tuple[str, dict]] = []
        ready = asyncio.Event()
        task = asyncio.create_task(_events(client, people[name], seen, ready))
        await asyncio.wait_for(ready.wait(), 5)
        streams[name] = (seen, task)
    response = await whisper(client, c.id, people["nigar"])
    note = await response.json()
    # An event every console hears marks the end: whatever Rauf was to get is before it.
    await publish_console_event(ctx.redis, SENTINEL, {"agent_id": 0, "presence": "online"})
    for _, task in streams.values():
        await asyncio.wait_for(task, 5)
    expected = {"conversation_id": c.id, "message_id": note["id"],
                "assignee": people["leyla"].id, "author": people["nigar"].id, "body": WHISPER}
    for name in ("leyla", "nigar"):
        seen = streams[name][0]
        assert ("conversation.whisper", expected) in seen, name
        assert any(e == "message.created" and d["message"]["whisper"] for e, d in seen)
    assert [e for e, _ in streams["rauf"][0]] == [SENTINEL]


async def test_a_whisper_never_reaches_the_residents_chat_window(client, ctx, people):
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
        ack = await send_text(ws, "c-1", PENSION)
        async with ctx.store.read() as tx:
            conversation_id = (await tx.messages.get(ack["message_id"]))["conversation_id"]
        # Whatever answered automatically is read first.
        while True:
            try:
                await ws.receive_json(timeout=1)
            except TimeoutError:
                break
        nigar = people["nigar"]
        assert (await whisper(client, conversation_id, nigar)).status == 201
        note = await client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                 json={"body": "Daxili qeyd: FİN yoxlanıldı.", "private": True},
                                 headers=nigar.headers)
        assert note.status == 201
        # The next frame the window gets is the typing signal, not the notes before it.
        assert (await client.post(f"/api/v1/conversations/{conversation_id}/take-over",
                                  headers=nigar.headers)).status == 200
        await client.post(f"/api/v1/conversations/{conversation_id}/typing",
                          headers=nigar.headers)
        assert await receive(ws) == {"type": "typing", "who": "agent"}
    # A window opened again replays the history without them.
    async with client.ws_connect("/chat/ws") as ws:
        history = (await say_hello(ws, session=welcome["session"]))["history"]
    assert history and all(m["direction"] != "note" for m in history)
    assert WHISPER not in json.dumps(history, ensure_ascii=False)
