"""The Bot API through python-telegram-bot's `Bot`: opening one, reading its errors, files.

The token goes only into the Bot (which puts it in the request path Telegram requires); our
logs and errors never carry a URL, so never the token.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from telegram import Bot, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from channels.base import MediaError, PermanentSendError, RateLimited, TransientSendError
from channels.media_store import read_stored
from channels.telegram.settings import api_base, bot_token
from inbox.context import InboxContext
from inbox.messages import Attachment

log = logging.getLogger(__name__)
# The Bot API's URL holds the bot token (/bot<token>/<method>): httpx names it in an INFO
# line for every request, python-telegram-bot in its DEBUG lines. Neither may reach a log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("telegram").setLevel(logging.INFO)

FILE_PREFIX = "tg-file:"
# The Bot API hands bots files of at most 20 MB through getFile.
BOT_API_FILE_LIMIT = 20 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
# Reasons the Bot API gives for a chat that will never take our message.
PERMANENT_REASONS = {
    "bot was blocked by the user": "the resident blocked the bot",
    "chat not found": "Telegram does not know this chat (the resident never wrote to the bot "
                      "or deleted the chat)",
    "user is deactivated": "the resident's Telegram account is deleted",
    "bot can't initiate conversation with a user": "the resident never wrote to the bot",
}


class NotConfigured(RuntimeError):
    """TELEGRAM_BOT_TOKEN is not set."""


def open_bot(token: str | None = None) -> tuple[Bot, tuple[HTTPXRequest, HTTPXRequest]]:
    """A Bot for the configured server, and its two HTTP clients (ours to open and close:
    `Bot.initialize` would also call getMe, and its error would name the token)."""
    token = token or bot_token()
    if not token:
        raise NotConfigured("Telegram is not configured: TELEGRAM_BOT_TOKEN is not set")
    base = api_base()
    requests = (HTTPXRequest(connection_pool_size=32, connect_timeout=CONNECT_TIMEOUT_S,
                             read_timeout=READ_TIMEOUT_S),
                # getUpdates waits up to its timeout for updates: its client waits longer.
                HTTPXRequest(connect_timeout=CONNECT_TIMEOUT_S,
                             read_timeout=READ_TIMEOUT_S + 60))
    bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
              request=requests[0], get_updates_request=requests[1])
    return bot, requests


@asynccontextmanager
async def bot_session(token: str | None = None) -> AsyncIterator[Bot]:
    """A Bot whose HTTP clients are open for the block."""
    bot, requests = open_bot(token)
    for request in requests:
        await request.initialize()
    try:
        yield bot
    finally:
        for request in requests:
            await request.shutdown()


def seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _permanent_reason(message: str) -> str | None:
    lowered = message.lower()
    return next((reason for key, reason in PERMANENT_REASONS.items() if key in lowered), None)


def classify(exc: TelegramError) -> Exception:
    """Our send error for the library's: RateLimited with Telegram's retry_after, permanent
    for a chat that will never take it, transient for the network and Telegram's 5xx."""
    if isinstance(exc, RetryAfter):
        wait = seconds(exc.retry_after)
        return RateLimited(f"Telegram asked to wait {wait:.0f} s", wait, by_provider=True)
    if isinstance(exc, InvalidToken):
        return TransientSendError("Telegram refused the bot token (check TELEGRAM_BOT_TOKEN)")
    if isinstance(exc, Forbidden | BadRequest | ChatMigrated):
        reason = _permanent_reason(exc.message) or f"Telegram refused the message: {exc.message}"
        return PermanentSendError(reason, code=type(exc).__name__)
    if isinstance(exc, TimedOut | NetworkError | Conflict):
        return TransientSendError(f"Telegram did not answer: {exc.message}")
    return TransientSendError(f"Telegram error: {exc.message}")


async def fetch_file(url: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes of a `tg-file:<file_id>` attachment: getFile for its path, then the file
    itself; MediaError when it is over `max_bytes` or Telegram will not give it."""
    if not url.startswith(FILE_PREFIX):
        raise MediaError("not a Telegram file reference", transient=False)
    limit = min(max_bytes, BOT_API_FILE_LIMIT)
    try:
        async with bot_session() as bot:
            file = await bot.get_file(url.removeprefix(FILE_PREFIX))
            if file.file_size is not None and file.file_size > limit:
                raise MediaError(f"the file is {file.file_size} bytes, over the limit of "
                                 f"{limit}", transient=False)
            body = bytes(await file.download_as_bytearray())
    except NotConfigured as exc:
        raise MediaError(str(exc), transient=True) from None
    except TelegramError as exc:
        error = classify(exc)
        raise MediaError(f"Telegram would not give the file: {exc.message}",
                         transient=not isinstance(error, PermanentSendError)) from None
    if len(body) > limit:
        raise MediaError(f"the file is over the limit of {limit} bytes", transient=False)
    return body, content_type_of(file.file_path or "")


def content_type_of(path: str) -> str:
    """Telegram tells a file's type only by its path's extension."""
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None and path.endswith(".oga"):
        return "audio/ogg"
    return guessed or "application/octet-stream"


# Telegram shows these as photos (compressed, inline) when at most 10 MB; every other file,
# and a larger photo, goes as a document the resident downloads as it is.
PHOTO_TYPES = ("image/jpeg", "image/png")
PHOTO_LIMIT = 10 * 1024 * 1024


async def send_file(ctx: InboxContext, bot: Bot, chat_id: int, attachment: Attachment
                    ) -> Message:
    """One of an agent's files to the chat: sendPhoto or sendDocument, uploaded as
    multipart from the media store."""
    body = await read_stored(ctx, attachment)
    name = attachment.filename or "file"
    if attachment.content_type in PHOTO_TYPES and len(body) <= PHOTO_LIMIT:
        return await bot.send_photo(chat_id=chat_id, photo=body, filename=name)
    return await bot.send_document(chat_id=chat_id, document=body, filename=name)
