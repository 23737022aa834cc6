"""The delivery job: send one outbox message through its channel.

rq runs `deliver(message_id)`; the job takes an id, not an object, and loads fresh state,
so a retried or re-driven job sees the truth. Transient failures go back to `queued` and
raise so rq retries with back-off; permanent ones are marked failed with the reason.
A retried or re-driven send carries what earlier attempts left behind (the parts the
provider accepted, and whether an answer may have been lost), so a channel whose provider
can be asked sends each part once; the README's "Delivery guarantees" says what each
channel really promises.
"""

from __future__ import annotations

import asyncio
import logging
import os

from rq import get_current_job

from channels.base import PermanentSendError, TransientSendError
from channels.registry import channel_book, channel_for
from inbox import outbox
from inbox.context import InboxContext, open_context
from inbox.jobs import DELIVERY_RETRY_INTERVALS

log = logging.getLogger(__name__)

# Resilience tests stop a worker in the middle of a send; this widens that window on purpose.
FAULT_DELAY_ENV = "CC_FAULT_DELIVERY_DELAY_S"


def deliver(message_id: int) -> str:
    return asyncio.run(_deliver_once(message_id))


async def _deliver_once(message_id: int) -> str:
    ctx = open_context(pool=False, channels=channel_book())
    try:
        return await deliver_message(ctx, message_id)
    finally:
        await ctx.close()


def _retry_delay(attempt: int) -> int:
    return DELIVERY_RETRY_INTERVALS[min(attempt - 1, len(DELIVERY_RETRY_INTERVALS) - 1)]


async def deliver_message(ctx: InboxContext, message_id: int) -> str:
    claimed = await outbox.claim(ctx, message_id)
    if claimed is None:
        log.info("message %s is not waiting to be sent; nothing to do", message_id)
        return "skipped"
    if delay := float(os.environ.get(FAULT_DELAY_ENV) or 0):
        await asyncio.sleep(delay)
    message = claimed.message
    try:
        result = await channel_for(message.channel).send(ctx, message)
    except PermanentSendError as exc:
        reason = f"{exc.code}: {exc.reason}" if exc.code else exc.reason
        await outbox.mark_failed(ctx, message_id, reason)
        log.warning("message %s failed permanently (%s)", message_id, exc.code or "no code")
        await outbox.announce_delivery(ctx, message_id)
        return "failed"
    except (TransientSendError, OSError, TimeoutError) as exc:
        if claimed.attempt >= ctx.config.outbox.max_attempts:
            await outbox.mark_failed(ctx, message_id, f"gave up after {claimed.attempt} "
                                                      f"attempts: {exc}")
            await outbox.announce_delivery(ctx, message_id)
            return "failed"
        await outbox.mark_retry(ctx, message_id, str(exc), _retry_delay(claimed.attempt))
        log.warning("message %s send attempt %s failed; will retry", message_id, claimed.attempt)
        if get_current_job() is not None:
            raise   # rq retries with the job's back-off
        return "retry"
    await outbox.mark_sent(ctx, message_id, result.external_id)
    await outbox.announce_delivery(ctx, message_id)
    return "sent"
