"""Polling mode: the worker asks getUpdates, for deployments without a public https URL.

A periodic job (`channels.telegram.channel.POLL_JOB`, every few seconds) asks once, waiting
at most `poll_timeout` seconds for updates, and takes in what comes the way the webhook does
(`channel.apply`). The offset (the update after the last one taken in) is kept in Redis;
Telegram itself holds the same mark, since a getUpdates with an offset confirms every update
before it, so a lost offset only asks Telegram for the unconfirmed updates again, and those
are stored once (their messages' unique keys). Updates are confirmed only after they were
stored.
"""

from __future__ import annotations

import logging
import time

from telegram import Bot, ReplyKeyboardMarkup
from telegram.error import Conflict, TelegramError

from channels.telegram.api import NotConfigured, bot_session
from channels.telegram.channel import apply
from channels.telegram.parse import Reading, parse_update, read_update
from channels.telegram.settings import telegram_settings
from inbox.channel_traits import installed
from inbox.clock import utcnow
from inbox.context import InboxContext, run_in_job_context
from inbox.messages import InboundMessage
from inbox.port import ChannelPort

log = logging.getLogger(__name__)

OFFSET_KEY = "cc:telegram:offset"
POLL_BUDGET_S = 0      # one getUpdates a job: the next job, seconds later, asks again
BATCH = 100            # getUpdates' own maximum


def poll() -> int:
    """The periodic job: updates taken in (0 when Telegram is off or not in polling mode)."""
    return run_in_job_context(_poll_job, channels=installed())


async def _poll_job(ctx: InboxContext) -> int:
    settings = telegram_settings(ctx.config.channels.section("telegram"))
    if not settings.enabled or settings.mode != "polling":
        return 0
    return await poll_updates(ctx, budget_s=POLL_BUDGET_S)


async def poll_updates(ctx: InboxContext, budget_s: float) -> int:
    """Long-poll getUpdates until `budget_s` has passed; how many updates were taken in."""
    settings = telegram_settings(ctx.config.channels.section("telegram"))
    deadline = time.monotonic() + budget_s
    taken = 0
    try:
        async with bot_session() as bot:
            while True:
                left = deadline - time.monotonic()
                raw = await ctx.redis.get(OFFSET_KEY)
                offset = int(raw) if raw else None
                updates = await bot.get_updates(
                    offset=offset, limit=BATCH,
                    timeout=max(0, min(settings.poll_timeout, int(left))),
                    allowed_updates=list(settings.allowed_updates))
                if updates:
                    await take_in(ctx, bot, [u.to_dict() for u in updates])
                    taken += len(updates)
                    await ctx.redis.set(OFFSET_KEY, max(u.update_id for u in updates) + 1)
                if time.monotonic() >= deadline:
                    return taken
    except Conflict as exc:
        # A webhook is set, or another poller runs: Telegram serves one at a time.
        log.warning("Telegram refused getUpdates: %s", exc.message)
    except (TelegramError, NotConfigured) as exc:
        log.warning("polling Telegram failed: %s", exc)
    return taken


async def take_in(ctx: InboxContext, bot: Bot, raw_updates: list[dict]) -> None:
    """Store what the updates carry, as the webhook would; greetings and button
    acknowledgements go out through the Bot instead of a webhook's answer."""
    readings = [read_update(parse_update(raw), utcnow()) for raw in raw_updates]
    collected: list[InboundMessage] = []

    async def collect(message: InboundMessage) -> None:
        collected.append(message)

    def plain(reading: Reading) -> bool:
        return reading.kind == "store" and not reading.vouched_phone

    answers = [await apply(ctx, reading, collect) for reading in readings if plain(reading)]
    # In few transactions, a resident's in order; then what refers to them (edits, phones).
    for result in await ChannelPort(ctx).ingest_many(collected):
        if isinstance(result, Exception):
            log.warning("a polled Telegram message was not stored: %s", type(result).__name__)
    answers += [await apply(ctx, reading, collect) for reading in readings
                if not plain(reading)]
    for answer in answers:
        if answer is None:
            continue
        try:
            await _send_answer(bot, answer)
        except TelegramError as exc:
            log.warning("Telegram refused %s: %s", answer["method"], exc.message)


async def _send_answer(bot: Bot, answer: dict) -> None:
    """What a webhook would have answered with (`channel.apply`), as a call of its own."""
    if answer["method"] == "answerCallbackQuery":
        await bot.answer_callback_query(answer["callback_query_id"])
    else:
        await bot.send_message(answer["chat_id"], answer["text"],
                               reply_markup=ReplyKeyboardMarkup.de_json(answer["reply_markup"],
                                                                        bot))
