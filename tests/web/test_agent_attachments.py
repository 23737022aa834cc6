"""An agent's files to residents: `POST /api/v1/conversations/{id}/uploads`, then a reply that
names them, sent by the delivery job on each channel that carries files, against the fake
Twilio (the MediaUrl form fields, each fetched from the app by its signed link as Twilio
does), the fake Telegram Bot API (multipart sendPhoto / sendDocument), a real SMTP server
(aiosmtpd: the MIME attachment) and the resident's chat socket; and every bad upload a 4xx
with its code, storing nothing. On SQLite and PostgreSQL, real Redis."""

from __future__ import annotations

import io
import time
from urllib.parse import quote, urlsplit

import pytest

from app import create_app
from channels.delivery import deliver_message
from inbox import media_links
from settings import load_config_text
from tests.channels import fake_twilio as twilio
from tests.channels.email.mail_server import MailServer
from tests.channels.telegram import conftest as telegram_fixtures
from tests.channels.webchat.test_channel import say_hello, send_text
from tests.conftest import TEST_CONFIG, with_test_channels
from tests.web import test_api
from tests.web.test_api import seed, stored

ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BAKU_PHONE = "+994501234567"
US_PHONE = "+12025550143"
TELEGRAM_CHAT = "512345678"
# A scanned residence certificate and a photo of a passport page, as an agent's browser
# uploads them; and a program renamed to look like a PDF.
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n" + b"arayis" * 200
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x42" * 3000 + b"\xff\xd9"
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
ANSWER = "Salam, Günel xanım! Arayışınız əlavədədir."

people = test_api.people                     # fixtures of the API's and Telegram's tests
fake_telegram = telegram_fixtures.fake_telegram


def config_text(media_dir, mailbox: str = "") -> str:
    text = TEST_CONFIG.read_text().replace("  telegram: {enabled: false}",
                                           "  telegram: {enabled: true}")
    text = text.replace("directory: var/media", f"directory: {media_dir}")
    return text.replace("    mailboxes: []\n", mailbox) if mailbox else text


@pytest.fixture
def config(tmp_path, environment):
    return load_config_text(config_text(tmp_path / "media"), env={})


@pytest.fixture
async def client(aiohttp_client, environment, config, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(with_test_channels(create_app(config)))


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch, client):
    fake = await twilio.serve(aiohttp_server, monkeypatch, ACCOUNT_SID, AUTH_TOKEN)

    async def fetch(url: str) -> tuple[int, str, bytes]:
        # Twilio would GET the public URL; here the app under test answers on its own port.
        parts = urlsplit(url)
        response = await client.get(f"{parts.path}?{parts.query}")
        return response.status, response.content_type, await response.read()

    fake.fetch_media = fetch
    return fake


async def upload(client, person, conversation_id: int, body: bytes, name: str,
                 declared: str = "application/octet-stream", query: str = ""):
    return await client.post(f"/api/v1/conversations/{conversation_id}/uploads{query}",
                             data=io.BytesIO(body),
                             headers={**person.headers, "Content-Type": declared,
                                                 "X-Filename": quote(name)})


async def uploaded(client, person, conversation_id: int, body: bytes, name: str) -> str:
    response = await upload(client, person, conversation_id, body, name)
    assert response.status == 201, await response.text()
    return (await response.json())["upload"]


async def reply_with(client, person, conversation_id: int, uploads: list[str],
                     body: str = ANSWER) -> dict:
    response = await client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                 json={"body": body, "attachments": uploads},
                                 headers=person.headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def conversation_on(ctx, people, channel: str, address: str) -> int:
    seeded = await seed(ctx, queue="call-centre-142", text="Salam, arayış lazımdır.",
                        name="Günel Əliyeva", channel=channel, status="open",
                        assignee=people["rauf"].id, phone=address)
    return seeded.id


# --- WhatsApp and SMS through Twilio ----------------------------------------------------------


async def test_a_whatsapp_reply_carries_the_file_by_a_signed_media_url(client, ctx, people,
                                                                      fake_twilio):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "whatsapp", BAKU_PHONE)
    upload_id = await uploaded(client, rauf, conversation_id, PDF, "arayış 2025.pdf")
    message = await reply_with(client, rauf, conversation_id, [upload_id])
    assert [(a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] \
        == [("arayış 2025.pdf", "application/pdf", len(PDF))]

    assert await deliver_message(ctx, message["id"]) == "sent"
    [request] = fake_twilio.requests
    assert request.field("To") == f"whatsapp:{BAKU_PHONE}"
    assert request.field("Body") == ANSWER
    [media_url] = request.all("MediaUrl")
    assert media_url.startswith(f"{ctx.config.public_url}/media/{message['id']}/0/")
    # Twilio fetched it without any session, and got the agent's file.
    assert fake_twilio.fetched_media == [(media_url, 200, "application/pdf", PDF)]
    # The agents' own copy stays behind the session.
    agent_url = message["attachments"][0]["url"]
    assert (await client.get(agent_url)).status == 401
    assert await (await client.get(agent_url, headers=rauf.headers)).read() == PDF


async def test_a_media_link_that_is_altered_or_expired_is_refused(client, ctx, people,
                                                                 fake_twilio):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "whatsapp", BAKU_PHONE)
    message = await reply_with(client, rauf, conversation_id,
                               [await uploaded(client, rauf, conversation_id, PDF, "a.pdf")])
    good = media_links.link("", message["id"], 0, "a.pdf", 60)
    assert (await client.get(good)).status == 200
    other_file = good.replace(f"/media/{message['id']}/0/", f"/media/{message['id'] - 1}/0/")
    expired = media_links.link("", message["id"], 0, "a.pdf", 60, now=time.time() - 120)
    for link in (other_file, expired, good.split("&signature=")[0],
                 good.replace("signature=", "signature=x")):
        response = await client.get(link)
        assert response.status == 403, link
        assert (await response.json())["code"] == "media_link_invalid"


async def test_an_mms_goes_to_a_us_number(client, ctx, people, fake_twilio):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "sms", US_PHONE)
    message = await reply_with(client, rauf, conversation_id,
                               [await uploaded(client, rauf, conversation_id, JPEG, "pasport.jpg")],
                               body="")
    assert await deliver_message(ctx, message["id"]) == "sent"
    [request] = fake_twilio.requests
    assert request.field("To") == US_PHONE and len(request.all("MediaUrl")) == 1
    assert fake_twilio.fetched_media[0][1:] == (200, "image/jpeg", JPEG)


async def test_sms_to_a_number_mms_does_not_reach_refuses_the_file_saying_why(client, ctx,
                                                                             people):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "sms", BAKU_PHONE)
    response = await upload(client, rauf, conversation_id, JPEG, "pasport.jpg")
    assert response.status == 422
    assert (await response.json())["code"] == "files_not_to_this_number"
    # A note may still keep it.
    response = await upload(client, rauf, conversation_id, JPEG, "pasport.jpg", query="?for=note")
    assert response.status == 201
    # Anything else is no purpose: refused, not read as a note's (the API conformance test
    # found "?for=" taken as a reply's).
    for query in ("?for=", "?for=reply", "?for=NOTE"):
        response = await upload(client, rauf, conversation_id, JPEG, "pasport.jpg", query=query)
        assert (response.status, (await response.json())["code"]) == (400, "bad_request")


# --- Telegram ---------------------------------------------------------------------------------


async def test_telegram_gets_a_photo_and_a_document_as_multipart_uploads(
        client, ctx, people, fake_telegram):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "telegram", TELEGRAM_CHAT)
    photo = await uploaded(client, rauf, conversation_id, JPEG, "pasport.jpg")
    document = await uploaded(client, rauf, conversation_id, PDF, "arayış.pdf")
    message = await reply_with(client, rauf, conversation_id, [photo, document])
    assert await deliver_message(ctx, message["id"]) == "sent"
    assert [c.method for c in fake_telegram.calls] == ["sendMessage", "sendPhoto",
                                                       "sendDocument"]
    [text] = fake_telegram.sent("sendMessage")
    assert text["text"] == ANSWER
    [sent_photo] = fake_telegram.sent("sendPhoto")
    assert sent_photo["chat_id"] == int(TELEGRAM_CHAT)
    assert (sent_photo["photo"].filename, sent_photo["photo"].body) == ("pasport.jpg", JPEG)
    [sent_document] = fake_telegram.sent("sendDocument")
    assert (sent_document["document"].filename, sent_document["document"].body) == (
        "arayış.pdf", PDF)
    # A retry after the last part sends nothing again.
    row = (await stored(ctx, conversation_id))[1][-1]
    assert row["delivery_status"] == "sent"
    assert await deliver_message(ctx, message["id"]) == "skipped"
    assert len(fake_telegram.calls) == 3


# --- e-mail -----------------------------------------------------------------------------------


async def test_an_email_reply_carries_the_file_as_a_mime_attachment(aiohttp_client, ctx,
                                                                    people, tmp_path):
    with MailServer() as server:
        mailbox = ("    mailboxes:\n"
                   "      - {id: baku1, address: baku1@dost.example.gov.az,\n"
                   "         queue: call-centre-142,\n"
                   "         imap: {host: imap.example.gov.az, user: baku1, password: x},\n"
                   f"         smtp: {{host: 127.0.0.1, port: {server.port}, security: none}}}}\n")
        config = load_config_text(config_text(tmp_path / "media", mailbox), env={})
        ctx.config = config
        client = await aiohttp_client(with_test_channels(create_app(config)))
        rauf = people["rauf"]
        conversation_id = await conversation_on(ctx, people, "email", "ivan.petrov@mail.ru")
        message = await reply_with(client, rauf, conversation_id,
                                   [await uploaded(client, rauf, conversation_id, PDF,
                                                   "arayış.pdf")])
        assert await deliver_message(ctx, message["id"]) == "sent"
        [received] = server.accepted
    [attachment] = received.mail.iter_attachments()
    assert attachment.get_filename() == "arayış.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


# --- web chat ---------------------------------------------------------------------------------


async def test_a_web_chat_file_reaches_the_residents_socket_by_a_link_they_can_open(
        client, ctx, people):
    rauf = people["rauf"]
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await send_text(ws, "c-1", "Salam, arayış lazımdır.")
        async with ctx.store.transaction() as tx:
            conversation_id = (await tx.messages.get(ack["message_id"]))["conversation_id"]
            await tx.conversations.update(conversation_id, queue="call-centre-142",
                                          assignee_id=rauf.id, status="open")
        message = await reply_with(client, rauf, conversation_id,
                                   [await uploaded(client, rauf, conversation_id, JPEG,
                                                   "pasport.jpg")])
        assert await deliver_message(ctx, message["id"]) == "sent"
        while True:
            frame = await ws.receive_json(timeout=5)
            if frame["type"] == "message" and frame["message"]["id"] == message["id"]:
                break
    [attachment] = frame["message"]["attachments"]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "pasport.jpg", "image/jpeg", len(JPEG))
    assert attachment["url"].startswith(f"/media/{message['id']}/0/")
    response = await client.get(attachment["url"])   # the resident has no agent session
    assert response.status == 200 and await response.read() == JPEG


# --- what is refused --------------------------------------------------------------------------


async def test_bad_uploads_are_refused_with_their_codes_and_keep_nothing(client, ctx, people,
                                                                        tmp_path):
    rauf, leyla = people["rauf"], people["leyla"]
    conversation_id = await conversation_on(ctx, people, "whatsapp", BAKU_PHONE)
    too_big = b"%PDF-" + b"0" * ctx.config.media.max_bytes
    cases = [
        (rauf, conversation_id, too_big, "big.pdf", 413, "upload_too_large"),
        (rauf, conversation_id, b"", "empty.pdf", 400, "upload_empty"),
        # Named and declared a PDF; its content is a program.
        (rauf, conversation_id, PROGRAM, "arayis.pdf", 415, "upload_type_not_allowed"),
        (rauf, conversation_id, b"<html><script>alert(1)</script>", "x.jpg", 415,
         "upload_type_not_allowed"),
        # WhatsApp carries no GIF.
        (rauf, conversation_id, b"GIF89a" + b"\x00" * 50, "a.gif", 422,
         "file_type_not_carried"),
        (rauf, 987654, PDF, "a.pdf", 404, "conversation_not_found"),
        (leyla, conversation_id, PDF, "a.pdf", 403, "outside_queues"),
    ]
    for person, target, body, name, status, code in cases:
        response = await upload(client, person, target, body, name, declared="application/pdf")
        assert response.status == status, (name, await response.text())
        assert (await response.json())["code"] == code, name
    assert not list((tmp_path / "media").rglob("*.json"))


async def test_a_reply_naming_an_upload_not_held_for_the_caller_is_a_404(client, ctx, people):
    rauf = people["rauf"]
    conversation_id = await conversation_on(ctx, people, "whatsapp", BAKU_PHONE)
    other = await conversation_on(ctx, people, "whatsapp", "+994557654321")
    held_elsewhere = await uploaded(client, rauf, other, PDF, "a.pdf")
    for named in (["never-uploaded"], [held_elsewhere], ["../../etc/passwd"]):
        response = await client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                     json={"body": ANSWER, "attachments": named},
                                     headers=rauf.headers)
        assert response.status == 404, named
        assert (await response.json())["code"] == "upload_unknown"
    _, rows, _ = await stored(ctx, conversation_id)
    assert [r["direction"] for r in rows] == ["in"]
