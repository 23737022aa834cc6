"""Mails a poll could not take in after `max_attempts` tries: listing them for admins and
taking one in again (`app.py email dead-letters`, `app.py email replay ID`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from channels.email.imap import own_addresses
from channels.email.readers import read_mail
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.port import ChannelPort


@dataclass(frozen=True)
class Replayed:
    stored: bool                   # the mail is in the inbox now (or already was)
    message_id: int | None = None
    duplicate: bool = False        # it had been stored before (a later poll or replay)
    error: str | None = None       # why it still cannot be taken in


async def dead_letters(ctx: InboxContext, limit: int = 200) -> list[dict[str, Any]]:
    return await ChannelPort(ctx).dead_letters(limit)


async def replay(ctx: InboxContext, letter_id: int) -> Replayed | None:
    """Take dead letter `letter_id` in as its poll would have, and remove it once stored;
    None when there is no such dead letter. A failure keeps it, with the new error."""
    port = ChannelPort(ctx)
    letter = await port.dead_letter(letter_id)
    if letter is None:
        return None
    raw = bytes(letter["raw"])
    if not raw:    # kept past the retention (inbox.erasure): nothing is left to take in
        return Replayed(False, error=letter["error"])
    email = ctx.config.channels.email
    mailbox = next((m for m in (email.mailboxes if email else ()) if m.id == letter["mailbox"]),
                   None)
    if mailbox is None:
        return Replayed(False, error=f"mailbox {letter['mailbox']!r} is not in the "
                                     "configuration any more")
    try:
        read = await asyncio.to_thread(read_mail, raw, letter["digest"], mailbox, ctx.media_dir,
                                       own_addresses(ctx), utcnow())
        [result] = await port.ingest_many([read.message])
        if isinstance(result, Exception):
            raise result
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await port.dead_letter_failed_again(letter_id, error)
        return Replayed(False, error=error)
    await port.remove_dead_letter(letter_id)
    return Replayed(True, result.message_id, result.duplicate)
