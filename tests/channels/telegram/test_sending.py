"""Replies to Telegram through python-telegram-bot's Bot against the fake Bot API: the exact
request, inline keyboards, Telegram's 429 with retry_after, and chats that will never take a
message (blocked, not found) failing with a reason an agent reads."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from channels import sending
from channels.base import PermanentSendError, RateLimited
from channels.delivery import deliver_message
from channels.telegram.channel import TELEGRAM_CHANNEL
from inbox import outbox
from inbox.messages import OutboundMessage
from tests.channels.telegram.conftest import TOKEN, post, update
from tests.channels.telegram.test_webhook import all_messages


async def acknowledgement(client, ctx) -> dict:
    await post(client, update("private_text_az"))
    [ack] = [m for m in await all_messages(ctx) if m["direction"] == "out"]
    assert ack["delivery_status"] == "queued"
    return ack


async def row(ctx, message_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.messages.get(message_id)


async def test_the_acknowledgement_goes_to_the_chat_through_sendmessage(client, ctx,
                                                                       fake_telegram) -> None:
    ack = await acknowledgement(client, ctx)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    [sent] = fake_telegram.sent()
    assert sent == {"chat_id": 512345678, "text": ack["body"]}
    stored = await row(ctx, ack["id"])
    assert stored["delivery_status"] == "sent"
    assert stored["external_id"] == f"512345678:{fake_telegram.next_message_id}"
    assert await deliver_message(ctx, ack["id"]) == "skipped"
    assert len(fake_telegram.sent()) == 1


async def test_a_429_defers_the_message_for_telegrams_retry_after(client, ctx,
                                                                 fake_telegram) -> None:
    ack = await acknowledgement(client, ctx)
    fake_telegram.fail_next("sendMessage", "429", retry_after=7)
    assert await deliver_message(ctx, ack["id"]) == "deferred"
    stored = await row(ctx, ack["id"])
    assert stored["delivery_status"] == "queued"
    assert "Telegram asked to wait 7 s" in stored["delivery_error"]
    wait = (stored["next_attempt_at"] - datetime.now(UTC)).total_seconds()
    assert 5 < wait <= 7
    # Every worker holds back for it, not only this send.
    assert 5000 < await ctx.redis.pttl("cc:send-rate:telegram:paused") <= 7000


@pytest.mark.parametrize(("kind", "reason"), [
    ("blocked", "Forbidden: the resident blocked the bot"),
    ("chat not found", "BadRequest: Telegram does not know this chat (the resident never "
                       "wrote to the bot or deleted the chat)")])
async def test_a_chat_that_will_never_take_it_fails_with_a_reason(client, ctx, fake_telegram,
                                                                 kind, reason) -> None:
    ack = await acknowledgement(client, ctx)
    fake_telegram.fail_next("sendMessage", kind)
    assert await deliver_message(ctx, ack["id"]) == "failed"
    stored = await row(ctx, ack["id"])
    assert stored["delivery_status"] == "failed" and stored["delivery_error"] == reason
    async with ctx.store.read() as tx:
        events = [e["type"] for e in await tx.events.of_conversation(ack["conversation_id"])]
    assert events.count("delivery_failed") == 1


async def test_telegrams_server_errors_are_retried(client, ctx, fake_telegram) -> None:
    ack = await acknowledgement(client, ctx)
    fake_telegram.fail_next("sendMessage", "500")
    assert await deliver_message(ctx, ack["id"]) == "retry"


async def queued(client, ctx, count: int) -> list[OutboundMessage]:
    """`count` agent replies queued in a Telegram resident's conversation, as sends."""
    ack = await acknowledgement(client, ctx)
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(ack["conversation_id"])
        ids = [await outbox.queue_message(tx, conversation, f"Cavab {n}", author_kind="agent")
               for n in range(count)]
    return [OutboundMessage(message_id=i, conversation_id=conversation["id"],
                            channel="telegram", address="512345678", body=f"Cavab {n}",
                            language="az", created_at=datetime.now(UTC))
            for n, i in enumerate(ids)]


async def test_choices_go_out_as_an_inline_keyboard(client, ctx, fake_telegram) -> None:
    [reply] = await queued(client, ctx, 1)
    await TELEGRAM_CHANNEL.send(ctx, replace(reply, choices=("Qeydiyyat", "Pensiya")))
    [sent] = fake_telegram.sent()
    assert sent["reply_markup"] == {"inline_keyboard": [
        [{"text": "Qeydiyyat", "callback_data": "Qeydiyyat"}],
        [{"text": "Pensiya", "callback_data": "Pensiya"}]]}


async def test_one_chat_gets_about_one_message_a_second_the_rest_wait_in_the_queue(
        client, ctx, fake_telegram, monkeypatch) -> None:
    monkeypatch.setattr(sending, "_clock", lambda: 1_900_000_000.25)   # one second, held
    first, second = await queued(client, ctx, 2)
    await TELEGRAM_CHANNEL.send(ctx, first)
    with pytest.raises(RateLimited) as waited:
        # The chat's second is used up: queued again for the next one, never dropped.
        await TELEGRAM_CHANNEL.send(ctx, second)
    assert waited.value.retry_after_s == pytest.approx(0.75)
    assert [s["text"] for s in fake_telegram.sent()] == ["Cavab 0"]


async def test_a_bad_chat_address_fails_permanently(client, ctx, fake_telegram) -> None:
    [reply] = await queued(client, ctx, 1)
    with pytest.raises(PermanentSendError):
        await TELEGRAM_CHANNEL.send(ctx, replace(reply, address="not-a-chat"))
    assert fake_telegram.sent() == []


async def test_no_log_line_carries_the_bot_token(client, ctx, fake_telegram, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ack = await acknowledgement(client, ctx)
    fake_telegram.fail_next("sendMessage", "500")
    assert await deliver_message(ctx, ack["id"]) == "retry"
    async with ctx.store.transaction() as tx:
        await tx.messages.update(ack["id"], next_attempt_at=datetime.now(UTC))
    assert await deliver_message(ctx, ack["id"]) == "sent"
    lines = [r.getMessage() for r in caplog.records
             if r.name != "aiohttp.access"]          # the fake Bot API server's own log
    assert lines and not [line for line in lines if TOKEN in line or "/bot" in line]
