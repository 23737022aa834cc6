"""Telegram updates as the inbox reads them: pure functions over python-telegram-bot's types.

`read_update` turns one `telegram.Update` into what should happen (`Reading`): a message to
store, an edit to apply, a greeting to send, or nothing (a group, a channel, an update kind we
do not serve). Nothing here does I/O, so the webhook and the polling job share it and tests
replay captured updates through it.

Deduplication: a resident's message is stored under "{chat_id}:{message_id}" (Telegram's
own key of a message; the messages table's unique (channel, external_id) refuses a second
copy), a button press under "callback:{id}", and an edit is applied only when the stored
text differs. So every update kind carries its own durable key, and a re-delivered update
(same update_id) is stored once without a table of update ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
    User,
)

from inbox.messages import Attachment, InboundMessage
from inbox.replies import REPLY_LANGUAGES, render_reply, reply_language

CHANNEL = "telegram"
START_COMMAND = "/start"
MAX_NAME = 200
# Telegram's limits: a text message, an inline button's callback data (bytes).
TEXT_MAX_CHARS = 4096
CALLBACK_DATA_MAX_BYTES = 64


class PayloadError(ValueError):
    """A body that is not a Telegram Update we can read; answered with 400."""


@dataclass(frozen=True)
class Reading:
    """What one update asks of us. `kind`: store, edit, greet or ignore."""

    kind: str
    message: InboundMessage | None = None
    vouched_phone: str | None = None      # store: a contact the sender shared of themselves
    edited_text: str | None = None
    edited_external_id: str | None = None
    edited_at: datetime | None = None
    chat_id: int | None = None            # greet: where; callback: whose button
    language: str = "az"
    name: str | None = None
    callback_query_id: str | None = None  # a button press to acknowledge
    reason: str | None = None             # ignore: why, without personal data


def parse_update(data: Any) -> Update:
    """The Update a webhook body or getUpdates item holds; PayloadError when it is none."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise PayloadError("expected a Telegram Update object with an integer update_id")
    try:
        update = Update.de_json(data, None)
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"not a Telegram Update: {type(exc).__name__}") from None
    if update is None:
        raise PayloadError("expected a Telegram Update object")
    return update


def language_of(user: User | None) -> str:
    """The reply language of a Telegram user's app (its language_code "ru", "en-GB", ...)."""
    code = ((user.language_code if user else None) or "").split("-")[0].lower()
    return reply_language(code if code in REPLY_LANGUAGES else None)


def display_name(user: User | None) -> str | None:
    if user is None:
        return None
    name = " ".join(part for part in (user.first_name, user.last_name) if part).strip()
    return name[:MAX_NAME] or None


def profile(user: User | None) -> dict[str, Any]:
    """What the console shows of the resident's Telegram account."""
    if user is None:
        return {}
    return {"telegram": {"name": display_name(user), "username": user.username,
                         "user_id": user.id}}


def external_id(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def _phone(raw: str) -> str | None:
    """Telegram's contact phone ("994501234567", no plus) as E.164, or None."""
    try:
        number = phonenumbers.parse(raw if raw.startswith("+") else "+" + raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def attachments_of(message: Message) -> tuple[Attachment, ...]:
    """The files a message carries, each by its file_id ("tg-file:<id>"): the media job asks
    getFile for it later. A photo comes in several sizes; the largest is kept."""
    found: list[Attachment] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(Attachment("image/jpeg", f"photo-{message.message_id}.jpg",
                                largest.file_size, f"tg-file:{largest.file_id}"))
    if message.document:
        d = message.document
        found.append(Attachment(d.mime_type or "application/octet-stream", d.file_name,
                                d.file_size, f"tg-file:{d.file_id}"))
    if message.voice:
        v = message.voice
        found.append(Attachment(v.mime_type or "audio/ogg", f"voice-{message.message_id}.ogg",
                                v.file_size, f"tg-file:{v.file_id}"))
    if message.video:
        v = message.video
        found.append(Attachment(v.mime_type or "video/mp4", v.file_name, v.file_size,
                                f"tg-file:{v.file_id}"))
    return tuple(found)


def text_of(message: Message) -> str:
    text = (message.text or message.caption or "").strip()
    if message.location is not None:
        place = f"📍 {message.location.latitude:.6f}, {message.location.longitude:.6f}"
        text = f"{text}\n{place}".strip()
    return text


def _private(message: Message) -> bool:
    return message.chat.type == "private" and message.from_user is not None \
        and not message.from_user.is_bot


def _stored(message: Message, text: str, received_at: datetime, raw_size: int,
            phone: str | None = None, extra: dict[str, Any] | None = None) -> InboundMessage:
    user = message.from_user
    return InboundMessage(
        channel=CHANNEL, external_id=external_id(message.chat.id, message.message_id),
        address=str(message.chat.id), text=text, received_at=received_at,
        display_name=display_name(user), phone=phone, language=language_of(user),
        attachments=attachments_of(message), raw_size=raw_size,
        extra={**profile(user), **(extra or {})})


def _read_message(message: Message, received_at: datetime, raw_size: int) -> Reading:
    user = message.from_user
    if (message.text or "").split("@")[0].split(" ")[0] == START_COMMAND:
        return Reading("greet", chat_id=message.chat.id, language=language_of(user),
                       name=display_name(user))
    if message.contact is not None:
        contact = message.contact
        own = contact.user_id is not None and contact.user_id == user.id
        phone = _phone(contact.phone_number or "") if own else None
        # Someone else's number is only text an agent reads: it joins nothing.
        shared = "📱 " + (contact.phone_number or "") if own \
            else "📱 " + " ".join(p for p in (contact.first_name, contact.last_name,
                                              contact.phone_number) if p)
        return Reading("store", message=_stored(message, shared.strip(), received_at, raw_size,
                                                phone=phone,
                                                extra={"shared_contact": "own" if own
                                                       else "someone else's"}),
                       vouched_phone=phone)
    text = text_of(message)
    attachments = attachments_of(message)
    if not text and not attachments:
        return Reading("ignore", reason="a message kind we do not take (sticker, poll, ...)")
    return Reading("store", message=_stored(message, text, received_at, raw_size))


def _button_text(query: CallbackQuery) -> str | None:
    """The label of the inline button pressed, from the keyboard of the message it was on
    (our own message: the resident's answer is what they saw)."""
    markup = query.message.reply_markup if query.message else None
    for row in (markup.inline_keyboard if markup else ()):
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None


def _read_callback(query: CallbackQuery, received_at: datetime, raw_size: int) -> Reading:
    chat = query.message.chat if query.message else None
    if chat is None or chat.type != "private":
        return Reading("ignore", reason="a button press outside a private chat",
                       callback_query_id=query.id)
    answer = _button_text(query) or (query.data or "").strip()
    if not answer:
        return Reading("ignore", reason="a button press without data",
                       callback_query_id=query.id)
    user = query.from_user
    message = InboundMessage(
        channel=CHANNEL, external_id=f"callback:{query.id}", address=str(chat.id),
        text=answer, received_at=received_at, display_name=display_name(user),
        language=language_of(user), raw_size=raw_size,
        extra={**profile(user), "answered": external_id(chat.id, query.message.message_id)})
    return Reading("store", message=message, callback_query_id=query.id, chat_id=chat.id)


def read_update(update: Update, received_at: datetime, raw_size: int = 0) -> Reading:
    """What `update` asks of the inbox (see `Reading`)."""
    if update.message is not None:
        if not _private(update.message):
            return Reading("ignore", reason=f"a message in a {update.message.chat.type} chat")
        return _read_message(update.message, received_at, raw_size)
    if update.edited_message is not None:
        edited = update.edited_message
        if not _private(edited):
            return Reading("ignore", reason=f"an edit in a {edited.chat.type} chat")
        return Reading("edit", edited_external_id=external_id(edited.chat.id, edited.message_id),
                       edited_text=text_of(edited),
                       edited_at=edited.edit_date or received_at)
    if update.callback_query is not None:
        return _read_callback(update.callback_query, received_at, raw_size)
    kinds = [k for k in ("channel_post", "edited_channel_post", "my_chat_member",
                         "chat_member", "inline_query", "poll", "message_reaction")
             if getattr(update, k, None) is not None]
    return Reading("ignore", reason=f"an update of kind {kinds[0] if kinds else 'unknown'}")


# --- outbound: keyboards and the greeting (pure) ------------------------------------------


def callback_data(index: int, choice: str) -> str:
    """An inline button's data: the choice itself when it fits Telegram's 64 bytes, else
    its number (the label comes back from the keyboard either way)."""
    return choice if len(choice.encode()) <= CALLBACK_DATA_MAX_BYTES else f"choice:{index}"


def inline_keyboard(choices: tuple[str, ...], buttons: tuple[str, ...]
                    ) -> InlineKeyboardMarkup | None:
    """Choices one to a row, buttons side by side below them."""
    labels = [*choices, *buttons]
    if not labels:
        return None
    rows = [[InlineKeyboardButton(c, callback_data=callback_data(i, c))]
            for i, c in enumerate(choices, start=1)]
    if buttons:
        rows.append([InlineKeyboardButton(b, callback_data=callback_data(len(choices) + i, b))
                     for i, b in enumerate(buttons, start=1)])
    return InlineKeyboardMarkup(rows)


def greeting(language: str, name: str | None) -> tuple[str, ReplyKeyboardMarkup]:
    """/start's answer in the resident's language, with the "share my phone number" button."""
    text = render_reply("telegram_start", language, name=name)
    button = KeyboardButton(render_reply("telegram_share_phone", language),
                            request_contact=True)
    return text, ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at the last line break or space
    that fits; never an empty list."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind("\n"), window.rfind(" "))
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest or not parts else parts
