"""Sending our mail: a mailbox's SMTP settings, the send itself (aiosmtplib) and what the
server's answer means for the delivery job.

A mail goes out from the mailbox of its conversation (`compose.mailbox_for`), threaded on
what the conversation's stored messages say (`compose.mail_thread`). The server's answer
decides: 2xx sent; 4xx, a refused or dropped connection, a timeout, a TLS handshake or a
login that failed are worth trying again (TransientSendError: the delivery job backs off,
and gives up after `outbox.max_attempts` saying why); a 5xx to the mail itself (its sender,
its recipient, its content) will never pass (PermanentSendError with the server's reply,
which the agent reads).

SMTP cannot be asked what it already took, so a mail is sent at most once as far as we can
know: the moment the server accepts it, its Message-ID is recorded as the message's part,
and a later attempt that finds it there sends nothing. The one case left, an acceptance
never heard (the connection lost after the final dot), sends it again with the same
Message-ID (derived from the message's id and the deployment's secret), so the resident's
mail program shows one mail.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

from channels.base import PermanentSendError, SendResult, TransientSendError, as_text
from channels.email import compose, thread
from channels.email.smtp_connections import SmtpConnections
from channels.sending import shared
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.keys import derived_key
from inbox.messages import OutboundMessage
from inbox.port import ChannelPort
from settings import Config
from settings.loader import parse_seconds

log = logging.getLogger(__name__)

SECURITY = ("tls", "starttls", "none")
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
DEFAULT_TIMEOUT_S = 30
MAX_TIMEOUT_S = 300
# Answers about the mailbox's login or TLS (authentication or STARTTLS required, a bad
# password, a weak mechanism), whichever command they come to: never the mail's fault.
LOGIN_CODES = frozenset({530, 534, 535, 538})
# The key our Message-IDs' random-looking part is derived with (`compose.unique_part`).
MESSAGE_ID_PURPOSE = "email-message-id"
SMTP_KEYS = ("host", "port", "security", "user", "password", "timeout", "ca_file")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str                  # tls (implicit, 465) | starttls | none
    user: str | None = None
    password: str | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S
    ca_file: str | None = None     # a private CA's certificates, else the system's


def mailbox_path(index: int) -> str:
    return f"channels.email.mailboxes[{index}]"


def smtp_settings(raw: Mapping[str, Any] | None, path: str) -> SmtpSettings:
    """A mailbox's `smtp` mapping, checked; ValueError "<path>.<key>: what is wrong" at the
    first problem (`smtp_problems` lists them all)."""
    problems = smtp_problems(raw, path)
    if problems:
        raise ValueError(problems[0])
    raw = raw or {}
    security = raw.get("security", "starttls")
    return SmtpSettings(
        host=raw["host"].strip(), port=raw.get("port", DEFAULT_PORTS[security]),
        security=security, user=raw.get("user") or None, password=raw.get("password") or None,
        timeout_s=parse_seconds(raw.get("timeout", DEFAULT_TIMEOUT_S)),
        ca_file=raw.get("ca_file") or None)


def smtp_problems(raw: Mapping[str, Any] | None, path: str) -> list[str]:
    """Everything wrong in a mailbox's `smtp` mapping, each as "<path>.<key>: what"."""
    path = f"{path}.smtp"
    if not isinstance(raw, Mapping) or not raw:
        return [f"{path}: needs at least host (the server that sends this mailbox's mail)"]
    problems = [f"{path}.{key}: unknown key (expected {', '.join(SMTP_KEYS)})"
                for key in raw if key not in SMTP_KEYS]
    host = raw.get("host")
    if not isinstance(host, str) or not host.strip():
        problems.append(f"{path}.host: required: the mail server's name or address")
    security = raw.get("security", "starttls")
    if security not in SECURITY:
        problems.append(f"{path}.security: {security!r} is not one of {', '.join(SECURITY)}")
    port = raw.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        problems.append(f"{path}.port: expected a port number from 1 to 65535")
    for key in ("user", "password", "ca_file"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            problems.append(f"{path}.{key}: expected text")
    if raw.get("user") and not raw.get("password"):
        problems.append(f"{path}.password: required with user; give it from the environment, "
                        "e.g. ${BAKU1_SMTP_PASSWORD}")
    if raw.get("password") and not raw.get("user"):
        problems.append(f"{path}.user: required with password")
    if raw.get("password") and security == "none":
        problems.append(f"{path}.security: none would send the password in clear; "
                        "use tls or starttls")
    try:
        timeout = parse_seconds(raw.get("timeout", DEFAULT_TIMEOUT_S))
        if not 1 <= timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"expected from 1 s to {MAX_TIMEOUT_S} s")
    except (TypeError, ValueError) as exc:
        problems.append(f"{path}.timeout: {exc}")
    ca_file = raw.get("ca_file")
    if isinstance(ca_file, str) and ca_file and not Path(ca_file).is_file():
        problems.append(f"{path}.ca_file: no such file: {ca_file}")
    return problems


def signature_problems(signature: Any, path: str) -> list[str]:
    path = f"{path}.signature"
    if not isinstance(signature, Mapping):
        return [f"{path}: expected a mapping of language to text"]
    return [f"{path}.{language}: expected text for one of az, ru, en"
            for language, text in signature.items()
            if language not in ("az", "ru", "en") or not isinstance(text, str)]


def config_problems(config: Config) -> list[str]:
    """What is wrong in the sending half of `channels.email.mailboxes`."""
    if config.channels.email is None:
        return []
    problems = []
    for index, mailbox in enumerate(config.channels.email.mailboxes):
        problems += smtp_problems(mailbox.smtp, mailbox_path(index))
        problems += signature_problems(mailbox.signature, mailbox_path(index))
    return problems


# --- the server's answer --------------------------------------------------------------------


def _reply(code: int, text: str) -> str:
    return f"{code} {' '.join(str(text).split())}".strip()


def classify(exc: BaseException) -> TransientSendError | PermanentSendError | None:
    """What an aiosmtplib (or socket, or TLS) failure means for the message; None for
    anything else (a bug, raised as it is)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or (
            isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in LOGIN_CODES):
        # The mailbox's login, not the mail: an operator can fix it while the job backs off.
        return TransientSendError(f"the mail server refused the mailbox's login: "
                                  f"{_reply(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPHeloError):
        return TransientSendError(f"the mail server would not talk to us: "
                                  f"{_reply(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = _reply(exc.code, exc.message)
        if 400 <= exc.code < 500:
            return TransientSendError(f"the mail server asked to try later: {reply}")
        reason = " ".join(str(exc.message).split()) or "no reason given"
        return PermanentSendError(f"the mail server refused the mail: {reason}", str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return TransientSendError(f"the mail server does not offer what the mailbox's "
                                  f"settings need: {exc}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TransientSendError(f"TLS with the mail server failed: {exc}")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return TransientSendError("the mail server did not answer in time")
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return TransientSendError(f"could not reach the mail server: {exc}")
    return None


async def submit(settings: SmtpSettings, message: EmailMessage, sender: str,
                 recipient: str) -> None:
    """Hand one mail to the server, on a connection kept from an earlier mail where the
    worker keeps them (smtp_connections); raises Transient/PermanentSendError."""
    try:
        async with shared(("smtp", settings), lambda: SmtpConnections(settings)) as pool:
            await pool.send(message, sender, recipient)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        error = classify(exc)
        if error is None:
            raise
        raise error from exc
    except (UnicodeError, ValueError) as exc:
        # The mail could not be put into bytes for this server (a non-ASCII address where it
        # offers no SMTPUTF8): no later attempt writes it differently.
        raise PermanentSendError(f"the mail cannot be sent as written: {exc}") from exc


# --- one outbound message -------------------------------------------------------------------


async def _attachments(ctx: InboxContext, row: Mapping[str, Any] | None
                       ) -> tuple[compose.FileAttachment, ...]:
    """The files the message carries, read from the media directory, each within the
    media limits; PermanentSendError naming the one that cannot go."""
    found = []
    root = ctx.media_dir.resolve()
    for index, item in enumerate((row or {}).get("attachments") or []):
        name = item.get("filename") or f"attachment-{index + 1}"
        path = (root / str(item.get("stored") or "")).resolve()
        if not item.get("stored") or root not in path.parents or not path.is_file():
            raise PermanentSendError(f"the attachment {name} is not stored, so the mail "
                                     "cannot carry it")
        if path.stat().st_size > ctx.config.media.max_bytes:
            raise PermanentSendError(f"the attachment {name} is larger than media.max_bytes "
                                     f"({ctx.config.media.max_bytes} bytes)")
        data = await asyncio.to_thread(path.read_bytes)
        found.append(compose.FileAttachment(
            filename=name, content_type=item.get("content_type") or "application/octet-stream",
            data=data))
    return tuple(found)


async def send(ctx: InboxContext, message: OutboundMessage) -> SendResult:
    """Send one outbound message of an e-mail conversation; its Message-ID is the result's
    `external_id`."""
    if message.accepted_parts:
        # An earlier attempt got it accepted and was cut short before it was marked sent.
        return SendResult(external_id=message.accepted_parts[0])
    message = as_text(message)   # a mail has no buttons: choices become a numbered list
    port = ChannelPort(ctx)
    conversation, rows = await port.conversation_messages(message.conversation_id)
    if conversation is None:
        raise PermanentSendError("its conversation no longer exists")
    facts = compose.mail_thread(conversation.get("thread_key"), rows, message.message_id)
    typed = (message.extra or {}).get("email")
    typed = typed if isinstance(typed, Mapping) else {}
    # The mailbox the resident wrote to, else the one the sender chose (a web-chat answer
    # sent by mail), else the queue's.
    chosen = typed.get("mailbox") if isinstance(typed.get("mailbox"), str) else None
    try:
        mailbox = compose.mailbox_for(ctx.config, facts.mailbox_id or chosen,
                                      conversation.get("queue"))
        index = ctx.config.channels.email.mailboxes.index(mailbox)
        settings = smtp_settings(mailbox.smtp, mailbox_path(index))
    except ValueError as exc:
        raise PermanentSendError(str(exc)) from None
    own = next((row for row in rows if row["id"] == message.message_id), None)
    agent_subject = typed.get("subject")
    unique = compose.unique_part(derived_key(MESSAGE_ID_PURPOSE), message.message_id)
    centre = compose.centre_of(ctx.config, mailbox, message.language)
    draft = compose.Draft(
        conversation_id=message.conversation_id,
        message_id=thread.message_id(message.conversation_id, message.message_id,
                                     mailbox.address, unique),
        sender=mailbox.address, sender_name=centre,
        recipient=message.address,
        subject=compose.subject_of(agent_subject if isinstance(agent_subject, str) else None,
                                   facts.subject, message.conversation_id),
        language=message.language, body=message.body,
        signature=compose.signature_of(mailbox, message.language, centre),
        sent_at=utcnow(), in_reply_to=facts.in_reply_to, references=facts.references,
        automatic=message.author_kind == "system",
        attachments=await _attachments(ctx, own))
    try:
        mail = compose.compose(draft)
    except (ValueError, HeaderParseError) as exc:
        raise PermanentSendError(f"the mail cannot be written: {exc}") from None
    if message.maybe_sent_since is not None:
        log.info("message %s: sent again with the same Message-ID (SMTP cannot be asked "
                 "whether an earlier attempt arrived)", message.message_id)
    await submit(settings, mail, mailbox.address, message.address)
    # At once: a later attempt (this one cut short before it is marked sent) sends nothing.
    await port.record_part(message, 0, draft.message_id)
    log.info("message %s: mail accepted by the server of mailbox %s", message.message_id,
             mailbox.id)
    return SendResult(external_id=draft.message_id)
