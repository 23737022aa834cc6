"""Which conversation a reply in a thread joins (an e-mail's In-Reply-To, References and
subject token): the choice is a pure function, the look-up that feeds it two small queries.

Only the same contact's conversations on the message's channel are candidates, and only
those unresolved or resolved within the channel's `reopen_within`: a stranger quoting someone
else's thread, or a newsletter's many repliers naming the one mail we sent them all, join
nothing of anyone else's, and a reply to an old, closed matter starts a new conversation.
Among the candidates, in order of trust:
1. one holding our own message the reply names (our Message-ID is its external id);
2. one holding the resident's earlier mail it names, or whose thread (the root Message-ID)
   it names or shares;
3. the one the subject's token names: the fallback when a mail program dropped the
   headers (Outlook's replies may carry only Thread-Index and the subject).
Within 1 and 2 the newest message named wins: a thread's References list every ancestor,
and the nearest one is in the conversation the reply continues (one an agent split off).

A reply that joins none of its own contact's conversations may still answer one of ours sent
from another channel's conversation: a web-chat answer that went by e-mail because the
resident had left (`outbox.divert`). It joins that conversation when it names that mail and
comes from the very address the mail went to: our Message-ID is unguessable, so only a
reader of that mailbox can name it, and a forward answered by someone else joins nothing.
The resident's contacts are not joined by this (they stay a possible match).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from inbox.context import InboxContext
from inbox.messages import DIVERTED, InboundMessage
from inbox.storage import Row, UnitOfWork


def has_thread(message: InboundMessage) -> bool:
    """Whether the message names a thread at all (most messages of most channels do not)."""
    return bool(message.replies_to or message.thread_key or message.reference is not None)


def choose(message: InboundMessage, candidates: Sequence[Row],
           named: Sequence[Row]) -> Row | None:
    """The conversation among `candidates` (newest first) the reply joins, given the
    candidates' messages it names (`named`: id, conversation_id, direction), or None."""
    by_id = {c["id"]: c for c in candidates}
    for direction in ("out", "in"):
        found = [m for m in named if m["direction"] == direction and
                 m["conversation_id"] in by_id]
        if found:
            return by_id[max(found, key=lambda m: m["id"])["conversation_id"]]
    keys = set(message.replies_to)
    if message.thread_key:
        keys.add(message.thread_key)
    for conversation in candidates:
        if conversation["thread_key"] in keys:
            return conversation
    return by_id.get(message.reference) if message.reference is not None else None


async def conversations_of(ctx: InboxContext, tx: UnitOfWork,
                           replies: Sequence[tuple[int, InboundMessage]],
                           now: datetime) -> list[Row | None]:
    """For each (contact, threaded message) of a batch, the conversation the message
    continues, or None: two queries per channel for the whole batch (a mailbox's poll is
    mostly replies), whatever its size."""
    found: list[Row | None] = [None] * len(replies)
    by_channel: dict[str, list[int]] = {}
    for index, (_contact_id, message) in enumerate(replies):
        by_channel.setdefault(message.channel, []).append(index)
    for channel, indexes in by_channel.items():
        window = ctx.config.channels.rules(channel).reopen_within_s
        candidates = await tx.conversations.threads_of_contacts(
            [replies[i][0] for i in indexes], channel,
            now - timedelta(seconds=window) if window else None)
        asking = [i for i in indexes if replies[i][0] in candidates]
        named = await tx.messages.naming(
            [c["id"] for i in asking for c in candidates[replies[i][0]]],
            [mail_id for i in asking for mail_id in replies[i][1].replies_to])
        for i in asking:
            contact_id, message = replies[i]
            own = candidates[contact_id]
            ids = {c["id"] for c in own}
            names = set(message.replies_to)
            found[i] = choose(message, own, [m for m in named if m["conversation_id"] in ids
                                            and m["mail_id"] in names])
    return found


async def answers_named(ctx: InboxContext, tx: UnitOfWork,
                        replies: Sequence[InboundMessage], now: datetime) -> list[Row | None]:
    """For each threaded message that joined none of its own contact's conversations (its
    sender may be new), the conversation of another channel whose answer, sent to the
    sender's address on this channel, it names (`answered_from`), or None: one query per
    channel for the whole batch."""
    found: list[Row | None] = [None] * len(replies)
    by_channel: dict[str, list[int]] = {}
    for index, message in enumerate(replies):
        if message.replies_to:
            by_channel.setdefault(message.channel, []).append(index)
    for channel, indexes in by_channel.items():
        window = ctx.config.channels.rules(channel).reopen_within_s
        answered = await tx.conversations.answered_elsewhere(
            channel, [mail_id for i in indexes for mail_id in replies[i].replies_to],
            now - timedelta(seconds=window) if window else None)
        for i in indexes:
            found[i] = answered_from(replies[i], answered)
    return found


def answered_from(message: InboundMessage, answered: Sequence[Row]) -> Row | None:
    """Of the conversations whose answers went out on the reply's channel (`answered`, each
    with the answer's `message_id`, `external_id` and `sent_extra`), the one whose newest
    answer the reply names and which went to the reply's own address; None when none did."""
    names = set(message.replies_to)
    sender = message.address.casefold()
    for row in sorted(answered, key=lambda r: r["message_id"], reverse=True):
        sent_to = ((row["sent_extra"] or {}).get(DIVERTED) or {}).get("address") or ""
        if sent_to.casefold() == sender and row["external_id"] in names:
            conversation = dict(row)
            for key in ("message_id", "sent_extra", "external_id"):
                conversation.pop(key, None)
            return conversation
    return None
