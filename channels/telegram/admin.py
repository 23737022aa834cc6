"""Deployment-time calls: register the webhook once (`app.py telegram set-webhook`), and
what Telegram says of it (`app.py telegram status`, /readyz).

setWebhook runs once at deployment, never at each start: Telegram answers repeated
setWebhook calls with 429 (Rasa's connector does that at every start).
"""

from __future__ import annotations

from typing import Any

from telegram.error import TelegramError

from channels.telegram.api import NotConfigured, bot_session
from channels.telegram.settings import (
    SECRET_PATTERN,
    WEBHOOK_PATH,
    TelegramSettings,
    webhook_secret,
)


class SetupError(Exception):
    """Something an operator must fix; the message says what."""


def webhook_url(public_url: str) -> str:
    if not public_url.startswith("https://"):
        raise SetupError(f"Telegram sends webhooks only to https URLs; PUBLIC_URL is "
                         f"{public_url!r} (use polling mode without a public https URL)")
    return public_url.rstrip("/") + WEBHOOK_PATH


async def set_webhook(public_url: str, settings: TelegramSettings) -> str:
    """Point the bot's webhook at this deployment with the secret and the update kinds; the
    URL set."""
    secret = webhook_secret()
    if secret is None or not SECRET_PATTERN.fullmatch(secret):
        raise SetupError("TELEGRAM_WEBHOOK_SECRET must be set: 1-256 characters of A-Z, a-z, "
                         "0-9, _ and -")
    url = webhook_url(public_url)
    try:
        async with bot_session() as bot:
            await bot.set_webhook(url, secret_token=secret,
                                  allowed_updates=list(settings.allowed_updates),
                                  drop_pending_updates=False)
    except TelegramError as exc:
        raise SetupError(f"Telegram refused setWebhook: {exc.message}") from None
    return url


async def webhook_status(settings: TelegramSettings) -> dict[str, Any]:
    """getWebhookInfo as plain data: where updates go, what waits, the last error."""
    try:
        async with bot_session() as bot:
            info = await bot.get_webhook_info()
    except TelegramError as exc:
        return {"mode": settings.mode, "error": f"Telegram did not answer: {exc.message}"}
    except Exception as exc:   # not configured, or nothing listens: still a status
        return {"mode": settings.mode, "error": str(exc)}
    return {"mode": settings.mode, "url": info.url or None,
            "pending_update_count": info.pending_update_count,
            "last_error_date": info.last_error_date.isoformat() if info.last_error_date
            else None,
            "last_error_message": info.last_error_message,
            "allowed_updates": list(info.allowed_updates or ())}


async def command(action: str, public_url: str, settings: TelegramSettings) -> tuple[int, str]:
    """`app.py telegram set-webhook|status`: (exit status, what to print)."""
    if action == "set-webhook":
        try:
            url = await set_webhook(public_url, settings)
        except (SetupError, NotConfigured) as exc:
            return 1, str(exc)
        return 0, (f"Telegram webhook set to {url} for {', '.join(settings.allowed_updates)}; "
                   "run this again only when the URL or the secret changes")
    status = await webhook_status(settings)
    if "error" in status:
        return 1, status["error"]
    lines = [f"mode (config): {status['mode']}",
             f"webhook URL: {status['url'] or '(none: polling, or not set yet)'}",
             f"pending updates: {status['pending_update_count']}",
             f"allowed updates: {', '.join(status['allowed_updates']) or '(Telegram default)'}",
             f"last error: {status['last_error_message'] or 'none'}"
             + (f" at {status['last_error_date']}" if status["last_error_date"] else "")]
    return 0, "\n".join(lines)
