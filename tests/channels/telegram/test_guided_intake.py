"""A whole guided intake in Russian over Telegram's real webhook, with the fake Bot API
behind the sends: the questions carry inline keyboards, and a button press answers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from tests.channels.telegram.conftest import post, telegram_config
from tests.inbox.guided_intake.support import (
    conversation,
    deliver_bot_messages,
    intake_of,
    with_intake,
)

CHAT = 623456789
IGOR = {"id": CHAT, "is_bot": False, "first_name": "Игорь", "last_name": "Петров",
        "language_code": "ru"}
ids = itertools.count(731300000)


@pytest.fixture
def config(tmp_path, environment):
    return with_intake(telegram_config(tmp_path, "{enabled: true}"))


def text_update(text: str) -> dict:
    n = next(ids)
    return {"update_id": n, "message": {
        "message_id": n % 100000, "from": IGOR, "date": 1764763260, "text": text,
        "chat": {"id": CHAT, "first_name": "Игорь", "type": "private"}}}


def press(bot_message: dict, label: str) -> dict:
    """The callback of pressing `label` on the keyboard of the bot's `bot_message`."""
    keyboard = bot_message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
    n = next(ids)
    return {"update_id": n, "callback_query": {
        "id": str(n), "from": IGOR, "chat_instance": "-42", "data": data,
        "message": {"message_id": 900, "date": 1764763500, "text": bot_message["text"],
                    "chat": {"id": CHAT, "type": "private", "first_name": "Игорь"},
                    "from": {"id": 7012345678, "is_bot": True, "first_name": "DOST"},
                    "reply_markup": bot_message["reply_markup"]}}}


async def turn(app_client, ctx, fake, body: dict) -> list[dict]:
    before = len(fake.sent())
    assert (await post(app_client, body)).status == 200
    await deliver_bot_messages(ctx)
    return fake.sent()[before:]


async def test_a_whole_intake_in_russian_with_buttons(client, ctx, fake_telegram):
    sent = await turn(client, ctx, fake_telegram,
                      text_update("Здравствуйте, хочу пройти первичную регистрацию"))
    [consent] = sent
    assert consent["text"].startswith("Здравствуйте, Игорь Петров!")
    assert [row[0]["text"] for row in consent["reply_markup"]["inline_keyboard"]] == \
        ["Да, согласен(на)", "Нет, соединить с оператором"]
    sent = await turn(client, ctx, fake_telegram, press(consent, "Да, согласен(на)"))
    assert sent[-1]["text"].endswith("Напишите ваше полное имя (фамилия, имя, отчество).")
    for answer in ["Игорь Петров", "7KQ4PZ1", "AA1234567", "02.11.1979",
                   "Ханкенди, ул. Азадлыг 5"]:
        sent = await turn(client, ctx, fake_telegram, text_update(answer))
    service = sent[-1]
    assert service["text"] == "Какая услуга вам нужна?"
    sent = await turn(client, ctx, fake_telegram,
                      press(service, "Разрешение на временное или постоянное проживание"))
    sent = await turn(client, ctx, fake_telegram, press(sent[-1], "Telegram"))
    assert "Копия заграничного паспорта" in sent[-1]["text"]
    sent = await turn(client, ctx, fake_telegram, press(sent[-1], "Готово"))
    assert sent[-1]["text"].startswith("Спасибо! Ваша заявка принята")
    async with ctx.store.read() as tx:
        assert await tx.intakes.due(datetime.max.replace(tzinfo=UTC)) == []   # nothing to remind
    conversation_id = int(sent[-1]["text"].split("обращения ")[1].split(")")[0])
    intake = await intake_of(ctx, conversation_id)
    assert intake["status"] == "complete"
    assert intake["state"]["answers"]["service"] == "residence-permit"
    assert intake["state"]["answers"]["result_channel"] == "telegram"
    assert intake["state"]["answers"]["id_card"] == "AA1234567"
    assert (await conversation(ctx, conversation_id))["status"] == "waiting"
