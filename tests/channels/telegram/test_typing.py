"""An agent's typing reaches the resident's Telegram chat as sendChatAction "typing", through
python-telegram-bot against the fake Bot API: once per chat every few seconds, at once (no
job), never for a whisper and never on another channel."""

from __future__ import annotations

import logging

from channels.telegram.typing import throttle_key
from tests.channels.telegram.conftest import TOKEN, post, update
from tests.channels.telegram.test_webhook import all_messages
from tests.inbox.test_auth import LEYLA, NIGAR, add_staff
from tests.web.test_api import mint_token, seed

CHAT_ID = 512345678   # the chat of the captured update private_text_az


async def telegram_conversation(client, ctx) -> int:
    await post(client, update("private_text_az"))
    [message] = [m for m in await all_messages(ctx) if m["direction"] == "in"]
    return message["conversation_id"]


async def test_typing_goes_to_the_chat_as_a_chat_action_at_most_every_4_s(client, ctx,
                                                                         fake_telegram):
    conversation_id = await telegram_conversation(client, ctx)
    staff = await add_staff(ctx)
    nigar = await mint_token(ctx, staff[NIGAR])
    path = f"/api/v1/conversations/{conversation_id}/typing"
    for _ in range(3):     # keystrokes within the interval: one chat action
        response = await client.post(path, headers=nigar)
        assert response.status == 204
    # Already there when the call answers: no worker runs here, so it was not a job.
    assert fake_telegram.sent("sendChatAction") == [{"chat_id": CHAT_ID, "action": "typing"}]
    # The interval is a Redis key that lapses by itself; once it has, typing shows again.
    assert 0 < await ctx.redis.pttl(throttle_key(CHAT_ID)) <= 4000
    await ctx.redis.delete(throttle_key(CHAT_ID))
    assert (await client.post(path, headers=nigar)).status == 204
    assert len(fake_telegram.sent("sendChatAction")) == 2
    assert fake_telegram.sent("sendMessage") == []


async def test_a_refused_chat_action_is_dropped_and_the_agent_is_not_told(client, ctx,
                                                                         fake_telegram, caplog):
    conversation_id = await telegram_conversation(client, ctx)
    staff = await add_staff(ctx)
    nigar = await mint_token(ctx, staff[NIGAR])
    fake_telegram.fail_next("sendChatAction", "blocked")
    with caplog.at_level(logging.WARNING, logger="channels.telegram.typing"):
        response = await client.post(f"/api/v1/conversations/{conversation_id}/typing",
                                     headers=nigar)
    assert response.status == 204
    assert "Telegram typing not shown: Forbidden" in caplog.text
    # Neither the resident's chat id nor the bot token reaches the log.
    assert str(CHAT_ID) not in caplog.text and TOKEN not in caplog.text


async def test_a_whisper_on_a_telegram_conversation_sends_nothing(client, ctx, fake_telegram):
    conversation_id = await telegram_conversation(client, ctx)
    staff = await add_staff(ctx)
    nigar = await mint_token(ctx, staff[NIGAR])
    response = await client.post(f"/api/v1/conversations/{conversation_id}/whisper",
                                 json={"body": "Sakinin FİN-i 5ZK2QJ7, arayışı yoxlayın."},
                                 headers=nigar)
    assert response.status == 201
    notes = [m for m in await all_messages(ctx) if m["direction"] == "note"]
    assert [n["delivery_status"] for n in notes] == ["received"]
    assert fake_telegram.sent("sendMessage") == []
    assert fake_telegram.sent("sendChatAction") == []


async def test_typing_on_another_channel_calls_no_telegram(client, ctx, fake_telegram):
    staff = await add_staff(ctx)
    leyla = await mint_token(ctx, staff[LEYLA])
    sms = await seed(ctx, queue="migration-support", text="Salam, pasportum itib.",
                     name="Aygün Quliyeva", channel="sms", status="open",
                     assignee=staff[LEYLA], phone=str(CHAT_ID))
    response = await client.post(f"/api/v1/conversations/{sms.id}/typing", headers=leyla)
    assert response.status == 204
    assert fake_telegram.calls == []
    assert await ctx.redis.exists(throttle_key(CHAT_ID)) == 0
