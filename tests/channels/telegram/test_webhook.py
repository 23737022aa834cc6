"""`POST /webhooks/telegram` on the real app, SQLite and PostgreSQL: the secret, bad bodies,
re-deliveries, edits, shared contacts, /start, button presses, groups, and attachments
fetched through getFile from the fake Bot API by the real library."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from channels.media import fetch_message_media
from channels.telegram import channel as telegram_channel
from inbox.messages import InboundMessage
from inbox.port import ChannelPort
from inbox.serialize import message_view
from inbox.storage.schema import messages
from tests.channels.telegram.conftest import SECRET, TOKEN, post, update


async def all_messages(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        result = await tx.conn.execute(select(messages).order_by(messages.c.id))
        return [dict(row._mapping) for row in result]


async def inbound(ctx) -> list[dict]:
    return [m for m in await all_messages(ctx) if m["direction"] == "in"]


async def contact_of(ctx, channel: str, address: str) -> int:
    async with ctx.store.read() as tx:
        return (await tx.contacts.identity(channel, address))["contact_id"]


async def test_a_wrong_or_missing_secret_is_403_and_stores_nothing(client, ctx, caplog) -> None:
    for secret in (None, "", "wrong", SECRET + "x"):
        response = await post(client, update("private_text_az"), secret=secret)
        assert response.status == 403
        assert await response.json() == \
            {"error": "invalid or missing X-Telegram-Bot-Api-Secret-Token"}
    assert await all_messages(ctx) == []
    assert TOKEN not in caplog.text and SECRET not in caplog.text


async def test_the_secret_is_compared_in_constant_time(monkeypatch) -> None:
    compared = []
    real = hmac.compare_digest

    def compare(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(telegram_channel.hmac, "compare_digest", compare)
    assert telegram_channel.secret_matches(SECRET, SECRET)
    assert not telegram_channel.secret_matches(None, SECRET)
    assert compared == [(SECRET.encode(), SECRET.encode()), (b"", SECRET.encode())]


async def test_without_a_secret_configured_the_webhook_refuses_with_503(client, ctx,
                                                                       monkeypatch) -> None:
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    response = await post(client, update("private_text_az"))
    assert response.status == 503 and await all_messages(ctx) == []


async def test_bad_bodies_are_4xx_and_store_nothing(client, ctx) -> None:
    response = await post(client, None, raw=b"{not json")
    assert response.status == 400 and await response.json() == {"error": "the body is not JSON"}
    response = await post(client, {"message": {"text": "hi"}})
    assert response.status == 400
    assert (await response.json())["error"].startswith("expected a Telegram Update")
    huge = update("private_text_az")
    huge["message"]["text"] = "x" * (ctx.config.limits.max_body_bytes + 1)
    response = await post(client, huge)
    assert response.status == 413
    assert await all_messages(ctx) == []


async def test_a_redelivered_update_is_stored_once(client, ctx) -> None:
    for _ in range(3):
        response = await post(client, update("private_text_az"))
        assert response.status == 200
    [message] = await inbound(ctx)
    assert message["channel"] == "telegram" and message["external_id"] == "512345678:41"
    assert message["body"] == "Salam, vətəndaşlığın bərpası üçün hansı sənədlər lazımdır?"
    assert message["extra"]["telegram"] == {"name": "Aygün Məmmədova", "username": "aygun_m",
                                            "user_id": 512345678}
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(message["conversation_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
        contact = await tx.contacts.get(identity["contact_id"])
    assert identity["address"] == "512345678" and contact["name"] == "Aygün Məmmədova"
    assert conversation["language"] == "az"


async def test_an_edit_changes_the_text_and_is_kept_as_an_event_once(client, ctx) -> None:
    await post(client, update("private_text_az"))
    for _ in range(2):   # re-delivered: no second event
        assert (await post(client, update("edited_message"))).status == 200
    [message] = await inbound(ctx)
    assert message["body"].endswith("Mən Rusiyadan qayıtmışam.")
    async with ctx.store.read() as tx:
        events = [e for e in await tx.events.of_conversation(message["conversation_id"])
                  if e["type"] == "message_edited"]
    [edited] = events
    assert edited["data"] == {"message_id": message["id"],
                              "previous": "Salam, vətəndaşlığın bərpası üçün hansı sənədlər "
                                          "lazımdır?",
                              "edited_at": "2025-12-03T12:03:10+00:00"}


async def test_an_edit_of_a_message_never_stored_changes_nothing(client, ctx) -> None:
    assert (await post(client, update("edited_message"))).status == 200
    assert await all_messages(ctx) == []


async def sms_from(ctx, phone: str) -> None:
    await ChannelPort(ctx).ingest(InboundMessage(
        channel="sms", external_id=f"SM{phone[1:]}", address=phone, text="Salam",
        received_at=datetime.now(UTC), phone=phone))


async def test_a_contact_shared_of_oneself_joins_the_sms_contact_of_that_phone(client,
                                                                              ctx) -> None:
    await sms_from(ctx, "+994501234567")
    sms_contact = await contact_of(ctx, "sms", "+994501234567")
    await post(client, update("private_text_az"))
    assert await contact_of(ctx, "telegram", "512345678") != sms_contact
    for _ in range(2):
        assert (await post(client, update("contact_self"))).status == 200
    assert await contact_of(ctx, "telegram", "512345678") == sms_contact
    shared = [m for m in await inbound(ctx) if m["external_id"] == "512345678:46"]
    assert len(shared) == 1 and shared[0]["body"] == "📱 994501234567"


async def test_a_first_message_sharing_ones_own_contact_joins_at_once(client, ctx) -> None:
    await sms_from(ctx, "+994501234567")
    await post(client, update("contact_self"))
    assert await contact_of(ctx, "telegram", "512345678") == \
        await contact_of(ctx, "sms", "+994501234567")


async def test_a_contact_of_someone_else_joins_nothing(client, ctx) -> None:
    await sms_from(ctx, "+994551112233")
    await post(client, update("private_text_az"))
    await post(client, update("contact_other"))
    assert await contact_of(ctx, "telegram", "512345678") != \
        await contact_of(ctx, "sms", "+994551112233")
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(await contact_of(ctx, "telegram", "512345678"))
    assert contact["phone"] is None


async def test_start_is_greeted_in_the_webhook_answer_and_stores_nothing(client, ctx) -> None:
    response = await post(client, update("start"))
    assert response.status == 200
    answer = await response.json()
    assert answer["method"] == "sendMessage" and answer["chat_id"] == 623456789
    assert answer["text"].startswith("Здравствуйте, Игорь!")
    assert answer["reply_markup"]["keyboard"] == [[{"text": "Поделиться номером телефона",
                                                    "request_contact": True}]]
    assert await all_messages(ctx) == []


async def test_a_button_press_is_stored_as_the_answer_and_acknowledged(client, ctx) -> None:
    response = await post(client, update("callback_query"))
    assert await response.json() == {"method": "answerCallbackQuery",
                                     "callback_query_id": "2203495869217473125"}
    await post(client, update("callback_query"))
    [message] = await inbound(ctx)
    assert message["body"] == "Pensiya"
    assert message["external_id"] == "callback:2203495869217473125"


async def test_a_group_message_is_ignored_with_a_log_line_without_personal_data(
        client, ctx, caplog) -> None:
    caplog.set_level(logging.INFO, logger="channels.telegram.channel")
    response = await post(client, update("group_message"))
    assert response.status == 200 and await all_messages(ctx) == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "channels.telegram.channel"]
    assert line == "ignored a Telegram update: a message in a supergroup chat"


async def test_a_photo_is_fetched_through_getfile_by_the_media_job(client, ctx, fake_telegram,
                                                                  tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(type(ctx), "media_dir", tmp_path / "media")
    photo = b"\xff\xd8\xff\xe0" + b"J" * 2048
    fake_telegram.add_file("AgACAgIAAxkBAAMqZ1-large", "photos/file_7.jpg", photo)
    await post(client, update("photo"))
    [message] = await inbound(ctx)
    assert message["body"] == "Pasportumun şəkli"
    assert await fetch_message_media(ctx, message["id"]) == 1
    [attachment] = (await inbound(ctx))[0]["attachments"]
    assert attachment["content_type"] == "image/jpeg" and attachment["size"] == len(photo)
    assert (tmp_path / "media" / attachment["stored"]).read_bytes() == photo
    assert [c.params for c in fake_telegram.calls if c.method == "getFile"] == \
        [{"file_id": "AgACAgIAAxkBAAMqZ1-large"}]
    assert await fetch_message_media(ctx, message["id"]) == 0   # a retry fetches nothing


async def test_a_file_over_the_media_limit_keeps_a_reason_and_is_not_downloaded(
        client, ctx, fake_telegram, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(type(ctx), "media_dir", tmp_path / "media")
    fake_telegram.add_file("BQACAgIAAxkBAAMrZ1-doc", "documents/file_3.pdf",
                           b"%PDF" + b"0" * ctx.config.media.max_bytes)
    await post(client, update("document"))
    [message] = await inbound(ctx)
    assert await fetch_message_media(ctx, message["id"]) == 0
    [attachment] = (await inbound(ctx))[0]["attachments"]
    assert attachment["error"] == (f"the file is {ctx.config.media.max_bytes + 4} bytes, over "
                                   f"the limit of {ctx.config.media.max_bytes}")
    assert not (tmp_path / "media").exists()


async def test_the_console_reads_the_residents_telegram_name_and_username(client, ctx) -> None:
    await post(client, update("private_text_az"))
    [row] = await inbound(ctx)
    view = message_view(row, ZoneInfo("Asia/Baku"))
    assert view["telegram"] == {"name": "Aygün Məmmədova", "username": "aygun_m"}
    assert view["email"] is None
