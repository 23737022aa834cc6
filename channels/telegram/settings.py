"""`channels.telegram` in config.yaml, and the bot's secrets from the environment.

    channels:
      telegram:
        enabled: true
        mode: webhook            # or polling: the worker asks getUpdates (no public URL needed)
        allowed_updates: [message, edited_message, callback_query]
        send_rate: 30            # messages a second to Telegram from all workers together
        poll_timeout: 1          # polling: how long one getUpdates waits for updates (s)

The bot token and the webhook secret are secrets: `TELEGRAM_BOT_TOKEN` and
`TELEGRAM_WEBHOOK_SECRET`, never in the file; `TELEGRAM_API_BASE` points at a self-hosted Bot
API server (or a test's fake).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

API_BASE = "https://api.telegram.org"
WEBHOOK_PATH = "/webhooks/telegram"
MODES = ("webhook", "polling")
UPDATE_KINDS = ("message", "edited_message", "callback_query")
DEFAULT_SEND_RATE = 30     # Telegram: about 30 messages a second to different chats
# Below the poll job's interval (5 s), so one job's request ends before the next one asks:
# Telegram answers two getUpdates at once with 409.
MAX_POLL_TIMEOUT = 4
KEYS = ("enabled", "mode", "allowed_updates", "send_rate", "poll_timeout")
# Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class TelegramSettings:
    enabled: bool = False
    mode: str = "webhook"
    allowed_updates: tuple[str, ...] = UPDATE_KINDS
    send_rate: int = DEFAULT_SEND_RATE
    poll_timeout: int = 1


def _whole(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"channels.telegram.{key}: expected a whole number from {low} to "
                         f"{high}")
    return value


def telegram_settings(raw: Mapping[str, Any] | None) -> TelegramSettings:
    """The section's settings; ValueError "channels.telegram.<key>: what is wrong"."""
    if raw is None:
        return TelegramSettings()
    if not isinstance(raw, Mapping):
        raise ValueError("channels.telegram: expected a mapping")
    for key in raw:
        if key not in KEYS:
            raise ValueError(f"channels.telegram.{key}: unknown key (known: {', '.join(KEYS)})")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ValueError("channels.telegram.enabled: expected true or false")
    mode = raw.get("mode", "webhook")
    if mode not in MODES:
        raise ValueError(f"channels.telegram.mode: expected one of {', '.join(MODES)}")
    kinds = raw.get("allowed_updates", list(UPDATE_KINDS))
    if not isinstance(kinds, list) or not kinds or any(k not in UPDATE_KINDS for k in kinds):
        raise ValueError("channels.telegram.allowed_updates: expected a list of "
                         f"{', '.join(UPDATE_KINDS)}")
    return TelegramSettings(enabled=enabled, mode=mode, allowed_updates=tuple(kinds),
                            send_rate=_whole(raw, "send_rate", DEFAULT_SEND_RATE, 1, 1000),
                            poll_timeout=_whole(raw, "poll_timeout", 1, 0, MAX_POLL_TIMEOUT))


def bot_token() -> str | None:
    return os.environ.get("TELEGRAM_BOT_TOKEN") or None


def webhook_secret() -> str | None:
    return os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None


def api_base() -> str:
    return (os.environ.get("TELEGRAM_API_BASE") or API_BASE).rstrip("/")
