"""Answers to a web-chat resident who has left: the phone or e-mail they gave in the offline
form is theirs (kept on their identity, a claim that joins nobody), an agent's reply goes to
the chat while they are there and by SMS (the fake Twilio) or e-mail (a local SMTP server,
threaded) once they have left, and `contact_required` is enforced by the server. Against the
real app (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import select

from app import create_app
from channels.delivery import attempt_delivery, deliver_message
from channels.email.imap import own_addresses
from channels.email.readers import read_mail
from channels.webchat import presence
from channels.webchat.channel import reply_mailbox, routes_available
from channels.webchat.limits import _slot
from inbox import outcomes, reply_to
from inbox.actions import Actor, reply
from inbox.consumers import consume
from inbox.ingest import ingest
from inbox.messages import InboundMessage, ReplyTo
from inbox.notifications import NOTIFICATIONS_CONSUMER
from inbox.serialize import message_view
from inbox.storage import utcnow
from inbox.storage.schema import contact_claims
from routing import mask_text
from tests.channels.email.mail_server import MailServer
from tests.channels.email.test_smtp import config_for
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    fake_twilio,  # noqa: F401 (fixture)
)
from tests.channels.webchat.test_channel import GUNEL, PENSION, say_hello
from tests.channels.webchat.test_widget_protocol import conversation_of, frame_of, leyla, say
from tests.inbox.test_auth import NIGAR, add_user, login

PHONE_TYPED = "+994 50 123 45 67"
PHONE = "+994501234567"
EMAIL = "gunel.aliyeva@example.az"


@pytest.fixture
def mail_server():
    with MailServer() as server:
        yield server


@pytest.fixture
def config(mail_server):
    """The test deployment with a DOST mailbox sending through the local SMTP server, and
    no wait for a resident who left."""
    loaded = config_for({"host": "127.0.0.1", "port": mail_server.port, "security": "none"})
    return dataclasses.replace(loaded, channels=dataclasses.replace(
        loaded.channels, webchat=dataclasses.replace(loaded.channels.webchat, away_after_s=0)))


@pytest.fixture
async def client(aiohttp_client, environment, config, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


def session_of(welcome: dict) -> str:
    return welcome["session"].split(".", 1)[0]


async def message_row(ctx, message_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.messages.get(message_id)


# --- pure ------------------------------------------------------------------------------------

def test_an_answer_goes_by_sms_first_then_by_mail_and_only_where_it_can():
    kept = {"phone": PHONE, "email": EMAIL}
    assert reply_to.route(kept, frozenset({"sms", "email"})) == reply_to.Route("sms", PHONE)
    assert reply_to.route(kept, frozenset({"email"})) == reply_to.Route("email", EMAIL)
    assert reply_to.route({"email": EMAIL}, frozenset({"sms"})) is None
    assert reply_to.route(None, frozenset({"sms", "email"})) is None


def test_what_is_kept_is_normalised_and_only_what_can_be_delivered_to():
    at = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert reply_to.stored(ReplyTo(PHONE_TYPED, "Gunel.Aliyeva@Example.az"), at) == {
        "phone": PHONE, "email": EMAIL, "given_at": at.isoformat()}
    assert reply_to.stored(ReplyTo("12-34-5"), at) is None   # no number anyone can text


def test_an_address_given_again_is_the_same_whenever_given():
    at = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    kept = reply_to.stored(ReplyTo(PHONE_TYPED), at)
    assert reply_to.same(kept, {"phone": PHONE, "given_at": "2026-12-01T09:00:00+00:00"})
    assert not reply_to.same(kept, {"phone": PHONE, "email": EMAIL})
    assert not reply_to.same(kept, None)


def test_the_routes_and_the_mailbox_follow_the_deployment(config):
    assert routes_available(config) == frozenset({"sms", "email"})
    assert reply_mailbox(config, "call-centre-142") == "baku1"   # the first, for a queue without
    chosen = dataclasses.replace(config.channels.webchat, reply_mailbox="baku1")
    assert reply_mailbox(dataclasses.replace(
        config, channels=dataclasses.replace(config.channels, webchat=chosen)), None) == "baku1"


# --- the contact -----------------------------------------------------------------------------

async def test_the_offline_phone_is_a_claim_that_joins_nobody(client, ctx):
    """A carrier vouched for the number on another contact: the web-chat resident who typed
    it is a possible match of that contact, never joined to it, and their contact's own
    phone stays empty; the number is kept on their identity to send the answer to."""
    sms = await ingest(ctx, InboundMessage(
        channel="sms", external_id="SM0a1b2c3d4e5f60718293a4b5c6d7e8f9", address=PHONE,
        phone=PHONE, text="Pensiya barədə sualım var", received_at=utcnow()))
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
        ack = await say(ws, "c-1", PENSION, name=GUNEL,
                        contact={"phone": PHONE_TYPED, "email": EMAIL})
    async with ctx.store.read() as tx:
        identity = await tx.contacts.identity("webchat", session_of(welcome))
        contact = await tx.contacts.get(identity["contact_id"])
        sms_conversation = await tx.conversations.get(sms.conversation_id)
        matches = await tx.contacts.open_matches_of(identity["contact_id"])
        claims = (await tx.conn.execute(select(contact_claims).where(
            contact_claims.c.contact_id == identity["contact_id"]))).all()
    assert identity["contact_id"] != sms_conversation["contact_id"]
    assert (contact["phone"], contact["email"]) == (None, None)
    assert {k: identity["reply_to"][k] for k in ("phone", "email")} == {"phone": PHONE,
                                                                        "email": EMAIL}
    assert [(m["kind"], {m["contact_id"], m["other_contact_id"]}) for m in matches] == [
        ("phone", {identity["contact_id"], sms_conversation["contact_id"]})]
    # Claims are digests and masked forms, never the number or address in clear.
    assert {c.kind for c in claims} == {"phone", "email"}
    assert not any(PHONE in c.masked or EMAIL in c.masked for c in claims)
    assert "reply_to" not in ((await message_row(ctx, ack["message_id"]))["extra"] or {})


async def test_the_same_address_with_every_message_is_kept_once_and_a_new_one_replaces_it(
        client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        session = session_of(await say_hello(ws))
        await say(ws, "c-1", PENSION, contact={"phone": PHONE_TYPED})
        async with ctx.store.read() as tx:
            first = (await tx.contacts.identity("webchat", session))["reply_to"]
        await say(ws, "c-2", "Və bir sual da", contact={"phone": PHONE})
        async with ctx.store.read() as tx:
            assert (await tx.contacts.identity("webchat", session))["reply_to"] == first
        await say(ws, "c-3", "Poçtla yazın", contact={"email": EMAIL})
        async with ctx.store.read() as tx:
            kept = (await tx.contacts.identity("webchat", session))["reply_to"]
    assert (kept.get("phone"), kept["email"]) == (None, EMAIL)


async def test_the_agent_sees_where_the_answer_goes(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await say(ws, "c-1", PENSION, name=GUNEL, contact={"phone": PHONE_TYPED})
    conversation_id = await conversation_of(ctx, ack["message_id"])
    await add_user(ctx, NIGAR, name="Nigar Əliyeva", role="supervisor")   # sees every queue
    token = (await login(client, NIGAR))["token"]
    response = await client.get(f"/api/v1/conversations/{conversation_id}",
                                headers={"Authorization": f"Bearer {token}"})
    view = await response.json()
    assert view["reply_to"]["phone"] == PHONE and view["reply_to"]["email"] is None


# --- contact_required ------------------------------------------------------------------------

async def test_contact_required_is_enforced_by_the_server(aiohttp_client, environment, config,
                                                          ctx):
    webchat = dataclasses.replace(config.channels.webchat, contact_required=True)
    required = dataclasses.replace(config, channels=dataclasses.replace(config.channels,
                                                                        webchat=webchat))
    client = await aiohttp_client(create_app(required))
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws, language="ru")
        await ws.send_json({"type": "message", "id": "c-1", "text": PENSION})
        error = await frame_of(ws, "error")
        assert (error["code"], error["id"]) == ("contact_required", "c-1")
        assert error["error"].startswith("Куда отправить ответ?")
        async with ctx.store.read() as tx:   # nothing stored, not even the identity
            assert await tx.contacts.identity("webchat", session_of(welcome)) is None
        await say(ws, "c-2", PENSION, contact={"email": EMAIL})
        await say(ws, "c-3", "Və bir sual da")     # the session has given it now
    async with client.ws_connect("/chat/ws") as ws:  # so has a later window of it
        await say_hello(ws, session=welcome["session"])
        await say(ws, "c-4", "Sənədlər hazırdır?")


# --- the answer's route ----------------------------------------------------------------------

async def resident_with_answer(client, ctx, contact: dict, *, leave: bool = True
                               ) -> tuple[str, int]:
    """A resident who wrote with `contact` and (by default) closed the chat; an agent's
    reply queued to them: (session, reply id)."""
    async with client.ws_connect("/chat/ws") as ws:
        welcome = await say_hello(ws)
        ack = await say(ws, "c-1", PENSION, name=GUNEL, contact=contact)
    conversation_id = await conversation_of(ctx, ack["message_id"])
    answer = await reply(ctx, await leyla(ctx), conversation_id,
                         "Sənədləriniz hazırdır, DOST Bakı 1 mərkəzinə gələ bilərsiniz.")
    return session_of(welcome), answer["id"]


async def test_while_the_resident_is_here_the_answer_goes_to_the_chat(
        client, ctx, fake_twilio):  # noqa: F811
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await say(ws, "c-1", PENSION, name=GUNEL, contact={"phone": PHONE_TYPED})
        conversation_id = await conversation_of(ctx, ack["message_id"])
        answer = await reply(ctx, await leyla(ctx), conversation_id, "Salam, baxıram.")
        assert await deliver_message(ctx, answer["id"]) == "sent"
        frame = await frame_of(ws, "message")
        assert frame["message"]["id"] == answer["id"]
    assert fake_twilio.requests == []
    assert (await message_row(ctx, answer["id"]))["channel"] == "webchat"


async def test_once_the_resident_left_the_answer_goes_by_sms(client, ctx,
                                                             fake_twilio):  # noqa: F811
    session, answer_id = await resident_with_answer(
        client, ctx, {"phone": PHONE_TYPED, "email": EMAIL})
    assert (await presence.whereabouts(ctx.redis, session)).away
    assert await deliver_message(ctx, answer_id) == "sent"
    [request] = fake_twilio.requests
    assert (request.field("To"), request.field("From")) == (PHONE, "+994125550142")
    assert request.field("Body").startswith("Sənədləriniz hazırdır")
    row = await message_row(ctx, answer_id)
    # The route is the message's: status reports and retries follow it; the agent sees it.
    assert (row["channel"], row["delivery_status"]) == ("sms", "sent")
    assert row["external_id"] == fake_twilio.sids[0]
    assert row["extra"]["diverted"] == {"from": "webchat", "address": PHONE}
    assert message_view(row, ctx.zone)["sent_by"] == {"channel": "sms",
                                                      "address": mask_text(PHONE)}


async def test_an_sms_that_fails_is_retried_on_the_same_route(client, ctx,
                                                              fake_twilio):  # noqa: F811
    _, answer_id = await resident_with_answer(client, ctx, {"phone": PHONE_TYPED})
    fake_twilio.fail_next(503, None, "Service Unavailable")
    assert (await attempt_delivery(ctx, answer_id)).status == "retry"
    async with ctx.store.transaction() as tx:   # due now rather than after its back-off
        await tx.messages.update(answer_id, next_attempt_at=utcnow())
    assert await deliver_message(ctx, answer_id) == "sent"
    assert [r.field("To") for r in fake_twilio.requests] == [PHONE, PHONE]
    assert (await message_row(ctx, answer_id))["channel"] == "sms"


async def test_once_the_resident_left_the_answer_goes_by_mail_in_a_thread(
        client, ctx, mail_server):
    _, first = await resident_with_answer(client, ctx, {"email": EMAIL})
    assert await deliver_message(ctx, first) == "sent"
    conversation_id = (await message_row(ctx, first))["conversation_id"]
    second = await reply(ctx, await leyla(ctx), conversation_id, "Bir sənəd də lazımdır.")
    assert await deliver_message(ctx, second["id"]) == "sent"
    mails = [received.mail for received in mail_server.accepted]
    assert [m["To"] for m in mails] == [EMAIL, EMAIL]
    assert "baku1@" in mails[0]["From"]
    first_row = await message_row(ctx, first)
    assert (first_row["channel"], first_row["external_id"]) == ("email", mails[0]["Message-ID"])
    assert mails[0]["Message-ID"] in mails[1]["References"]


def resident_reply(mail: dict, sender: str, text: str) -> bytes:
    """The resident's mail program answering our mail `mail`: quoted, threaded by its
    Message-ID, from `sender`."""
    return (f"From: Günel Əliyeva <{sender}>\r\nTo: {mail['From']}\r\n"
            f"Subject: Re: {mail['Subject']}\r\n"
            "Date: Fri, 04 Dec 2026 09:15:00 +0400\r\n"
            f"Message-ID: <{sender.split('@')[0]}.{len(text)}@mail.example.az>\r\n"
            f"In-Reply-To: {mail['Message-ID']}\r\nReferences: {mail['Message-ID']}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            f"{text}\r\n\r\n> Sənədləriniz hazırdır, DOST Bakı 1 mərkəzinə gələ bilərsiniz.\r\n"
            ).encode()


async def mail_in(ctx, raw: bytes):
    mailbox = ctx.config.channels.email.mailboxes[0]
    read = read_mail(raw, hashlib.sha256(raw).hexdigest(), mailbox, ctx.media_dir,
                     own_addresses(ctx), utcnow())
    return await ingest(ctx, read.message)


async def test_the_residents_mailed_answer_continues_the_chat_conversation(
        client, ctx, mail_server):
    _, answer_id = await resident_with_answer(client, ctx, {"email": EMAIL})
    assert await deliver_message(ctx, answer_id) == "sent"
    [mail] = [received.mail for received in mail_server.accepted]
    chat_conversation = (await message_row(ctx, answer_id))["conversation_id"]
    # Their mail program writes the address as they typed it in their account.
    joined = await mail_in(ctx, resident_reply(mail, "Gunel.Aliyeva@example.az",
                                               "Sabah gələcəyəm, təşəkkürlər."))
    assert (joined.conversation_id, joined.new_conversation) == (chat_conversation, False)
    row = await message_row(ctx, joined.message_id)
    assert (row["channel"], row["direction"]) == ("email", "in")
    # Someone the mail was forwarded to names it too, from another address: a new matter.
    other = await mail_in(ctx, resident_reply(mail, "qardas@example.az",
                                              "Bacım adından yazıram."))
    assert other.new_conversation and other.conversation_id != chat_conversation


async def test_a_resident_who_left_moments_ago_is_waited_for(client, ctx,
                                                             fake_twilio):  # noqa: F811
    session, answer_id = await resident_with_answer(client, ctx, {"phone": PHONE_TYPED})
    await ctx.redis.set(f"cc:webchat:leaving:{session}", "1", ex=60)   # closed 0 s ago
    outcome = await attempt_delivery(ctx, answer_id)
    assert outcome.status == "deferred"
    row = await message_row(ctx, answer_id)
    assert (row["delivery_status"], row["attempts"], row["channel"]) == ("queued", 0, "webchat")
    assert fake_twilio.requests == []


async def test_without_anywhere_else_the_answer_waits_in_the_chat(client, ctx,
                                                                  fake_twilio):  # noqa: F811
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await say(ws, "c-1", PENSION, name=GUNEL)
    answer = await reply(ctx, await leyla(ctx), await conversation_of(ctx, ack["message_id"]),
                         "Salam.")
    assert await deliver_message(ctx, answer["id"]) == "sent"
    assert fake_twilio.requests == []
    assert (await message_row(ctx, answer["id"]))["channel"] == "webchat"


async def test_an_open_window_keeps_renewing_its_lease(client, ctx, monkeypatch):
    """One task renews every open window of the process (no task per window): a window
    open longer than its lease is still here."""
    monkeypatch.setattr("channels.webchat.channel.SOCKET_RENEW_S", 0.2)
    async with client.ws_connect("/chat/ws") as ws:
        session = session_of(await say_hello(ws))
        key = f"cc:webchat:windows:{session}"
        counted = f"cc:webchat:{{{_slot('127.0.0.1')}}}:sockets"   # the address's windows
        [(_, first_lease)] = await ctx.redis.zrange(key, 0, -1, withscores=True)
        [(_, first_count)] = await ctx.redis.zrange(counted, 0, -1, withscores=True)
        await asyncio.sleep(0.6)
        [(_, renewed_lease)] = await ctx.redis.zrange(key, 0, -1, withscores=True)
        [(_, renewed_count)] = await ctx.redis.zrange(counted, 0, -1, withscores=True)
        assert renewed_lease > first_lease and renewed_count > first_count
        assert (await presence.whereabouts(ctx.redis, session)).here


async def test_a_closed_window_is_not_renewed(client, ctx, monkeypatch):
    monkeypatch.setattr("channels.webchat.channel.SOCKET_RENEW_S", 0.2)
    async with client.ws_connect("/chat/ws") as ws:
        session = session_of(await say_hello(ws))
        await asyncio.sleep(0.6)
    # The server notices the close when its read ends: on a loaded machine that takes a while.
    for _ in range(50):
        if await ctx.redis.zcard(f"cc:webchat:windows:{session}") == 0:
            break
        await asyncio.sleep(0.05)
    assert await ctx.redis.zcard(f"cc:webchat:windows:{session}") == 0
    assert (await presence.whereabouts(ctx.redis, session)).away   # away_after is 0 here


async def test_a_result_notice_follows_a_resident_who_left_the_chat_to_their_mail(
        client, ctx, mail_server):
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        ack = await say(ws, "c-1", "Salam, ilkin qeydiyyatdan keçmək istəyirəm", name=GUNEL,
                        contact={"email": EMAIL})
    conversation_id = await conversation_of(ctx, ack["message_id"])
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, category="registration")
    nigar = Actor(id=await add_user(ctx, NIGAR, name="Nigar Əliyeva", role="supervisor"),
                  role="supervisor", queues=())
    await outcomes.record(ctx, nigar, conversation_id, {"kind": "approved"})
    await consume(ctx, NOTIFICATIONS_CONSUMER)
    async with ctx.store.read() as tx:
        [notice] = [m for m in await tx.messages.of_conversation(conversation_id)
                    if (m["extra"] or {}).get("notification")]
    assert await deliver_message(ctx, notice["id"]) == "sent"
    [mail] = [received.mail for received in mail_server.accepted]
    assert mail["To"] == EMAIL
    row = await message_row(ctx, notice["id"])
    assert (row["channel"], row["extra"]["diverted"]["from"]) == ("email", "webchat")


async def test_a_window_open_as_the_app_stops_is_closed_before_the_app_lets_go(client, ctx):
    """Stopping the app closes the windows still open as going away (the widget reconnects
    to the next process) at once, instead of waiting out the server's shutdown timeout; each
    one's close (its lease and presence released) ends before the stop returns."""
    ws = await client.ws_connect("/chat/ws")
    session = session_of(await say_hello(ws))
    assert (await presence.whereabouts(ctx.redis, session)).here
    started = asyncio.get_running_loop().time()
    await client.server.close()     # the app stops; the resident's window is still open
    assert asyncio.get_running_loop().time() - started < 10   # not the minute's timeout
    goodbye = await ws.receive()
    assert (goodbye.type, goodbye.data) == (aiohttp.WSMsgType.CLOSE, 1001)   # going away
    assert await ctx.redis.zcard(f"cc:webchat:windows:{session}") == 0
    assert (await presence.whereabouts(ctx.redis, session)).away   # away_after is 0 here


async def test_a_window_still_closing_as_the_app_stops_ends_before_its_connections_close(
        client, ctx, monkeypatch):
    """A window the resident closed just before the stop may still be closing (its last
    read receipts recorded, its lease released) in a task of its own: the stop waits for it
    before the app's database and Redis connections close."""
    from channels.webchat.channel import _Socket

    close = _Socket.close

    async def slow_close(window):
        await asyncio.sleep(0.3)
        await close(window)

    monkeypatch.setattr(_Socket, "close", slow_close)
    ws = await client.ws_connect("/chat/ws")
    session = session_of(await say_hello(ws))
    await ws.close()
    await client.server.close()
    assert await ctx.redis.zcard(f"cc:webchat:windows:{session}") == 0
    assert (await presence.whereabouts(ctx.redis, session)).away
