"""How our mail names its conversation, so that a resident's reply finds it again (pure).

Two marks travel with every mail we send:
- its Message-ID, `<dost.{conversation}.{message}.{random}@{mailbox's domain}>`: mail
  programs copy it into In-Reply-To and References, so a reply names it exactly;
- a subject token, `[DOST-{conversation}]`: the fallback when a mail program drops those
  headers (some web mail does on forward, people start a new mail and paste the subject).

Neither is trusted alone: the inbox joins a reply to the conversation only when that
conversation belongs to the same contact (`inbox.ingest`), so a forwarded or guessed token
joins nothing.
"""

from __future__ import annotations

import re
import secrets

TOKEN_PREFIX = "DOST"
_TOKEN = re.compile(rf"\[{TOKEN_PREFIX}-(\d{{1,12}})\]", re.IGNORECASE)
_OWN_ID = re.compile(r"^<dost\.(\d{1,12})\.(\d{1,12})\.[0-9a-f]+@[^<>\s]+>$")
# "Re:", "RE:", "Fwd:", "AW:", "Ответ:", "Cavab:" and their stacks, at the subject's start.
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|ответ|отв|cavab)\s*(\[\d+\])?\s*:\s*)+",
                           re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def message_id(conversation_id: int, message_id: int, address: str,
               unique: str | None = None) -> str:
    """A new Message-ID for our message `message_id` in `conversation_id`, sent from the
    mailbox `address` (its domain ends the id, as RFC 5322 asks). `unique` (hex) makes it
    the same id every time it is asked for: a retried send must not look like a new mail."""
    domain = address.rpartition("@")[2] or "localhost"
    unique = unique or secrets.token_hex(8)
    return f"<dost.{conversation_id}.{message_id}.{unique}@{domain}>"


def conversation_of_message_id(value: str) -> int | None:
    """The conversation our own Message-ID names, or None for anybody else's."""
    match = _OWN_ID.match(value.strip())
    return int(match.group(1)) if match else None


def message_ids(header: str | None) -> tuple[str, ...]:
    """The Message-IDs in an In-Reply-To or References header, in order, without repeats."""
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(header or "")))


def token(conversation_id: int) -> str:
    return f"[{TOKEN_PREFIX}-{conversation_id}]"


def reference_in_subject(subject: str | None) -> int | None:
    """The conversation number a subject's token names (the last one, as replies stack them
    at the start and a resident's new subject may quote an old one), or None."""
    found = _TOKEN.findall(subject or "")
    return int(found[-1]) if found else None


def reply_subject(subject: str | None, conversation_id: int) -> str:
    """The subject of our reply: "Re: " once, the resident's subject without its own reply
    prefixes, and the conversation's token once."""
    base = _REPLY_PREFIX.sub("", subject or "").strip()
    base = _TOKEN.sub("", base).strip()
    return f"Re: {base} {token(conversation_id)}" if base else f"Re: {token(conversation_id)}"
