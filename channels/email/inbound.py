"""A mail read from a mailbox, as the inbox takes it in: `InboundMessage` (pure, no I/O).

The conventions the rest of the e-mail channel relies on:
- `external_id` is "{mailbox id}:{sha256 of the raw bytes}": the messages table's unique
  (channel, external id) is the per-mailbox guard against storing a mail twice. The
  Message-ID is only looked up (threading); a mail without one is stored, and a sender's
  reused Message-ID with other content is another mail.
- `text` is what is new in the mail (quoted history and signature removed), else its whole
  text; the quoted part and what could not be read travel in `extra["email"]`.
- `received_at` is when the poll read the mail, as every channel's is the moment the system
  got the message (the inbox's clocks, SLA first, run from when it took the message in). The
  mail's Date is the sender's word, from a clock that may be wrong or a draft sent days
  later: it is kept, when plausible, as `extra["email"]["sent_at"]` for agents to read, and
  moves no clock.
- The raw mail is kept beside the media, so the full mail stays one click away: a file of
  its own (`raw_path`), or, for the mails read together in a backlog's piece, its place in
  one pack file (`pack_path`), since creating a file costs more than the write on some
  disks (`inbox.kept_mail` reads either). Its attachments are fetched from it by the media
  job (`MailChannel.fetch_media`), which applies the media limits as for every channel.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from channels.email.mime import Mail
from channels.email.thread import reference_in_subject
from inbox.kept_mail import Span, kept_facts
from inbox.messages import Attachment, InboundMessage
from settings import Mailbox

CHANNEL = "email"
# How far ahead of ours a sender's clock may run for its Date to be believed.
CLOCK_SKEW = timedelta(minutes=5)


class NoSender(ValueError):
    """A mail with no address to answer: nobody can be its contact."""


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def external_id(mailbox_id: str, raw: bytes) -> str:
    return external_id_of(mailbox_id, digest(raw))


def external_id_of(mailbox_id: str, raw_digest: str) -> str:
    """The message's external id of the mail whose raw hash is `raw_digest`."""
    return f"{mailbox_id}:{raw_digest}"


def raw_path(media_dir: Path, mailbox_id: str, raw_digest: str) -> Path:
    """Where a mail's raw bytes are kept: under the media directory, by mailbox and hash (a
    mail read twice is kept once)."""
    return media_dir / "email" / mailbox_id / raw_digest[:2] / f"{raw_digest}.eml"


def pack_path(media_dir: Path, mailbox_id: str, raw_digests: list[str]) -> Path:
    """Where the mails of `raw_digests`, read together, are kept one after another: named by
    the hash of their hashes (the same mails read again are the same pack)."""
    name = hashlib.sha256("".join(raw_digests).encode()).hexdigest()
    return media_dir / "email" / mailbox_id / name[:2] / f"{name}.mails"


@dataclass(frozen=True)
class Kept:
    """Where a mail's raw bytes were kept: `path` (absolute) and, in a pack, the (offset,
    length) of its bytes there; `relative` is the path under the media directory."""
    path: Path
    relative: str
    span: Span | None = None


def kept_at(path: Path, span: Span | None = None) -> Kept:
    """`path`, a `raw_path` or `pack_path`, as the message names it."""
    return Kept(path, str(PurePosixPath(*path.parts[-4:])), span)


# An attachment's place: its index in the mail, and for a mail in a pack the mail's offset
# and length there ("2@4096+2310"). A process of an earlier version, which reads only an
# index, refuses the latter instead of taking an attachment of the pack's first mail.
_PLACE = re.compile(r"(\d+)(?:@(\d+)\+(\d+))?")


def attachment_url(kept: Kept, index: int) -> str:
    """The `source_url` the media job hands back to `fetch_media`: the raw mail's file and
    the attachment's place (`_PLACE`)."""
    place = f"{index}@{kept.span[0]}+{kept.span[1]}" if kept.span else str(index)
    return f"{kept.path.resolve().as_uri()}#{place}"


def parse_attachment_url(url: str) -> tuple[Path, Span | None, int]:
    """The raw mail's path, its span in a pack (None: the whole file) and the attachment's
    index from `attachment_url`; ValueError for anything else."""
    parts = urlsplit(url)
    place = _PLACE.fullmatch(parts.fragment)
    if parts.scheme != "file" or parts.query or place is None:
        raise ValueError("not a mail attachment's address")
    index, offset, length = place.groups()
    span = (int(offset), int(length)) if offset is not None else None
    return Path(unquote(parts.path)), span, int(index)


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def thread_key(mail: Mail) -> str | None:
    """The thread's root: the first of References, else In-Reply-To, else the mail itself."""
    if mail.references:
        return mail.references[0]
    if mail.in_reply_to:
        return mail.in_reply_to[0]
    return mail.message_id


def sent_at(mail: Mail, received_at: datetime, oldest: datetime | None) -> datetime | None:
    """When the sender says the mail was sent (its Date), if that is plausible: not after it
    was read (but for a clock's skew), and not before `oldest` (the mailbox's re-read window:
    no mail older than that is read on purpose)."""
    if mail.date is None or mail.date > received_at + CLOCK_SKEW:
        return None
    if oldest is not None and mail.date < oldest:
        return None
    return mail.date


def sender_of(mail: Mail) -> str:
    """The address a reply to `mail` goes to; NoSender when it names none."""
    sender = (mail.from_address or mail.reply_to or "").strip().lower()
    if not sender:
        raise NoSender("the mail has no From or Reply-To address")
    return sender


def inbound_message(mail: Mail, raw: bytes, mailbox: Mailbox, kept: Kept,
                    received_at: datetime, oldest: datetime | None = None) -> InboundMessage:
    """The mail `raw` (parsed as `mail`) that reached `mailbox`, read at `received_at`, its
    raw bytes `kept` (relative to the media directory in `extra`, absolute in attachments'
    urls); a Date before `oldest` is not believed. Raises NoSender when it names nobody to
    answer."""
    sender = sender_of(mail)
    text = mail.new_text.strip() or mail.text.strip() or mail.subject.strip()
    attachments = tuple(
        Attachment(content_type=part.content_type, filename=part.filename,
                   size=len(part.data), url=attachment_url(kept, index))
        for index, part in enumerate(mail.attachments))
    email: dict[str, Any] = {
        "subject": mail.subject,
        "from": sender,
        "from_name": mail.from_name,
        "to": list(mail.to),
        "cc": list(mail.cc),
        "message_id": mail.message_id,
        "sent_at": sent.isoformat() if (sent := sent_at(mail, received_at, oldest)) else None,
        "in_reply_to": mail.in_reply_to[0] if mail.in_reply_to else None,
        "quoted": mail.quoted,
        "notes": list(mail.notes),
        "mailbox": mailbox.id,
        **kept_facts(kept.relative, kept.span),
    }
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id(mailbox.id, raw),
        address=sender,
        display_name=mail.from_name or None,
        text=text,
        html=mail.html,
        received_at=received_at,
        attachments=attachments,
        thread_key=thread_key(mail),
        replies_to=_unique(mail.in_reply_to + mail.references),
        reference=reference_in_subject(mail.subject),
        queue_hint=mailbox.queue,
        automatic=mail.automatic,
        raw_size=len(raw),
        extra={"email": email},
    )
