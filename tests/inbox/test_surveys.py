"""The satisfaction survey end to end: the resident writes by SMS through the signed Twilio
webhook, an agent resolves through the API, the surveys consumer asks and the delivery job
sends to the fake Twilio; the answer comes back through the webhook. Real database (SQLite
and PostgreSQL) and Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from inbox import lifecycle
from inbox.consumers import consume
from inbox.storage import utcnow
from inbox.surveys import SURVEYS_CONSUMER, parse_answer
from tests.channels.twilio.test_messaging import (  # noqa: F401 (fixtures)
    MESSAGING_URL,
    client,
    fake_twilio,
    fixture,
    post,
)
from tests.channels.webchat.test_widget_protocol import replayed
from tests.inbox.test_notifications import all_out
from tests.web.test_api import people  # noqa: F401 (fixture)

PHONE = "+994501234567"


@pytest.mark.parametrize(("text", "answer"), [
    ("4", (4, None)), (" 5/5 ", (5, None)), ("3 - uzun gözlədim", (3, "uzun gözlədim")),
    ("2, оператор не ответил на вопрос", (2, "оператор не ответил на вопрос")),
    ("6", None), ("45", None), ("salam", None), ("1990-cı il", None), ("", None)])
def test_an_answer_is_a_score_from_1_to_5_and_an_optional_comment(text, answer) -> None:
    assert parse_answer(text) == answer


async def sms(client, sid: str, body: str) -> None:  # noqa: F811
    form = fixture("sms_inbound.txt", From=PHONE, MessageSid=sid, SmsSid=sid, Body=body)
    assert (await post(client, MESSAGING_URL, form)).status == 200


async def resolved_case(client, ctx, people, *, by_agent: bool = True) -> int:  # noqa: F811
    """Rəşad writes by SMS about his pension; an agent (or the system) resolves it."""
    await sms(client, "SM11111111111111111111111111111111", "Pensiyam niyə gecikir?")
    async with ctx.store.transaction() as tx:
        identity = await tx.contacts.identity("sms", PHONE)
        conversation = await tx.conversations.latest_of_identity(identity["id"])
        await tx.conversations.update(conversation["id"], category="support", tags=["pension"])
    if by_agent:
        response = await client.post(f"/api/v1/conversations/{conversation['id']}/status",
                                     json={"status": "resolved"},
                                     headers=people["nigar"].headers)
        assert response.status == 200, await response.text()
    else:
        async with ctx.store.transaction() as tx:
            row = await tx.conversations.get(conversation["id"])
            changes = await lifecycle.change_status(tx, row, "resolved", at=utcnow(),
                                                    reason="no reply for 7 days")
            await tx.conversations.update(row["id"], **changes)
    return conversation["id"]


async def surveys_of(ctx, conversation_id: int) -> list[dict]:
    async with ctx.store.read() as tx:
        return await tx.surveys.of_conversation(conversation_id)


async def ask(ctx) -> list[dict]:
    await consume(ctx, SURVEYS_CONSUMER)
    async with ctx.store.read() as tx:
        return [m for m in await all_out(tx) if (m["extra"] or {}).get("survey")]


async def test_an_agents_resolution_asks_once_and_the_answer_reopens_nothing(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resolved_case(client, ctx, people)
    [question] = await ask(ctx)
    assert question["conversation_id"] == conversation_id
    assert question["extra"]["choices"] == ["1", "2", "3", "4", "5"]
    [survey] = await surveys_of(ctx, conversation_id)
    assert survey["agent_id"] == people["nigar"].id and survey["channel"] == "sms"
    assert survey["message_id"] == question["id"]
    # Seen again (a restarted worker): still one question.
    await ctx.redis.delete(SURVEYS_CONSUMER.watermark_key)
    assert len(await ask(ctx)) == 1

    await sms(client, "SM22222222222222222222222222222222", "4 çox sağ olun, tez cavab verdiniz")
    [survey] = await surveys_of(ctx, conversation_id)
    assert (survey["score"], survey["comment"]) == (4, "çox sağ olun, tez cavab verdiniz")
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
        inbound = [m for m in await tx.messages.of_conversation(conversation_id)
                   if m["direction"] == "in"]
    assert conversation["status"] == "resolved"
    assert inbound[-1]["body"].startswith("4 çox")    # kept in the case, nothing reopened
    # A later message is a message again: it opens a new conversation as always.
    await sms(client, "SM33333333333333333333333333333333", "5")
    async with ctx.store.read() as tx:
        identity = await tx.contacts.identity("sms", PHONE)
        latest = await tx.conversations.latest_of_identity(identity["id"])
    assert latest["id"] != conversation_id and latest["status"] != "resolved"


async def test_an_automatic_resolution_asks_nothing(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resolved_case(client, ctx, people, by_agent=False)
    assert await ask(ctx) == []
    assert await surveys_of(ctx, conversation_id) == []


async def test_an_answer_after_expiry_is_a_new_message(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resolved_case(client, ctx, people)
    await ask(ctx)
    [survey] = await surveys_of(ctx, conversation_id)
    async with ctx.store.transaction() as tx:
        await tx.conn.exec_driver_sql(
            f"UPDATE surveys SET expires_at = sent_at WHERE id = {int(survey['id'])}")
    await sms(client, "SM44444444444444444444444444444444", "5")
    [survey] = await surveys_of(ctx, conversation_id)
    assert survey["score"] is None and survey["answered_at"] is None
    async with ctx.store.read() as tx:
        identity = await tx.contacts.identity("sms", PHONE)
        latest = await tx.conversations.latest_of_identity(identity["id"])
    assert latest["id"] != conversation_id and latest["status"] != "resolved"


async def test_csat_is_reported_by_queue_agent_channel_category_and_tag(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resolved_case(client, ctx, people)
    await ask(ctx)
    await sms(client, "SM55555555555555555555555555555555", "5")
    async with ctx.store.read() as tx:
        queue = (await tx.conversations.get(conversation_id))["queue"]
    expected = {"surveys": 1, "answered": 1, "response_rate": 1.0, "average": 5.0,
                "csat": 1.0}
    for group_by, key in (("queue", queue), ("agent", people["nigar"].id), ("channel", "sms"),
                          ("category", "support"), ("tag", "pension")):
        response = await client.get(f"/api/v1/reports/csat?group_by={group_by}",
                                    headers=people["nigar"].headers)
        assert response.status == 200
        assert await response.json() == [{"key": key, **expected}], group_by
    response = await client.get("/api/v1/reports/csat?group_by=mood",
                                headers=people["nigar"].headers)
    assert response.status == 400


async def test_on_the_web_chat_the_question_has_buttons_and_a_pressed_one_is_the_answer(
        aiohttp_client, environment, config, ctx) -> None:
    from tests.channels.webchat.test_channel import say_hello
    from tests.channels.webchat.test_widget_protocol import say

    case = await web_chat_survey(aiohttp_client, config, ctx)    # buttons 1 to 5 shown
    assert "1" in case.question["body"] and "5" in case.question["body"]
    async with case.chat.ws_connect("/chat/ws") as ws:
        await say_hello(ws, session=case.token)
        ack = await say(ws, "c-2", "5")      # what pressing the "5" button sends
    # The window is told the conversation stays resolved: it keeps offering a new one.
    assert ack.get("survey_answer") is True
    [survey] = await surveys_of(ctx, case.conversation_id)
    assert (survey["score"], survey["agent_id"], survey["channel"]) == (5, case.agent.id,
                                                                          "webchat")
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(case.conversation_id))["status"] == "resolved"


async def test_a_rating_resent_after_a_reconnect_is_acknowledged_as_the_answer_once(
        aiohttp_client, environment, config, ctx) -> None:
    from tests.channels.webchat.test_channel import say_hello
    from tests.channels.webchat.test_widget_protocol import say

    case = await web_chat_survey(aiohttp_client, config, ctx)
    async with case.chat.ws_connect("/chat/ws") as ws:
        await say_hello(ws, session=case.token)
        first = await say(ws, "c-2", "5")
    # The network dropped before the window saw that ack: it sends the same frame again.
    async with case.chat.ws_connect("/chat/ws") as ws:
        await say_hello(ws, session=case.token)
        again = await say(ws, "c-2", "5")
    assert again["message_id"] == first["message_id"]
    # Told as the first time: the conversation stays resolved, the window keeps its notice.
    assert again.get("survey_answer") is True
    [survey] = await surveys_of(ctx, case.conversation_id)
    assert survey["score"] == 5
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(case.conversation_id))["status"] == "resolved"
        rows = await tx.messages.of_conversation(case.conversation_id, include_notes=False)
    assert [m["body"] for m in rows if m["direction"] == "in"].count("5") == 1


async def test_a_resent_question_is_not_acknowledged_as_a_rating(
        aiohttp_client, environment, config, ctx) -> None:
    from tests.channels.webchat.test_channel import say_hello
    from tests.channels.webchat.test_widget_protocol import say

    case = await web_chat_survey(aiohttp_client, config, ctx)
    text = "Bir sualım da var: arayış nə vaxt hazır olar?"
    for _ in range(2):   # sent, then resent after a reconnect
        async with case.chat.ws_connect("/chat/ws") as ws:
            await say_hello(ws, session=case.token)
            ack = await say(ws, "c-2", text)
        assert "survey_answer" not in ack


@dataclass(frozen=True)
class ChatSurvey:
    chat: Any                 # the test client of the app
    token: str                # Günel's session
    first_id: int             # her first message
    conversation_id: int
    question: dict            # the rating question as its live frame showed it
    agent: Any


async def web_chat_survey(aiohttp_client, config, ctx) -> ChatSurvey:
    """Günel asks in the web chat, Leyla resolves, and the rating question reaches her
    window."""
    from app import create_app
    from channels.delivery import deliver_message
    from inbox.actions import set_status
    from tests.channels.webchat.test_channel import GUNEL, PENSION, say_hello
    from tests.channels.webchat.test_widget_protocol import (
        conversation_of,
        frame_of,
        leyla,
        say,
    )
    from tests.conftest import with_test_channels

    chat = await aiohttp_client(with_test_channels(create_app(config)))
    agent = await leyla(ctx, presence="online")
    async with chat.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        ack = await say(ws, "c-1", PENSION, name=GUNEL)
        conversation_id = await conversation_of(ctx, ack["message_id"])
        await set_status(ctx, agent, conversation_id, "resolved")
        [question] = await ask(ctx)
        assert await deliver_message(ctx, question["id"]) == "sent"
        frame = await frame_of(ws, "message")
        while frame["message"]["id"] != question["id"]:
            frame = await frame_of(ws, "message")
        assert frame["message"]["choices"] == ["1", "2", "3", "4", "5"]
    return ChatSurvey(chat, token, ack["message_id"], conversation_id, frame["message"], agent)


async def test_a_replayed_question_offers_its_buttons_until_it_is_answered(
        aiohttp_client, environment, config, ctx) -> None:
    from tests.channels.webchat.test_widget_protocol import say

    case = await web_chat_survey(aiohttp_client, config, ctx)
    chat, token, first_id, question = case.chat, case.token, case.first_id, case.question
    conversation_id = case.conversation_id
    for after in (None, first_id):
        history = await replayed(chat, token, after)
        shown = history[question["id"]]
        # As the live frame showed it: the same text, the same buttons.
        assert (shown["body"], shown["choices"]) == (question["body"], question["choices"])
        # Only the question that waits: no other message offers anything.
        assert [m for m in history.values() if "choices" in m] == [shown]

    async with chat.ws_connect("/chat/ws") as ws:
        await ws.send_json({"type": "hello", "session": token, "language": "az",
                            "after": max(history)})
        await say(ws, "c-2", "4")           # the replayed "4" button pressed
    [survey] = await surveys_of(ctx, conversation_id)
    assert survey["score"] == 4
    for after in (None, first_id):
        history = await replayed(chat, token, after)
        assert "choices" not in history[question["id"]], after


async def test_a_replayed_question_offers_no_buttons_once_its_survey_expired(
        aiohttp_client, environment, config, ctx) -> None:
    case = await web_chat_survey(aiohttp_client, config, ctx)
    chat, token, first_id, question = case.chat, case.token, case.first_id, case.question
    conversation_id = case.conversation_id
    [survey] = await surveys_of(ctx, conversation_id)
    async with ctx.store.transaction() as tx:
        await tx.conn.exec_driver_sql(
            f"UPDATE surveys SET expires_at = sent_at WHERE id = {int(survey['id'])}")
    for after in (None, first_id):
        history = await replayed(chat, token, after)
        assert question["id"] in history and "choices" not in history[question["id"]], after


async def test_a_replayed_question_offers_no_buttons_once_a_new_conversation_began(
        aiohttp_client, environment, config, ctx) -> None:
    from tests.channels.webchat.test_widget_protocol import say

    case = await web_chat_survey(aiohttp_client, config, ctx)
    chat, token, first_id, question = case.chat, case.token, case.first_id, case.question
    conversation_id = case.conversation_id
    async with chat.ws_connect("/chat/ws") as ws:
        await ws.send_json({"type": "hello", "session": token, "language": "az"})
        ack = await say(ws, "c-2", "Bir sualım da var: arayış nə vaxt hazır olar?")
    assert "survey_answer" not in ack          # a new conversation: the window shows it open
    history = await replayed(chat, token, first_id)
    assert "choices" not in history[question["id"]]
    [survey] = await surveys_of(ctx, conversation_id)
    assert survey["score"] is None      # a rating now would open no survey's answer


async def test_a_replayed_question_offers_no_buttons_once_the_agent_reopened_the_case(
        aiohttp_client, environment, config, ctx) -> None:
    from inbox.actions import set_status

    case = await web_chat_survey(aiohttp_client, config, ctx)
    await set_status(ctx, case.agent, case.conversation_id, "open")
    history = await replayed(case.chat, case.token)
    assert "choices" not in history[case.question["id"]]
