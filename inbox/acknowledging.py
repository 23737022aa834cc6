"""Whether a new conversation's sender gets an automatic acknowledgement: never for mail a
machine wrote (one robot answering another is a loop), and not past the channel's daily cap
(`ChannelRules.acknowledgements_per_day`, counted in the store from the day's start in the
deployment's time zone), so that a robot answering our acknowledgements with new mail, or a
flood under one forged sender, gets only the first few. Used by ingest for the conversations
it routes and by dispatch for those routed later (after a crash, by the sweep)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, time

from inbox.context import InboxContext
from inbox.guided_intake import checklist
from inbox.replies import render_reply, reply_language
from inbox.storage import UnitOfWork

log = logging.getLogger(__name__)


async def within_daily_cap(ctx: InboxContext, tx: UnitOfWork,
                           senders: list[tuple[str, int]], now: datetime) -> list[bool]:
    """For each (channel, identity id), in order, whether it may still be acknowledged today;
    a sender twice in `senders` counts twice. Channels without a cap cost no query."""
    caps = {channel: ctx.config.channels.rules(channel).acknowledgements_per_day
            for channel, _ in senders}
    capped = [identity for channel, identity in senders if caps[channel] is not None]
    if not capped:
        return [True] * len(senders)
    day_start = datetime.combine(now.astimezone(ctx.zone).date(), time(), tzinfo=ctx.zone)
    sent = Counter(await tx.messages.acknowledgements_since(capped, day_start))
    allowed = []
    for channel, identity in senders:
        cap = caps[channel]
        if cap is not None:
            if sent[identity] >= cap:
                log.info("a sender on %s is not acknowledged: it had %d today", channel, cap)
                allowed.append(False)
                continue
            sent[identity] += 1
        allowed.append(True)
    return allowed


def acknowledgement_body(ctx: InboxContext, channel: str, category: str | None,
                         language: str | None, *, name: str | None, reference: int,
                         position: int | None) -> str:
    """What a new conversation's acknowledgement says, whoever routes it (ingest, or the sweep
    after a crash): the reference, the place in an operators' line, and where there is no
    dialogue by mail, the list of documents a registration needs."""
    body = render_reply("acknowledgement", reply_language(language), name=name,
                        reference=reference, position=position)
    if checklist.applies(ctx, channel, category):
        body += "\n\n" + checklist.documents_to_send(ctx, language)
    return body
