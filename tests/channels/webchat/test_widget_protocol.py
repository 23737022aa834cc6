"""What the chat widget needs of the server (docs/websocket.md): resuming after a message id,
typing both ways, read receipts, the conversation's closing, uploads, the pre-chat contact and
offline mode, and the chat page framed only by allowed sites. Against the real app (SQLite and
PostgreSQL, real Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, time

import pytest

from app import create_app
from channels.webchat.availability import Availability, decide
from channels.webchat.channel import sign_session
from channels.webchat.errors import FrameError
from channels.webchat.protocol import ChatText, Hello, Read, ReplyTo, parse_frame
from channels.webchat.uploads import content_matches, filename_of, sweep_held
from inbox.actions import Actor, agent_typing, reply, set_status
from inbox.live import EVENTS_CHANNEL, channel_name
from routing.sla import BusinessCalendar
from settings import load_config
from tests.channels.webchat.test_channel import GUNEL, PENSION, receive, say_hello
from tests.conftest import TEST_CONFIG
from tests.inbox.test_auth import LEYLA, add_user

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f0a0e1"
                    "0000000049454e44ae426082")
ALWAYS = BusinessCalendar(tz="Asia/Baku", days=frozenset(
    {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}), open=time(0, 0), close=time(23, 59),
    holidays=None)


@pytest.fixture
def config(tmp_path):
    """The test deployment, open all day (availability then turns on agents alone), its media
    under tmp_path, at most 1 KiB a file."""
    loaded = load_config(TEST_CONFIG, env={})
    hours = dataclasses.replace(loaded.business_hours, days=("mon", "tue", "wed", "thu", "fri",
                                                              "sat", "sun"),
                                open=time(0, 0), close=time(23, 59), holidays=None)
    return dataclasses.replace(loaded, business_hours=hours, media=dataclasses.replace(
        loaded.media, directory=str(tmp_path / "media"), max_bytes=1024))


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def leyla(ctx, presence: str = "offline") -> Actor:
    queues = ("call-centre-142",)
    return Actor(id=await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=queues,
                                   presence=presence), role="agent", queues=queues)


async def conversation_of(ctx, message_id: int) -> int:
    async with ctx.store.read() as tx:
        return (await tx.messages.get(message_id))["conversation_id"]


async def frame_of(ws, kind: str) -> dict:
    while True:
        frame = await receive(ws)
        if frame["type"] == kind:
            return frame


async def say(ws, client_id: str, text: str, **fields) -> dict:
    await ws.send_json({"type": "message", "id": client_id, "text": text, **fields})
    return await frame_of(ws, "ack")


async def replayed(client, token: str, after: int | None = None) -> dict[int, dict]:
    """The history a window of the session `token` gets on coming back (a reload, or with
    `after` a reconnect after a lost network), by message id."""
    async with client.ws_connect("/chat/ws") as ws:
        await ws.send_json({"type": "hello", "session": token, "language": "az",
                            "after": after})
        welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return {m["id"]: m for m in welcome["history"]}


# --- pure ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, frame", [
    ('{"type": "hello", "session": "a.b", "after": 41}', Hello("a.b", None, None, 41)),
    ('{"type": "read", "message_id": 7}', Read(7)),
    ('{"type": "message", "id": "c-1", "text": "Salam", '
     '"contact": {"phone": " +994 50 123 45 67 "}}',
     ChatText("c-1", "Salam", reply_to=ReplyTo("+994 50 123 45 67"))),
    ('{"type": "message", "id": "c-1", "text": "Salam", "contact": {"phone": "", "email": null}}',
     ChatText("c-1", "Salam")),
    ('{"type": "message", "id": "c-1", "attachments": ["u1", "u1"]}',
     ChatText("c-1", "", uploads=("u1",))),
])
def test_widget_frames_parse(raw, frame):
    assert parse_frame(raw, max_chars=100) == frame


@pytest.mark.parametrize("raw, code", [
    ('{"type": "hello", "after": "41"}', "bad_message_id"),
    ('{"type": "hello", "after": -1}', "bad_message_id"),
    ('{"type": "read"}', "bad_message_id"),
    ('{"type": "read", "message_id": true}', "bad_message_id"),
    ('{"type": "message", "id": "c", "text": "x", "contact": "050"}', "bad_contact"),
    ('{"type": "message", "id": "c", "text": "x", "contact": {"phone": "call me"}}', "bad_phone"),
    ('{"type": "message", "id": "c", "text": "x", "contact": {"phone": "+1 (2)"}}', "bad_phone"),
    ('{"type": "message", "id": "c", "text": "x", "contact": {"email": "aysel@"}}', "bad_email"),
    ('{"type": "message", "id": "c", "text": "x", "attachments": "u1"}', "bad_attachments"),
    ('{"type": "message", "id": "c", "text": "x", "attachments": [1]}', "bad_attachments"),
    ('{"type": "message", "id": "c", "attachments": []}', "empty_text"),
])
def test_bad_widget_frames_are_refused_with_their_code(raw, code):
    with pytest.raises(FrameError) as refused:
        parse_frame(raw, max_chars=100)
    assert refused.value.code == code


def test_availability_is_closed_outside_business_hours_else_needs_an_agent():
    weekdays = BusinessCalendar(tz="Asia/Baku", days=frozenset({"mon", "tue", "wed", "thu",
                                                                "fri"}),
                                open=time(9), close=time(18), holidays=None)
    saturday_noon = datetime(2026, 12, 5, 8, tzinfo=UTC)      # 12:00 in Baku
    monday_noon = datetime(2026, 12, 7, 8, tzinfo=UTC)
    assert decide(weekdays, saturday_noon, 3) == Availability(False, "closed")
    assert decide(weekdays, monday_noon, 0) == Availability(False, "no_agent")
    assert decide(weekdays, monday_noon, 1) == Availability(True)


def test_an_upload_must_be_what_its_type_says():
    assert content_matches("image/png", PNG)
    assert not content_matches("image/png", b"<html><script>")
    assert not content_matches("image/jpeg", PNG)
    assert content_matches("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert not content_matches("application/pdf", PNG)


def test_an_uploads_name_loses_its_folders_and_control_characters():
    assert filename_of("..%2F..%2Fetc%2Fpasswd", "image/png") == "passwd"
    assert filename_of("C:%5Cphotos%5Cpasport%C4%B1m.jpg", "image/jpeg") == "pasportım.jpg"
    assert filename_of("a%0Ab.png", "image/png") == "ab.png"
    assert filename_of(None, "image/png") == "photo.png"


def test_held_uploads_no_message_claimed_are_swept_after_a_day(tmp_path):
    folder = tmp_path / "webchat-uploads" / "session-1"
    folder.mkdir(parents=True)
    (folder / "u1").write_bytes(PNG)
    (folder / "u1.json").write_text("{}")
    assert sweep_held(tmp_path) == 0
    assert sweep_held(tmp_path, now=datetime.now().timestamp() + 25 * 3600) == 1
    assert not folder.exists()


# --- over a real WebSocket -------------------------------------------------------------------

async def test_a_window_resumes_after_the_last_message_it_showed(client, ctx):
    agent = await leyla(ctx)
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        first = (await say(ws, "c-1", PENSION))["message_id"]
    conversation_id = await conversation_of(ctx, first)
    answer = await reply(ctx, agent, conversation_id, "Salam! Pensiyanız 15-dək köçürüləcək.")
    async with client.ws_connect("/chat/ws") as ws:
        await ws.send_json({"type": "hello", "session": token, "after": first})
        welcome = await frame_of(ws, "welcome")
    assert welcome["after"] == first
    ids = [m["id"] for m in welcome["history"]]
    assert first not in ids and answer["id"] in ids and all(i > first for i in ids)
    assert welcome["conversation"]["id"] == conversation_id
    async with client.ws_connect("/chat/ws") as ws:   # after the latest: nothing to replay
        await ws.send_json({"type": "hello", "session": token, "after": answer["id"]})
        assert (await frame_of(ws, "welcome"))["history"] == []


async def test_typing_goes_to_consoles_and_an_agents_typing_to_the_window(client, ctx):
    redis = ctx.redis
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(channel_name(redis, EVENTS_CHANNEL))
        async with client.ws_connect("/chat/ws") as ws:
            await say_hello(ws)
            await ws.send_json({"type": "typing"})   # no conversation yet: nobody to tell
            message_id = (await say(ws, "c-1", PENSION))["message_id"]
            conversation_id = await conversation_of(ctx, message_id)
            await ws.send_json({"type": "typing"})
            await ws.send_json({"type": "typing"})   # within 2 s of the first: not passed on
            typing = []
            deadline = asyncio.get_running_loop().time() + 3
            while asyncio.get_running_loop().time() < deadline:
                event = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if event and json.loads(event["data"])["type"] == "conversation.typing":
                    typing.append(json.loads(event["data"]))
            assert typing == [{"type": "conversation.typing", "queue": "call-centre-142",
                               "data": {"conversation_id": conversation_id,
                                        "who": "resident"}}]
            await agent_typing(ctx, conversation_id)
            assert await frame_of(ws, "typing") == {"type": "typing", "who": "agent"}


async def test_a_reply_the_window_showed_is_read_and_only_this_sessions(client, ctx):
    agent = await leyla(ctx)
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        message_id = (await say(ws, "c-1", PENSION))["message_id"]
        answer = await reply(ctx, agent, await conversation_of(ctx, message_id), "Salam!")
        async with client.ws_connect("/chat/ws") as other:
            await say_hello(other, name="Başqa")
            other_id = (await say(other, "o-1", "Salam"))["message_id"]
            await other.send_json({"type": "read", "message_id": answer["id"]})
            await other.send_json({"type": "read", "message_id": other_id})   # not a reply
            await asyncio.sleep(0.3)
        async with ctx.store.read() as tx:
            assert (await tx.messages.get(answer["id"]))["delivery_status"] == "queued"
        await ws.send_json({"type": "read", "message_id": answer["id"]})
        for _ in range(30):
            async with ctx.store.read() as tx:
                if (await tx.messages.get(answer["id"]))["delivery_status"] == "read":
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the reply was not marked read")


async def test_the_window_hears_its_conversation_resolved_and_reopened(client, ctx):
    agent = await leyla(ctx)
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        conversation_id = await conversation_of(ctx, (await say(ws, "c-1", PENSION))["message_id"])
        await set_status(ctx, agent, conversation_id, "resolved")
        assert await frame_of(ws, "conversation") == {
            "type": "conversation", "conversation_id": conversation_id, "status": "resolved"}
        await set_status(ctx, agent, conversation_id, "open")
        assert (await frame_of(ws, "conversation"))["status"] == "open"
        await set_status(ctx, agent, conversation_id, "resolved")
        await frame_of(ws, "conversation")
    async with client.ws_connect("/chat/ws") as ws:   # a reload sees it closed
        welcome = await say_hello(ws, session=token)
    assert welcome["conversation"] == {"id": conversation_id, "status": "resolved"}


async def test_a_photo_goes_up_and_becomes_the_messages_attachment(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        response = await client.post("/chat/upload?lang=en", data=PNG, headers={
            "Content-Type": "image/png", "X-Chat-Session": token,
            "X-Filename": "pasport%20%C5%9F%C9%99kli.png"})
        assert response.status == 201
        held = await response.json()
        assert {k: held[k] for k in ("content_type", "filename", "size")} == {
            "content_type": "image/png", "filename": "pasport şəkli.png", "size": len(PNG)}
        ack = await say(ws, "c-1", "Pasportum", attachments=[held["upload"]])
        again = await say(ws, "c-1", "Pasportum", attachments=[held["upload"]])   # a resend
    assert again["message_id"] == ack["message_id"]
    async with ctx.store.read() as tx:
        message = await tx.messages.get(ack["message_id"])
    [attachment] = message["attachments"]
    assert (attachment["content_type"], attachment["filename"], attachment["size"],
            attachment["url"]) == ("image/png", "pasport şəkli.png", len(PNG),
                                   f"/api/v1/messages/{ack['message_id']}/attachments/0")
    assert (ctx.media_dir / attachment["stored"]).read_bytes() == PNG
    assert not any((ctx.media_dir / "webchat-uploads").rglob("*.json"))   # left the hold


async def test_an_upload_arriving_in_many_pieces_is_held_whole(client, ctx):
    # A phone on a slow network sends a PDF in pieces: the whole file is held, not the first.
    pdf = b"%PDF-1.7\n" + bytes(range(200)) * 4 + b"\n%%EOF\n"
    assert len(pdf) <= 1024   # this module's media limit

    async def pieces():
        for start in range(0, len(pdf), 100):
            yield pdf[start:start + 100]
            await asyncio.sleep(0.02)

    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        response = await client.post("/chat/upload?lang=az", data=pieces(), headers={
            "Content-Type": "application/pdf", "X-Chat-Session": token,
            "X-Filename": "arayis.pdf"})
        assert response.status == 201, await response.text()
        held = await response.json()
        assert held["size"] == len(pdf)
        ack = await say(ws, "c-1", "Arayış əlavədədir", attachments=[held["upload"]])
    async with ctx.store.read() as tx:
        [attachment] = (await tx.messages.get(ack["message_id"]))["attachments"]
    assert (ctx.media_dir / attachment["stored"]).read_bytes() == pdf


@pytest.mark.parametrize("body, content_type, status, code", [
    (PNG, "text/html", 415, "upload_bad_type"),
    (b"<html></html>", "image/png", 415, "upload_bad_type"),
    (b"%PDF-" + b"x" * 1100, "application/pdf", 413, "upload_too_large"),
    (b"", "image/png", 415, "upload_bad_type"),
])
async def test_an_upload_outside_the_media_limits_is_refused_in_the_residents_language(
        client, body, content_type, status, code):
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
    response = await client.post("/chat/upload?lang=ru", data=body, headers={
        "Content-Type": content_type, "X-Chat-Session": token})
    assert response.status == status
    refused = await response.json()
    assert refused["code"] == code
    assert refused["error"] in {"Файл слишком большой: не более 1 МБ.",
                                "Этот тип файла не принимается. Отправьте фотографию или PDF."}


async def test_an_upload_needs_the_sessions_token_and_a_message_its_own_uploads(client):
    response = await client.post("/chat/upload", data=PNG, headers={
        "Content-Type": "image/png", "X-Chat-Session": sign_session(b"other", "x")})
    assert (response.status, (await response.json())["code"]) == (403, "bad_session")
    async with client.ws_connect("/chat/ws") as ws:
        theirs = (await say_hello(ws))["session"]
    held = await (await client.post("/chat/upload", data=PNG, headers={
        "Content-Type": "image/png", "X-Chat-Session": theirs})).json()
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        await ws.send_json({"type": "message", "id": "c-1", "text": "Bu mənimdir",
                            "attachments": [held["upload"]]})
        error = await frame_of(ws, "error")
    assert (error["code"], error["id"]) == ("upload_unknown", "c-1")


async def test_offline_the_message_keeps_where_the_answer_should_go(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
        assert welcome["availability"] == {"online": False, "reason": "no_agent"}
        ack = await say(ws, "c-1", PENSION, name=GUNEL,
                        contact={"phone": "+994 50 123 45 67", "email": "gunel@example.az"})
        bare = await say(ws, "c-2", "Və bir sual da")   # nothing written is lost
    async with ctx.store.read() as tx:
        assert (await tx.messages.get(ack["message_id"]))["extra"] == {"offline": "no_agent"}
        assert (await tx.messages.get(bare["message_id"]))["extra"] == {"offline": "no_agent"}
        session = welcome["session"].split(".", 1)[0]
        kept = (await tx.contacts.identity("webchat", session))["reply_to"]
    # Where the answer should go is the resident's, kept on their identity (normalised).
    assert {k: kept[k] for k in ("phone", "email")} == {"phone": "+994501234567",
                                                        "email": "gunel@example.az"}


async def test_with_an_agent_online_the_chat_is_online(client, ctx):
    await leyla(ctx, presence="online")
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
        ack = await say(ws, "c-1", PENSION)
    assert welcome["availability"] == {"online": True, "reason": None}
    async with ctx.store.read() as tx:
        assert (await tx.messages.get(ack["message_id"]))["extra"] is None


async def test_only_allowed_sites_may_frame_the_chat(client):
    response = await client.get("/chat?embed=1")
    assert response.headers["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://reintegration.gov.az https://e-sosial.az")
    script = await (await client.get("/chat/widget.js")).text()
    assert '["https://reintegration.gov.az", "https://e-sosial.az"]' in script
    assert '"open_chat": "Open the chat"' in script


async def test_a_socket_from_a_site_not_allowed_is_refused(client):
    with pytest.raises(Exception) as refused:
        await client.ws_connect("/chat/ws", headers={"Origin": "https://evil.example"})
    assert getattr(refused.value, "status", None) == 403
