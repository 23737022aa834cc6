"""An agent's typing shown in the resident's Telegram chat: sendChatAction "typing".

Telegram shows the action for about five seconds, so one call at most every `EVERY_S` per chat
keeps it lit while the agent writes, without spending the bot's rate on keystrokes. The call
is made at once and never retried: a "typing" that arrives late is wrong, not merely slow, and
a failure costs the resident nothing they need.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.constants import ChatAction
from telegram.error import TelegramError

from channels.sending import shared
from channels.telegram import api
from inbox.context import InboxContext

log = logging.getLogger(__name__)

EVERY_S = 4          # at most one chat action per chat this often
TIMEOUT_S = 5.0      # the agent's request does not wait longer for Telegram than this


def throttle_key(chat_id: int) -> str:
    return f"cc:typing:telegram:{chat_id}"


class TelegramTyping:
    async def show(self, ctx: InboxContext, address: str) -> None:
        try:
            chat_id = int(address)
        except ValueError:
            return    # not a chat this channel could have written to
        with ctx.redis_outage.best_effort():
            # SET NX with the interval as its lifetime: the first caller in each interval,
            # across every app instance, is the one that calls Telegram.
            if not await ctx.redis.set(throttle_key(chat_id), 1, nx=True, px=EVERY_S * 1000):
                return
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    async with shared(("telegram", api.api_base()), api.bot_session) as bot:
                        await bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
            except (TelegramError, api.NotConfigured, TimeoutError) as exc:
                # The chat id is the resident's: the reason only, never the id.
                log.warning("Telegram typing not shown: %s", type(exc).__name__)


TELEGRAM_TYPING = TelegramTyping()
