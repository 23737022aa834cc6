"""Web chat: the pure frame parser, session tokens and error catalogue, then the WebSocket
protocol of docs/websocket.md against the real app (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

import asyncio
import re
import string
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

import channels.webchat.channel as webchat
from app import create_app
from channels.delivery import deliver_message
from channels.webchat.channel import (
    ChatText,
    FrameError,
    Hello,
    Typing,
    parse_frame,
    sign_session,
    verify_session,
)
from channels.webchat.errors import catalogue
from inbox.actions import Actor, reply
from inbox.port import ChannelPort
from inbox.storage.records import as_rows
from inbox.storage.schema import messages
from settings import load_config
from tests.conftest import TEST_CONFIG
from tests.inbox.test_auth import LEYLA, add_user

SECRET = b"test-secret-key"            # what the `environment` fixture puts in SECRET_KEY
GUNEL = "Günel Əliyeva"
PENSION = "Salam, bu ay pensiyam gəlməyib. Nə vaxt köçürüləcək?"
RESIDENT_VIEW = {"id", "direction", "body", "attachments", "created_at", "author",
                 "delivery_status"}


# --- parse_frame ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, error", [
    ("Salam", "the frame is not JSON"),
    ("", "the frame is not JSON"),
    ('{"type": "message", "id": "c-1", "text": "Salam"', "the frame is not JSON"),
    ('["message", "c-1", "Salam"]', "the frame must be a JSON object"),
    ('"hello"', "the frame must be a JSON object"),
    ("null", "the frame must be a JSON object"),
    ('{"type": "bye"}', "unknown frame type 'bye'"),
    ('{"text": "Salam"}', "unknown frame type None"),
    ('{"type": "message", "text": "Salam"}', "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": "", "text": "Salam"}',
     "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": "' + "x" * 101 + '", "text": "Salam"}',
     "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": true, "text": "Salam"}',
     "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": 1.5, "text": "Salam"}',
     "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": ["c-1"], "text": "Salam"}',
     "id must be a string of 1 to 100 characters"),
    ('{"type": "message", "id": "c-1"}', "text must be a non-empty string"),
    ('{"type": "message", "id": "c-1", "text": ""}', "text must be a non-empty string"),
    ('{"type": "message", "id": "c-1", "text": " \\n\\t "}', "text must be a non-empty string"),
    ('{"type": "message", "id": "c-1", "text": 142}', "text must be a non-empty string"),
    ('{"type": "message", "id": "c-1", "text": "Здравствуйте!"}',
     "Your message is longer than 10 characters. Please shorten it."),
    ('{"type": "hello", "session": null, "language": "tr"}', "language must be one of az, ru, en"),
    ('{"type": "hello", "session": null, "language": "AZ"}', "language must be one of az, ru, en"),
    ('{"type": "hello", "session": 42}', "session must be a string or null"),
    ('{"type": "hello", "session": null, "name": 7}',
     "name must be a string of at most 200 characters"),
    ('{"type": "hello", "session": null, "name": "' + "Ə" * 201 + '"}',
     "name must be a string of at most 200 characters"),
    ('{"type": "message", "id": "c-1", "text": "Salam", "name": ["Günel"]}',
     "name must be a string of at most 200 characters"),
    ('{"type": "message", "id": "c-1", "text": "Salam", "name": "' + "Ə" * 201 + '"}',
     "name must be a string of at most 200 characters"),
])
def test_parse_frame_rejects(raw, error):
    with pytest.raises(FrameError) as exc:
        parse_frame(raw, max_chars=10)
    assert str(exc.value) == error


@pytest.mark.parametrize("raw, frame", [
    ('{"type": "hello", "session": null, "name": "  Günel Əliyeva ", "language": "az"}',
     Hello(None, GUNEL, "az")),
    ('{"type": "hello", "session": "", "name": "   "}', Hello(None, None, None)),
    ('{"type": "hello", "session": "abc.def", "language": "ru"}', Hello("abc.def", None, "ru")),
    ('{"type": "message", "id": 17, "text": "Salam!"}', ChatText("17", "Salam!")),
    ('{"type": "message", "id": "c-1", "text": "Привет, я"}', ChatText("c-1", "Привет, я")),
    ('{"type": "message", "id": "c-1", "text": "0123456789"}', ChatText("c-1", "0123456789")),
    ('{"type": "message", "id": "c-1", "text": "Salam", "name": " Günel Əliyeva "}',
     ChatText("c-1", "Salam", GUNEL)),
    ('{"type": "message", "id": "c-1", "text": "Salam", "name": null}',
     ChatText("c-1", "Salam")),
    ('{"type": "typing"}', Typing()),
])
def test_parse_frame_accepts(raw, frame):
    assert parse_frame(raw, max_chars=10) == frame


# --- session tokens ---------------------------------------------------------------------------

def test_a_signed_session_verifies_to_its_id():
    token = sign_session(SECRET, "k3Yq0sZ1")
    assert token.startswith("k3Yq0sZ1.")
    assert verify_session(SECRET, token) == "k3Yq0sZ1"


@pytest.mark.parametrize("token", [
    None, "", "k3Yq0sZ1", "k3Yq0sZ1.", "k3Yq0sZ1.not-the-mac",
    sign_session(SECRET, "k3Yq0sZ1")[:-1] + "A",              # one character of the mac off
    "another" + sign_session(SECRET, "k3Yq0sZ1")[8:],          # another id with that mac
    sign_session(b"some-other-deployment", "k3Yq0sZ1"),        # signed elsewhere
], ids=["none", "empty", "no-mac", "empty-mac", "garbage-mac", "flipped", "swapped-id",
        "other-secret"])
def test_a_tampered_or_foreign_token_is_rejected(token):
    assert verify_session(SECRET, token) is None


def test_a_non_ascii_token_is_rejected_not_raised():
    assert verify_session(SECRET, "k3Yq0sZ1.şəki") is None


# --- the error catalogue -------------------------------------------------------------------

def test_every_error_exists_in_az_ru_and_en_with_the_same_blanks():
    blanks = string.Formatter()
    for code, texts in catalogue().items():
        assert set(texts) == {"az", "ru", "en"}, code
        named = {language: {name for _, name, _, _ in blanks.parse(text) if name}
                 for language, text in texts.items()}
        assert named["az"] == named["ru"] == named["en"], code


def test_every_error_the_chat_raises_is_in_the_catalogue():
    source = "".join(path.read_text(encoding="utf-8")
                     for path in Path(webchat.__file__).parent.glob("*.py"))
    raised = set(re.findall(r'(?:FrameError|error_frame|refusal)\((?:\d+, )?"([a-z_]+)"',
                            source))
    assert raised and raised <= set(catalogue())


# --- over a real WebSocket --------------------------------------------------------------------

@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def receive(ws) -> dict:
    return await ws.receive_json(timeout=5)


async def say_hello(ws, session: str | None = None, name: str | None = GUNEL,
                    language: str = "az") -> dict:
    await ws.send_json({"type": "hello", "session": session, "name": name,
                        "language": language})
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return welcome


async def send_text(ws, client_id: str, text: str) -> dict:
    await ws.send_json({"type": "message", "id": client_id, "text": text})
    return await receive(ws)


async def inbound_rows(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        return as_rows(await tx.conn.execute(
            select(messages).where(messages.c.direction == "in").order_by(messages.c.id)))


async def test_hello_without_a_session_gets_a_signed_one_and_no_history(client):
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
    assert set(welcome) == {"type", "session", "history", "conversation", "availability",
                            "prechat"}
    assert verify_session(SECRET, welcome["session"]) is not None
    assert welcome["history"] == []
    assert welcome["conversation"] is None
    assert welcome["prechat"] == {"contact_required": False, "privacy_url": None}


async def test_a_message_is_acknowledged_once_stored(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        session = verify_session(SECRET, (await say_hello(ws))["session"])
        ack = await send_text(ws, "c-1", f"  {PENSION}  ")
    assert ack == {"type": "ack", "id": "c-1", "message_id": ack["message_id"]}
    [row] = await inbound_rows(ctx)
    assert (row["id"], row["channel"], row["body"], row["external_id"], row["author_kind"],
            row["delivery_status"]) == (ack["message_id"], "webchat", PENSION,
                                        f"{session}:c-1", "resident", "received")
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(row["conversation_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
        contact = await tx.contacts.get(conversation["contact_id"])
    assert (identity["channel"], identity["address"]) == ("webchat", session)
    assert (contact["name"], contact["language"]) == (GUNEL, "az")
    assert conversation["queue"] == "call-centre-142"     # the pension keyword rule


async def test_a_new_session_reads_nothing_until_it_has_a_conversation(client, monkeypatch):
    """A session minted at this hello has no history and no conversation to look up; a
    resumed one's are read (its history at hello, its conversation at its first message)."""
    reads: list[str] = []
    for name in ("history", "has_open_conversation"):
        original = getattr(ChannelPort, name)

        def spy(self, *args, _name=name, _original=original):
            reads.append(_name)
            return _original(self, *args)
        monkeypatch.setattr(ChannelPort, name, spy)
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        assert (await send_text(ws, "c-1", PENSION))["type"] == "ack"
        assert (await send_text(ws, "c-2", "Nə vaxt?"))["type"] == "ack"
    assert reads == []
    async with client.ws_connect("/chat/ws") as ws:
        assert len((await say_hello(ws, session=token))["history"]) >= 2
        assert (await send_text(ws, "c-3", "Salam yenə"))["type"] == "ack"
        assert (await send_text(ws, "c-4", "Gözləyirəm"))["type"] == "ack"
    assert reads == ["history", "has_open_conversation"]


async def test_a_name_typed_after_hello_reaches_the_contact(client, ctx):
    """The chat window says hello as it opens, before the resident has typed a name; the
    name typed by a later message fills the contact's empty name, and is not a new one's."""
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws, name=None)
        first = await send_text(ws, "c-1", "Salam")
        await ws.send_json({"type": "message", "id": "c-2", "text": PENSION,
                            "name": f" {GUNEL} "})
        assert (await receive(ws))["type"] == "ack"
        await ws.send_json({"type": "message", "id": "c-3", "text": "Təşəkkürlər",
                            "name": "Başqa Ad"})
        assert (await receive(ws))["type"] == "ack"
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(
            (await tx.messages.get(first["message_id"]))["conversation_id"])
        contact = await tx.contacts.get(conversation["contact_id"])
    assert contact["name"] == GUNEL


async def test_the_same_client_id_again_is_stored_once(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        first = await send_text(ws, "c-1", PENSION)
        # The browser lost the ack and sends again, even with the text edited.
        again = await send_text(ws, "c-1", PENSION + " Təcili!")
        other = await send_text(ws, "c-2", "Cavab gözləyirəm.")
    assert again == first
    assert other["message_id"] != first["message_id"]
    # Client ids are per session: another resident's "c-1" is another message.
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws, name="Иван Петров", language="ru")
        stranger = await send_text(ws, "c-1", "Здравствуйте, где мой паспорт?")
    assert [(r["id"], r["body"]) for r in await inbound_rows(ctx)] == [
        (first["message_id"], PENSION), (other["message_id"], "Cavab gözləyirəm."),
        (stranger["message_id"], "Здравствуйте, где мой паспорт?")]


async def test_bad_frames_get_an_error_and_the_socket_keeps_working(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        await ws.send_str("Salam")
        assert await receive(ws) == {"type": "error", "code": "not_json",
                                     "error": "Çərçivə JSON deyil"}
        await ws.send_json({"type": "message", "id": "c-1", "text": "   "})
        assert await receive(ws) == {"type": "error", "code": "empty_text",
                                     "error": "Mesajın mətni boş ola bilməz", "id": "c-1"}
        # Even a well-formed frame is refused when it comes as binary.
        await ws.send_bytes(b'{"type": "message", "id": "c-9", "text": "Salam"}')
        assert await receive(ws) == {"type": "error", "code": "binary",
                                     "error": "İkili (binary) çərçivələr qəbul edilmir"}
        await ws.send_json({"type": "typing"})             # answered by nothing
        ack = await send_text(ws, "c-2", PENSION)
        assert ack["type"] == "ack" and ack["id"] == "c-2"
    assert [r["external_id"].split(":")[1] for r in await inbound_rows(ctx)] == ["c-2"]


async def test_a_message_before_hello_is_refused(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        error = await send_text(ws, "c-1", PENSION)
        assert error == {"type": "error", "code": "hello_first",
                         "error": "Əvvəlcə hello çərçivəsi göndərin", "id": "c-1"}
        await say_hello(ws)                                  # still usable afterwards
    # Before its hello, a window speaks its page's language, else the browser's.
    async with client.ws_connect("/chat/ws?lang=en") as ws:
        error = await send_text(ws, "c-1", PENSION)
        assert error["error"] == "say hello first"
    async with client.ws_connect("/chat/ws",
                                 headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}) as ws:
        error = await send_text(ws, "c-1", PENSION)
        assert error["error"] == "Сначала отправьте кадр hello"
    assert await inbound_rows(ctx) == []


@pytest.mark.parametrize("language, message", [
    ("az", "Mesajınız {limit} simvoldan uzundur. Zəhmət olmasa, onu qısaldın."),
    ("ru", "Ваше сообщение длиннее {limit} символов. Пожалуйста, сократите его."),
    ("en", "Your message is longer than {limit} characters. Please shorten it."),
])
async def test_a_text_over_the_limit_is_refused_in_the_sessions_language(client, ctx, config,
                                                                         language, message):
    limit = config.channels.webchat.max_message_chars
    # The browser's language is not the one the resident chose in the chat.
    async with client.ws_connect("/chat/ws", headers={"Accept-Language": "en-GB,en"}) as ws:
        await say_hello(ws, language=language)
        error = await send_text(ws, "long-1", "ə" * (limit + 1))
        assert error == {"type": "error", "code": "too_long", "id": "long-1",
                         "error": message.format(limit=limit)}
        ack = await send_text(ws, "ok-1", "ə" * limit)
        assert ack["type"] == "ack"
    assert [len(r["body"]) for r in await inbound_rows(ctx)] == [limit]


async def test_an_unknown_or_forged_token_starts_a_new_session(client):
    for forged in ["k3Yq0sZ1.bm90LWEtbWFj", sign_session(b"elsewhere", "k3Yq")]:
        async with client.ws_connect("/chat/ws") as ws:
            welcome = await say_hello(ws, session=forged)
        assert welcome["session"] != forged
        assert verify_session(SECRET, welcome["session"]) not in (None, "k3Yq0sZ1", "k3Yq")
        assert welcome["history"] == []


async def test_a_non_ascii_token_starts_a_new_session(client):
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws, session="k3Yq0sZ1.şəki")
    assert verify_session(SECRET, welcome["session"]) is not None


async def test_reconnecting_replays_the_history_without_internal_notes(client, ctx):
    leyla = Actor(id=await add_user(ctx, LEYLA, name="Leyla Məmmədova",
                                    queues=("call-centre-142",)),
                  role="agent", queues=("call-centre-142",))
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        ack = await send_text(ws, "c-1", PENSION)
    async with ctx.store.read() as tx:
        conversation_id = (await tx.messages.get(ack["message_id"]))["conversation_id"]
    await reply(ctx, leyla, conversation_id, "Sakinin pensiya işi DSMF-dədir", private=True)
    answer = await reply(ctx, leyla, conversation_id,
                         "Salam! Pensiyanız 15-dək köçürüləcək.")
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws, session=token)
    assert welcome["session"] == token
    history = welcome["history"]
    assert all(set(m) == RESIDENT_VIEW for m in history)
    assert [(m["direction"], m["author"]) for m in history] == [
        ("in", {"kind": "resident"}), ("out", {"kind": "system"}), ("out", {"kind": "agent"})]
    resident, acknowledgement, agent = history
    assert (resident["id"], resident["body"]) == (ack["message_id"], PENSION)
    assert acknowledgement["body"].startswith(f"Hörmətli {GUNEL}, müraciətiniz qəbul edildi "
                                              f"(№ {conversation_id})")
    assert (agent["id"], agent["body"], agent["delivery_status"]) == (
        answer["id"], "Salam! Pensiyanız 15-dək köçürüləcək.", "queued")
    assert "DSMF" not in str(history)


async def test_an_agent_reply_reaches_the_open_socket_and_is_marked_delivered(client, ctx):
    leyla = Actor(id=await add_user(ctx, LEYLA, name="Leyla Məmmədova",
                                    queues=("call-centre-142",)),
                  role="agent", queues=("call-centre-142",))
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await send_text(ws, "c-1", PENSION)
        async with ctx.store.read() as tx:
            conversation_id = (await tx.messages.get(ack["message_id"]))["conversation_id"]
        answer = await reply(ctx, leyla, conversation_id, "Salam! Pensiyanız 15-dək köçürüləcək.")
        assert await deliver_message(ctx, answer["id"]) == "sent"
        frame = await receive(ws)
        assert frame == {"type": "message", "message": {
            "id": answer["id"], "direction": "out",
            "body": "Salam! Pensiyanız 15-dək köçürüləcək.", "attachments": [],
            "created_at": answer["created_at"].astimezone(ctx.zone).isoformat(),
            "author": {"kind": "agent"}, "delivery_status": "sent"}}
        for _ in range(100):                          # up to 5 s on a busy machine
            async with ctx.store.read() as tx:
                status = (await tx.messages.get(answer["id"]))["delivery_status"]
            if status == "delivered":
                break
            await asyncio.sleep(0.05)
    assert status == "delivered"


async def test_an_origin_not_allowed_is_refused_before_the_upgrade(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/chat/ws", headers={"Origin": "https://evil.example.com"})
    assert refused.value.status == 403
    for origin in ("https://reintegration.gov.az", "https://e-sosial.az",
                   "http://127.0.0.1:8080"):                       # the public URL itself
        async with client.ws_connect("/chat/ws", headers={"Origin": origin}) as ws:
            await say_hello(ws)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_chat_page_and_the_widget(aiohttp_client, environment):
    config = load_config(TEST_CONFIG, env={"PUBLIC_URL": "https://chat.example.gov.az/"})
    client = await aiohttp_client(create_app(config))
    response = await client.get("/chat?lang=ru")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert '<html lang="ru">' in page and 'href="/static/chat.css"' in page
    response = await client.get("/chat?lang=<script>")
    assert '<html lang="az">' in await response.text()
    # Not told a language, the page speaks the browser's, if it is one of the chat's.
    for accept, language in [("ru-RU,ru;q=0.9", "ru"), ("en-US,en;q=0.9,az;q=0.8", "en"),
                             ("de-DE,de;q=0.9,ru;q=0.5", "ru"), ("de-DE,de;q=0.9", "az"),
                             ("fr;q=0.9, ru;q=0, az;q=0.1", "az")]:
        response = await client.get("/chat", headers={"Accept-Language": accept})
        assert f'<html lang="{language}">' in await response.text(), accept
        assert response.headers["Vary"] == "Accept-Language"
    response = await client.get("/chat?lang=az", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert '<html lang="az">' in await response.text()
    response = await client.get("/chat/widget.js")
    assert response.status == 200 and response.content_type == "application/javascript"
    assert 'var chatUrl = "https://chat.example.gov.az/chat";' in await response.text()
