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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from inbox.context import InboxContext
from inbox.messages import InboundMessage
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


async def conversation_of(ctx: InboxContext, tx: UnitOfWork, contact_id: int,
                          message: InboundMessage, now: datetime) -> Row | None:
    """The conversation of `contact_id` that the threaded `message` continues, or None."""
    window = ctx.config.channels.rules(message.channel).reopen_within_s
    candidates = await tx.conversations.threads_of_contact(
        contact_id, message.channel, now - timedelta(seconds=window) if window else None)
    if not candidates:
        return None
    named = await tx.messages.naming([c["id"] for c in candidates], message.replies_to)
    return choose(message, candidates, named)
