"""The satisfaction question on Telegram: an inline keyboard of 1-5 through the fake Bot API,
and the button the resident presses (a callback query to the real webhook) is the answer."""

from __future__ import annotations

import copy

from channels.delivery import deliver_message
from inbox.actions import Actor, set_status
from inbox.consumers import consume
from inbox.surveys import SURVEYS_CONSUMER
from tests.channels.telegram.conftest import post, update
from tests.channels.telegram.test_webhook import all_messages
from tests.inbox.test_auth import LEYLA, add_user


async def test_the_question_is_an_inline_keyboard_and_a_pressed_button_answers_it(
        client, ctx, fake_telegram) -> None:
    await post(client, update("private_text_az"))
    [opened] = [m for m in await all_messages(ctx) if m["direction"] == "in"]
    conversation_id = opened["conversation_id"]
    queues = ("call-centre-142",)
    agent = Actor(id=await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=queues),
                  role="agent", queues=queues)
    await set_status(ctx, agent, conversation_id, "resolved")
    await consume(ctx, SURVEYS_CONSUMER)
    [question] = [m for m in await all_messages(ctx) if (m["extra"] or {}).get("survey")]
    assert await deliver_message(ctx, question["id"]) == "sent"
    sent = fake_telegram.sent()[-1]
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [button["text"] for row in keyboard for button in row] == ["1", "2", "3", "4", "5"]

    press = update("callback_query")
    query = copy.deepcopy(press["callback_query"])
    query["id"], query["data"] = "2203495869217479999", "4"
    query["message"]["reply_markup"] = sent["reply_markup"]
    query["message"]["text"] = sent["text"]
    assert (await post(client, {**press, "update_id": 731204999,
                                "callback_query": query})).status == 200
    async with ctx.store.read() as tx:
        [survey] = await tx.surveys.of_conversation(conversation_id)
        conversation = await tx.conversations.get(conversation_id)
    assert (survey["score"], survey["agent_id"]) == (4, agent.id)
    assert conversation["status"] == "resolved"
