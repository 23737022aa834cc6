"""Telegram updates read by `channels.telegram.parse`: captured updates, exact outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.telegram.parse import (
    CHANNEL,
    PayloadError,
    greeting,
    inline_keyboard,
    parse_update,
    read_update,
    split_text,
)
from inbox.messages import Attachment

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "telegram"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
AYGUN = {"telegram": {"name": "Aygün Məmmədova", "username": "aygun_m", "user_id": 512345678}}


def update(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def read(name: str):
    return read_update(parse_update(update(name)), NOW, raw_size=321)


def test_a_private_text_in_azerbaijani_is_a_message_keyed_by_chat_and_message_id() -> None:
    reading = read("private_text_az")
    assert reading.kind == "store" and reading.vouched_phone is None
    message = reading.message
    assert (message.channel, message.external_id, message.address) == \
        (CHANNEL, "512345678:41", "512345678")
    assert message.text == "Salam, vətəndaşlığın bərpası üçün hansı sənədlər lazımdır?"
    assert message.display_name == "Aygün Məmmədova" and message.language == "az"
    assert message.phone is None and message.attachments == () and message.raw_size == 321
    assert message.extra == AYGUN and message.received_at == NOW


def test_a_russian_user_is_answered_in_russian() -> None:
    message = read("private_text_ru").message
    assert message.language == "ru" and message.display_name == "Игорь"
    assert message.extra["telegram"]["username"] == "igor_p"


def test_an_unknown_app_language_falls_back_to_azerbaijani() -> None:
    data = update("private_text_ru")
    data["message"]["from"]["language_code"] = "de"
    assert read_update(parse_update(data), NOW).message.language == "az"


def test_a_photo_keeps_its_largest_size_and_its_caption() -> None:
    message = read("photo").message
    assert message.text == "Pasportumun şəkli"
    assert message.attachments == (
        Attachment("image/jpeg", "photo-42.jpg", 68123, "tg-file:AgACAgIAAxkBAAMqZ1-large"),)


@pytest.mark.parametrize(("name", "attachment"), [
    ("document", Attachment("application/pdf", "arayis.pdf", 48211,
                            "tg-file:BQACAgIAAxkBAAMrZ1-doc")),
    ("voice", Attachment("audio/ogg", "voice-44.ogg", 9342, "tg-file:AwACAgIAAxkBAAMsZ1-voice")),
    ("video", Attachment("video/mp4", "video.mp4", 212000, "tg-file:BAACAgIAAxkBAAMwZ1-video")),
])
def test_files_become_attachments_fetched_later_by_file_id(name, attachment) -> None:
    message = read(name).message
    assert message.attachments == (attachment,) and message.text == ""


def test_a_location_is_a_message_with_its_coordinates() -> None:
    message = read("location").message
    assert message.text == "📍 40.409264, 49.867092"


def test_an_edit_names_the_stored_message_and_its_new_text() -> None:
    reading = read("edited_message")
    assert reading.kind == "edit" and reading.edited_external_id == "512345678:41"
    assert reading.edited_text.endswith("Mən Rusiyadan qayıtmışam.")
    assert reading.edited_at == datetime.fromtimestamp(1764763390, UTC)


def test_a_contact_shared_of_oneself_vouches_for_the_phone() -> None:
    reading = read("contact_self")
    assert reading.kind == "store" and reading.vouched_phone == "+994501234567"
    assert reading.message.phone == "+994501234567"
    assert reading.message.extra["shared_contact"] == "own"


def test_a_contact_of_someone_else_vouches_for_nothing() -> None:
    reading = read("contact_other")
    assert reading.kind == "store" and reading.vouched_phone is None
    assert reading.message.phone is None
    assert reading.message.text == "📱 Rəşad +994551112233"
    assert reading.message.extra["shared_contact"] == "someone else's"


def test_start_asks_for_a_greeting_in_the_residents_language() -> None:
    reading = read("start")
    assert (reading.kind, reading.chat_id, reading.language, reading.name) == \
        ("greet", 623456789, "ru", "Игорь")
    text, keyboard = greeting(reading.language, reading.name)
    assert text.startswith("Здравствуйте, Игорь!")
    [[button]] = keyboard.keyboard
    assert button.text == "Поделиться номером телефона" and button.request_contact is True


@pytest.mark.parametrize(("language", "opening", "label"), [
    ("az", "Salam!", "Telefon nömrəmi paylaş"), ("en", "Hello!", "Share my phone number"),
    (None, "Salam!", "Telefon nömrəmi paylaş")])
def test_the_greeting_exists_in_every_language(language, opening, label) -> None:
    text, keyboard = greeting(language, None)
    assert text.startswith(opening) and keyboard.keyboard[0][0].text == label


def test_a_button_press_is_the_residents_answer_in_the_buttons_words() -> None:
    reading = read("callback_query")
    assert reading.kind == "store" and reading.callback_query_id == "2203495869217473125"
    message = reading.message
    assert (message.external_id, message.address, message.text) == \
        ("callback:2203495869217473125", "512345678", "Pensiya")
    assert message.extra["answered"] == "512345678:50"


def test_a_group_message_is_ignored_with_a_reason_free_of_personal_data() -> None:
    reading = read("group_message")
    assert reading.kind == "ignore" and reading.message is None
    assert reading.reason == "a message in a supergroup chat"


@pytest.mark.parametrize("body", [[], {"message": {}}, {"update_id": "1"},
                                  {"update_id": 5, "message": {"message_id": 1}}])
def test_what_is_not_an_update_is_a_payload_error(body) -> None:
    with pytest.raises(PayloadError):
        parse_update(body)


def test_choices_become_an_inline_keyboard_whose_labels_come_back() -> None:
    long_choice = "Vətəndaşlığın bərpası və şəxsiyyət vəsiqəsinin yenidən verilməsi"
    keyboard = inline_keyboard(("Qeydiyyat", long_choice), ("Operator",))
    rows = [[(b.text, b.callback_data) for b in row] for row in keyboard.inline_keyboard]
    assert rows == [[("Qeydiyyat", "Qeydiyyat")], [(long_choice, "choice:2")],
                    [("Operator", "Operator")]]
    assert inline_keyboard((), ()) is None


def test_long_texts_are_cut_at_spaces_within_telegrams_limit() -> None:
    text = " ".join(["müraciət"] * 1000)
    parts = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts) == text and len(parts) == 3
