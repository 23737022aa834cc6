"""Telling residents the outcome of their case: a consumer of the event log.

An `outcome_recorded` event starts attempt 1 on the contact's preferred channel; a
`delivery_failed` event of an attempt's message (a send that failed, or a provider's
"undelivered" status callback) starts the next attempt on the contact's next channel. Each
attempt is a row unique per (outcome, attempt), written with its outbox message in one
transaction, so however often the consumer sees an event (a worker restarted mid-batch), the
resident gets each message once. The send itself is the outbox's retried delivery job.

On a channel with a free-text window (WhatsApp's 24 hours) a resident who has not written
within it gets the approved template config names for the outcome's kind; a kind without
one cannot go there, which counts as that attempt failing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inbox import lifecycle
from inbox.channel_traits import ChannelTraits
from inbox.consumers import EventConsumer
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.messages import DIVERTED, NOTIFICATION
from inbox.replies import render_reply, reply_language
from inbox.storage import Row, UnitOfWork, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    channel: str
    identity: Row


def routes(preferred: str | None, identities: Sequence[Row],
           channels: Mapping[str, ChannelTraits]) -> list[Route]:
    """Where to try, in order: the preferred channel first, then the contact's other written
    channels, most recently added identity first within a channel (the newest address),
    each channel once. Spoken channels (a phone call) cannot carry a written notice."""
    by_channel: dict[str, Row] = {}
    for identity in sorted(identities, key=lambda i: i["id"], reverse=True):
        if identity["channel"] in channels and not channels[identity["channel"]].heard:
            by_channel.setdefault(identity["channel"], identity)
    order = sorted(by_channel, key=lambda c: (c != preferred, list(channels).index(c)))
    return [Route(channel, by_channel[channel]) for channel in order]


def template_values(outcome: Row, contact: Row, conversation: Row,
                    centre: Mapping[str, str] | None) -> dict[str, str]:
    """What a notice names: the resident, the case number, the reason, the centre."""
    return {"name": contact["name"] or "", "reference": str(conversation["id"]),
            "reason": outcome["reason"] or "", **(centre or {})}


async def _notice(ctx: InboxContext, tx: UnitOfWork, outcome: Row, route: Route,
                  values: dict[str, str], language: str) -> tuple[str, dict[str, Any]] | str:
    """The body and send options of the notice on this route, or why it cannot go there."""
    traits = ctx.channels[route.channel]
    latest = await tx.conversations.latest_of_identity(route.identity["id"])
    last_inbound = latest["last_inbound_at"] if latest else None
    if traits.free_text_allowed(last_inbound, utcnow()):
        return render_reply(f"outcome_{outcome['kind']}", language, **values), {}
    name = ctx.config.notifications.whatsapp_templates.get(outcome["kind"])
    if traits.templates is None or name is None:
        return (f"{route.channel} takes only approved templates now and none is configured "
                f"for {outcome['kind']}")
    try:
        prepared = traits.templates.prepare(ctx.config, name, values)
    except (KeyError, ValueError) as exc:
        return f"template {name!r} cannot be filled: {exc}"
    return prepared.body, dict(prepared.extra)


def _mailbox(ctx: InboxContext, traits: ChannelTraits, queue: str | None) -> str | None:
    """The mailbox a notice by mail leaves from when its case came on another channel (so
    no mailbox of its own): the case's queue's, else the first configured."""
    mailboxes = ctx.config.channels.email.mailboxes if ctx.config.channels.email else ()
    if traits.composer is None or not mailboxes:
        return None
    return next((m.id for m in mailboxes if m.queue == queue), mailboxes[0].id)


async def notify(ctx: InboxContext, outcome_id: int, attempt: int) -> int | None:
    """Make attempt `attempt` (and, where a channel cannot take the notice at all, the ones
    after it) of telling the resident outcome `outcome_id`. Returns the queued message's id,
    None when it was made before or no channel is left."""
    now = utcnow()
    async with ctx.store.transaction() as tx:
        if await tx.outcomes.attempt(outcome_id, attempt) is not None:
            return None   # this event was handled before the restart
        outcome = await tx.outcomes.get(outcome_id)
        conversation = await tx.conversations.get(outcome["conversation_id"])
        contact = await tx.contacts.get(conversation["contact_id"])
        while contact["merged_into"] is not None:
            contact = await tx.contacts.get(contact["merged_into"])
        found = routes(contact["preferred_channel"],
                       await tx.contacts.identities_of(contact["id"]), ctx.channels)
        centre = ctx.config.dost_centre(outcome["centre"]) if outcome["centre"] else None
        language = reply_language(contact["language"] or conversation["language"])
        values = template_values(outcome, contact, conversation,
                                 centre.text(language) if centre else None)
        message_id = None
        while attempt <= len(found) and message_id is None:
            route = found[attempt - 1]
            notice = await _notice(ctx, tx, outcome, route, values, language)
            if isinstance(notice, str):
                await tx.outcomes.add_attempt(outcome_id=outcome_id, attempt=attempt,
                                              channel=route.channel, error=notice,
                                              created_at=now)
                attempt += 1
                continue
            body, extra = notice
            if route.identity["id"] != conversation["identity_id"]:
                extra[DIVERTED] = {"from": conversation["channel"],
                                   "address": route.identity["address"]}
                mailbox = _mailbox(ctx, ctx.channels[route.channel], conversation["queue"])
                if mailbox is not None:
                    extra["email"] = {"mailbox": mailbox}
            extra[NOTIFICATION] = {"outcome_id": outcome_id, "attempt": attempt}
            message_id = await tx.messages.insert(
                conversation_id=conversation["id"], channel=route.channel, direction="out",
                body=body, author_kind="system", author_id=None, created_at=now,
                delivery_status="queued", next_attempt_at=now, extra=extra)
            await tx.outcomes.add_attempt(outcome_id=outcome_id, attempt=attempt,
                                          channel=route.channel, message_id=message_id,
                                          created_at=now)
            await tx.events.add(conversation["id"], EventType.NOTIFICATION_QUEUED,
                                {"outcome_id": outcome_id, "attempt": attempt,
                                 "channel": route.channel, "message_id": message_id}, at=now)
        message = await tx.messages.get(message_id) if message_id else None
    if message_id is None:
        log.warning("outcome %s: no channel left to notify the resident on", outcome_id)
    else:
        # Should this enqueue be lost (a crash right here), the outbox sweep re-drives the
        # queued message.
        await ctx.jobs.enqueue_delivery_async([message_id], "system")
    await lifecycle.announce(ctx, conversation["id"], message)
    return message_id


async def handle(ctx: InboxContext, batch: Sequence[Row]) -> None:
    for event in batch:
        if event["type"] == EventType.OUTCOME_RECORDED:
            await notify(ctx, event["data"]["outcome_id"], 1)
        elif event["type"] == EventType.DELIVERY_FAILED:
            async with ctx.store.read() as tx:
                failed = await tx.outcomes.attempt_of_message(event["data"]["message_id"])
            if failed is not None:
                await notify(ctx, failed["outcome_id"], failed["attempt"] + 1)


NOTIFICATIONS_CONSUMER = EventConsumer("notifications", handle)
