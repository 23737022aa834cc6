"""Our outgoing mail, composed (pure): which mailbox sends it, the thread it answers, its
subject, its text and HTML bodies in the resident's language, and the MIME message itself.

Everything here works on plain data (the conversation's rows, the config, bytes already
read), so the whole shape of a reply is tested without a mail server; `channels.email.smtp`
does the I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from channels.email import thread
from inbox.replies import TEMPLATES_DIR, reply_language
from settings import Config, Mailbox

# References grows by one id per mail; past this many the middle is dropped (the root and
# the latest stay), as long headers are cut or refused by some servers and mail programs
# need only the root and the parent to thread.
MAX_REFERENCES = 20


@dataclass(frozen=True)
class MailThread:
    """What a conversation's stored messages say about the thread our next mail answers."""

    subject: str | None               # the resident's latest subject
    in_reply_to: str | None           # the Message-ID of the resident's latest mail
    references: tuple[str, ...]       # the thread's ids, root first, parent last
    mailbox_id: str | None            # the mailbox the resident's latest mail reached


@dataclass(frozen=True)
class FileAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Draft:
    """Everything one mail is made of."""

    conversation_id: int
    message_id: str                   # ours: `thread.message_id`
    sender: str                       # the mailbox's address
    sender_name: str | None           # the centre's name
    recipient: str
    subject: str
    language: str
    body: str                         # the agent's (or the acknowledgement's) text
    signature: str
    sent_at: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False           # written by the system (an acknowledgement)
    attachments: tuple[FileAttachment, ...] = ()


def _email_facts(row: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = row.get("extra")
    facts = extra.get("email") if isinstance(extra, Mapping) else None
    return facts if isinstance(facts, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _one_id(value: Any) -> str | None:
    ids = thread.message_ids(value) if isinstance(value, str) else ()
    return ids[0] if ids else None


def mail_thread(thread_key: str | None, rows: Sequence[Mapping[str, Any]],
                before_message_id: int) -> MailThread:
    """The thread our message `before_message_id` answers, from the conversation's messages
    (oldest first) written before it: the resident's mails' Message-IDs and subjects (their
    `extra["email"]`) and our sent mails' ids (their `external_id`). A later attempt at the
    same message reads the same rows, so it gets the same headers."""
    root = _one_id(thread_key)
    ids: list[str] = [root] if root else []
    subject = in_reply_to = mailbox = None
    for row in rows:
        if row["id"] >= before_message_id or row.get("channel") != "email":
            continue
        if row["direction"] == "in":
            facts = _email_facts(row)
            own = _one_id(facts.get("message_id"))
            if own:
                ids.append(own)
                in_reply_to = own
            # A mail without a subject keeps the thread's (mail programs keep it too).
            subject = _text(facts.get("subject")) or subject
            mailbox = _text(facts.get("mailbox")) or mailbox
        elif row["direction"] == "out" and thread.conversation_of_message_id(
                row.get("external_id") or "") is not None:
            ids.append(row["external_id"])
    ids = list(dict.fromkeys(ids))
    if in_reply_to is not None:
        # RFC 5322: the parent's id comes last.
        ids.remove(in_reply_to)
        ids.append(in_reply_to)
    return MailThread(subject=subject, in_reply_to=in_reply_to,
                      references=capped_references(ids), mailbox_id=mailbox)


def capped_references(ids: Sequence[str], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """At most `limit` ids: the root and the latest ones."""
    if len(ids) <= limit:
        return tuple(ids)
    return (ids[0], *ids[len(ids) - limit + 1:])


def subject_of(agent_subject: str | None, resident_subject: str | None,
               conversation_id: int) -> str:
    """The agent's own subject when they typed one (with the conversation's token added if
    it lacks it), else "Re: " the resident's subject and the token."""
    typed = " ".join((agent_subject or "").split())
    if typed:
        if thread.reference_in_subject(typed) == conversation_id:
            return typed
        return f"{typed} {thread.token(conversation_id)}"
    return thread.reply_subject(" ".join((resident_subject or "").split()), conversation_id)


def mailbox_for(config: Config, mailbox_id: str | None, queue: str | None) -> Mailbox:
    """The mailbox a conversation's mail leaves from: the one the resident wrote to, else
    its queue's (a conversation an agent began, or whose mailbox left the config). ValueError
    when there is none."""
    mailboxes = config.channels.email.mailboxes if config.channels.email else ()
    for mailbox in mailboxes:
        if mailbox.id == mailbox_id:
            return mailbox
    for mailbox in mailboxes:
        if mailbox.queue == queue:
            return mailbox
    if mailbox_id:
        raise ValueError(f"the mailbox {mailbox_id!r} this conversation came through is not "
                         f"configured, and its queue {queue!r} has no mailbox")
    raise ValueError(f"no mailbox of channels.email.mailboxes serves the queue {queue!r}")


def centre_of(config: Config, mailbox: Mailbox, language: str | None) -> str | None:
    """The name of the centre a mailbox serves (its queue's) in the mail's `language`: the
    mail's sender name."""
    return next((queue.label(language) for queue in config.queues if queue.id == mailbox.queue),
                None)


def unique_part(key: bytes, message_id: int) -> str:
    """The random-looking part of our Message-ID, the same for every attempt at one message:
    a send retried after an unheard answer then arrives as the same mail, which the
    resident's mail program shows once. Keyed with a secret, so nobody outside can
    compute the id of a message of ours."""
    return hmac.new(key, str(message_id).encode(), hashlib.sha256).hexdigest()[:16]


# --- bodies ---------------------------------------------------------------------------------


def _lines(text: str) -> Markup:
    """Text in HTML: escaped, its line breaks kept."""
    return Markup("<br>\n").join(escape(line) for line in str(text).split("\n"))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # The agent's words and the resident's subject go into HTML: escaped there, never
        # in the text part.
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True,
        lstrip_blocks=True)
    environment.filters["lines"] = _lines
    return environment


def _render(name: str, language: str, kind: str, **variables: object) -> str:
    """templates/email/<name>.<language>.<kind> (txt or html), rendered."""
    path = f"email/{name}.{reply_language(language)}.{kind}"
    return _environment().get_template(path).render(**variables).strip()


def default_signature(language: str, centre: str | None, address: str) -> str:
    lines = _render("signature", language, "txt", centre=centre or "", address=address)
    return "\n".join(line for line in lines.split("\n") if line.strip())


def signature_of(mailbox: Mailbox, language: str, centre: str | None) -> str:
    """The mailbox's signature in `language` (config), else the templates' default."""
    configured = (mailbox.signature or {}).get(reply_language(language))
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return default_signature(language, centre, mailbox.address)


def bodies(draft: Draft) -> tuple[str, str]:
    """The mail's text and HTML bodies, in the resident's language. A body that already
    ends with the signature (an agent who typed or pasted it) does not get it twice."""
    body = draft.body.strip()
    signature = "" if draft.signature and body.endswith(draft.signature) else draft.signature
    values = {"body": body, "signature": signature,
              "subject": draft.subject, "reference": draft.conversation_id,
              "token": thread.token(draft.conversation_id)}
    return (_render("reply", draft.language, "txt", **values) + "\n",
            _render("reply", draft.language, "html", **values) + "\n")


# --- the MIME message -----------------------------------------------------------------------


def compose(draft: Draft) -> EmailMessage:
    """The mail, ready for SMTP: text and HTML alternatives, then the attachments."""
    message = EmailMessage()
    message["From"] = Address(display_name=draft.sender_name or "", addr_spec=draft.sender)
    message["To"] = Address(addr_spec=draft.recipient)
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(draft.sent_at)
    message["Message-ID"] = draft.message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        message["References"] = " ".join(draft.references)
    if draft.automatic:
        # RFC 3834: no vacation responder answers it; Exchange's own header says the same.
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    text, html = bodies(draft)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    # Last: building the body moves the top's Content-* headers into its parts.
    message["Content-Language"] = reply_language(draft.language)
    return message


class MailComposer:
    """What the console prefills an agent's e-mail reply with (the channel's traits'
    composer): the subject and the signature the mail gets when the agent changes nothing,
    from the same functions the send uses."""

    def reply_subject(self, subject: str | None, conversation_id: int) -> str:
        return subject_of(None, subject, conversation_id)

    def signature(self, config: Config, mailbox: str | None, queue: str | None,
                  language: str) -> str | None:
        try:
            found = mailbox_for(config, mailbox, queue)
        except ValueError:
            return None
        return signature_of(found, language, centre_of(config, found, language))


COMPOSER = MailComposer()
