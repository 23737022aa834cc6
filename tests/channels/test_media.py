"""Attachments residents send: fetched from Twilio by the media job with the account's
credentials, kept within limits, and served only to agents who may see the conversation."""

import secrets
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from app import create_app
from channels.media import fetch_message_media, type_allowed
from channels.twilio.common import MediaError
from inbox.auth import hash_password
from inbox.jobs import DEFAULT_QUEUE, MEDIA_JOB
from inbox.storage import utcnow
from inbox.storage.schema import conversations
from tests.channels.fake_twilio import FakeTwilio
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGING_URL,
    fixture,
    post,
)

PHOTO = b"\xff\xd8\xff\xe0" + b"JFIF-photo-of-a-pension-card" * 20
PDF = b"%PDF-1.4 arayish"
IMAGE_SID = "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PDF_SID = "ME1b2c3d4e5f60718293a4b5c6d7e8f9a0"


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch) -> FakeTwilio:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    fake.media = {IMAGE_SID: (PHOTO, "image/jpeg"), PDF_SID: (PDF, "application/pdf")}
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    monkeypatch.setenv("TWILIO_API_BASE", str(server.make_url("")).rstrip("/"))
    return fake


@pytest.fixture
async def client(environment, config, monkeypatch, aiohttp_client, tmp_path):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


async def staff(ctx, email, role, queues):
    token = secrets.token_urlsafe(32)
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save(email, name=email, role=role, queues=queues,
                                     languages=["az"], capacity={},
                                     password_hash=hash_password("x"))
        await tx.users.save_token(token, user_id, "csrf", utcnow() + timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


async def whatsapp_with_media(client, ctx, fake_twilio, tmp_path, monkeypatch):
    monkeypatch.setattr(type(ctx), "media_dir", tmp_path / "media")
    response = await post(client, MESSAGING_URL, fixture("whatsapp_media.txt"))
    assert response.status == 200
    async with ctx.store.read() as tx:
        [conversation_id] = (await tx.conn.execute(select(conversations.c.id))).scalars()
        [message] = [m for m in await tx.messages.of_conversation(conversation_id)
                     if m["direction"] == "in"]
    return message


def test_content_type_patterns():
    allowed = ("image/*", "application/pdf")
    assert type_allowed("image/jpeg", allowed) and type_allowed("application/pdf", allowed)
    assert not type_allowed("text/html", allowed)


async def test_media_is_fetched_stored_and_served_to_agents_of_the_queue(
        client, ctx, fake_twilio, tmp_path, monkeypatch):
    message = await whatsapp_with_media(client, ctx, fake_twilio, tmp_path, monkeypatch)
    assert [a["url"] for a in message["attachments"]] == [None, None]   # not ours yet
    jobs = Queue(DEFAULT_QUEUE, connection=ctx.jobs.connection).jobs
    assert [(j.func_name, j.args) for j in jobs] == [(MEDIA_JOB, (message["id"],))]
    assert await fetch_message_media(ctx, message["id"]) == 2
    assert all(r.auth == (ACCOUNT_SID, AUTH_TOKEN) for r in fake_twilio.media_requests)
    async with ctx.store.read() as tx:
        stored = (await tx.messages.get(message["id"]))["attachments"]
    assert [a["size"] for a in stored] == [len(PHOTO), len(PDF)]
    assert stored[0]["url"] == f"/api/v1/messages/{message['id']}/attachments/0"
    assert await fetch_message_media(ctx, message["id"]) == 0        # a retry fetches nothing
    assert len(fake_twilio.media_requests) == 2

    async with ctx.store.read() as tx:
        queue = (await tx.conversations.get(message["conversation_id"]))["queue"]
    allowed = await staff(ctx, "leyla@example.gov.az", "agent", [queue])
    other = await staff(ctx, "rauf@example.gov.az", "agent",
                        [q for q in ("dost-baku-2", "triage") if q != queue])
    photo = await client.get(stored[0]["url"], headers=allowed)
    assert photo.status == 200 and await photo.read() == PHOTO
    assert photo.headers["Content-Type"] == "image/jpeg"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    pdf = await client.get(stored[1]["url"], headers=allowed)
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert (await client.get(stored[0]["url"], headers=other)).status == 403
    assert (await client.get(stored[0]["url"])).status == 401
    assert (await client.get(f"/api/v1/messages/{message['id']}/attachments/7",
                             headers=allowed)).status == 404


async def test_limits_refuse_without_losing_the_message(client, ctx, fake_twilio, tmp_path,
                                                        monkeypatch):
    fake_twilio.media[IMAGE_SID] = (b"x" * (ctx.config.media.max_bytes + 1), "image/jpeg")
    fake_twilio.media[PDF_SID] = (b"<script>", "text/html")
    message = await whatsapp_with_media(client, ctx, fake_twilio, tmp_path, monkeypatch)
    assert await fetch_message_media(ctx, message["id"]) == 0
    async with ctx.store.read() as tx:
        stored = (await tx.messages.get(message["id"]))["attachments"]
    assert stored[0]["error"] == f"larger than {ctx.config.media.max_bytes} bytes"
    assert stored[1]["error"] == "content type text/html is not accepted"
    assert all(a["url"] is None for a in stored)


async def test_a_twilio_outage_is_retried_later(client, ctx, fake_twilio, tmp_path,
                                                monkeypatch):
    message = await whatsapp_with_media(client, ctx, fake_twilio, tmp_path, monkeypatch)
    fake_twilio.fail_next(503)
    with pytest.raises(MediaError):
        await fetch_message_media(ctx, message["id"])
    assert await fetch_message_media(ctx, message["id"]) == 1         # the one still missing
