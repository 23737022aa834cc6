"""The Telegram channel: `POST /webhooks/telegram` (or the worker's polling), and sends.

The webhook checks Telegram's secret header in constant time, reads the Update with
python-telegram-bot's types (`parse`), and answers at once: a resident's message is committed
to the intake journal first (the inbox takes it in right after), an edit is applied, /start
is answered in the webhook's own response (Telegram's "reply with a method" for a webhook),
and a group's or a channel's update is logged and left. Replies go out through
python-telegram-bot's Bot, within about one message a second per chat and `send_rate` a
second overall (`channels.sending.SendRate`: a message with no room goes back to the queue,
never dropped), honouring a 429's retry_after.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram.error import TelegramError

from channels.base import (
    PermanentSendError,
    RateLimited,
    SendResult,
    TransientSendError,
    problem_at,
)
from channels.sending import SendRate, shared
from channels.telegram import api
from channels.telegram.admin import webhook_status
from channels.telegram.parse import (
    TEXT_MAX_CHARS,
    PayloadError,
    Reading,
    greeting,
    inline_keyboard,
    parse_update,
    read_update,
    split_text,
)
from channels.telegram.settings import WEBHOOK_PATH, telegram_settings, webhook_secret
from channels.telegram.typing import TELEGRAM_TYPING
from inbox.channel_traits import ChannelTraits, FileCarriage
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.messages import InboundMessage, OutboundMessage
from inbox.port import ChannelPort
from settings import Config, Problem
from web.appkeys import CONTEXT, INTAKE, READINESS

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLL_JOB = "channels.telegram.polling.poll"
# Polling mode: a resident's message is in within about this long. The job holds a worker's
# horse only for one getUpdates (`poll_timeout`), so sweeps and media fetches are not held up.
POLL_INTERVAL_S = 5
CHAT_RATE = 1            # Telegram: about one message a second to one chat
STATUS_CACHE_S = 60      # /readyz asks getWebhookInfo at most this often

# A bot may upload files of up to 50 MB (Bot API sendDocument).
TRAITS = ChannelTraits(name="telegram", label="Telegram", vouches_phone=True,
                       files=FileCarriage(max_bytes=50 * 1024 * 1024), typing=TELEGRAM_TYPING,
                       dialogue=True)


def _json_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant time, so the secret cannot be guessed a character at a time."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


async def apply(ctx: InboxContext, reading: Reading,
                accept: Callable[[InboundMessage], Awaitable[Any]]) -> dict[str, Any] | None:
    """Do what an update asks (`accept` journals a message); the Bot API method a webhook
    answers with, if any (/start's greeting, a button press's acknowledgement)."""
    port = ChannelPort(ctx)
    if reading.kind == "store":
        if reading.vouched_phone:
            # Stored first (the identity must exist), then the phone joins the contact.
            await port.ingest(reading.message)
            outcome = await port.vouch_phone("telegram", reading.message.address,
                                             reading.vouched_phone)
            log.info("a Telegram resident shared their own phone number: %s", outcome)
        else:
            await accept(reading.message)
    elif reading.kind == "edit":
        await port.edit_message("telegram", reading.edited_external_id, reading.edited_text,
                                reading.edited_at)
    elif reading.kind == "greet":
        text, keyboard = greeting(reading.language, reading.name)
        return {"method": "sendMessage", "chat_id": reading.chat_id, "text": text,
                "reply_markup": keyboard.to_dict()}
    else:
        log.info("ignored a Telegram update: %s", reading.reason)
    if reading.callback_query_id:
        return {"method": "answerCallbackQuery", "callback_query_id": reading.callback_query_id}
    return None


async def telegram_webhook(request: web.Request) -> web.Response:
    secret = webhook_secret()
    if secret is None:
        raise _json_error(web.HTTPServiceUnavailable, "Telegram webhooks are not configured: "
                                                      "TELEGRAM_WEBHOOK_SECRET is not set")
    if not secret_matches(request.headers.get(SECRET_HEADER), secret):
        log.warning("rejected a Telegram webhook: bad or missing %s", SECRET_HEADER)
        raise _json_error(web.HTTPForbidden, f"invalid or missing {SECRET_HEADER}")
    body = await request.read()   # over client_max_size: 413 before it is read
    try:
        update = parse_update(json.loads(body))
    except (ValueError, PayloadError) as exc:
        message = str(exc) if isinstance(exc, PayloadError) else "the body is not JSON"
        raise _json_error(web.HTTPBadRequest, message) from None
    reading = read_update(update, utcnow(), raw_size=len(body))
    answer = await apply(request.app[CONTEXT], reading, request.app[INTAKE].accept)
    if answer is None:
        return web.Response(status=200)
    return web.json_response(answer)


class TelegramChannel:
    traits = TRAITS
    name = TRAITS.name

    def __init__(self) -> None:
        self._status: tuple[float, dict[str, Any]] | None = None

    def check_config(self, config: Config) -> list[Problem]:
        try:
            telegram_settings(config.channels.section("telegram"))
        except ValueError as exc:
            return [problem_at(config, str(exc))]
        return []

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        """getUpdates in the worker, in polling mode only (the job also checks, in case the
        config changed under a running scheduler)."""
        try:
            settings = telegram_settings(config.channels.section("telegram"))
        except ValueError:
            return {}   # reported by `check_config`
        return {POLL_JOB: POLL_INTERVAL_S} \
            if settings.enabled and settings.mode == "polling" else {}

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, telegram_webhook, name="telegram-webhook")
        app[READINESS]["telegram"] = self.readiness

    async def readiness(self, ctx: InboxContext) -> dict[str, Any] | None:
        """getWebhookInfo for /readyz (at most once a minute); None when Telegram is off."""
        settings = telegram_settings(ctx.config.channels.section("telegram"))
        if not settings.enabled:
            return None
        now = time.monotonic()
        if self._status is None or now - self._status[0] > STATUS_CACHE_S:
            self._status = (now, await webhook_status(settings))
        return self._status[1]

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        return await api.fetch_file(url, max_bytes)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        try:
            settings = telegram_settings(ctx.config.channels.section("telegram"))
            chat_id = int(message.address)
        except ValueError as exc:
            raise PermanentSendError(str(exc)) from None
        rate = SendRate("telegram", settings.send_rate)
        chat_rate = SendRate(f"telegram-chat:{chat_id}", CHAT_RATE)
        urgent = message.author_kind == "agent"
        # A reply of files alone sends no empty text; each file is a part after the text's.
        parts = split_text(message.body, TEXT_MAX_CHARS) if message.body.strip() else []
        files = list(message.attachments)
        keyboard = inline_keyboard(message.choices, message.buttons)
        accepted = list(message.accepted_parts)
        port = ChannelPort(ctx)
        try:
            async with shared(("telegram", api.api_base()), api.bot_session) as bot:
                for part in range(len(accepted), len(parts) + len(files)):
                    await chat_rate.slot(ctx.redis, urgent=True)
                    await rate.slot(ctx.redis, urgent=urgent)
                    last = part == len(parts) - 1
                    try:
                        if part < len(parts):
                            sent = await bot.send_message(
                                chat_id=chat_id, text=parts[part],
                                reply_markup=keyboard if last else None)
                        else:
                            sent = await api.send_file(ctx, bot, chat_id,
                                                       files[part - len(parts)])
                    except TelegramError as exc:
                        raise api.classify(exc) from None
                    external_id = f"{chat_id}:{sent.message_id}"
                    await port.record_part(message, part, external_id)
                    accepted.append(external_id)
        except api.NotConfigured as exc:
            raise TransientSendError(str(exc)) from None
        except RateLimited as exc:
            if exc.by_provider:   # every worker holds back, not only this send
                await rate.pause(ctx.redis, exc.retry_after_s)
            raise
        return SendResult(external_id=accepted[0])


TELEGRAM_CHANNEL = TelegramChannel()
