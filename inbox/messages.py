"""The one normalized message shape. Channels produce and consume these; nothing outside
`channels/` knows a provider's field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DIRECTIONS = ("in", "out", "note")
DELIVERY_STATUSES = ("received", "queued", "sending", "sent", "delivered", "read", "failed")

# Texts the inbox stores where a resident's words are not known (`inbox.calls`): a phone
# call's item, and a voicemail whose transcript is still pending or never came. They say
# nothing a classifier could read, so routing reads past them (`dispatch.route_conversation`).
# The console's page hands CALL_TEXT to its script, which shows that item as the call.
CALL_TEXT = "📞"
VOICEMAIL_PENDING = "(voicemail, transcript pending)"
VOICEMAIL_NO_TRANSCRIPT = "(voicemail, no transcript)"
PLACEHOLDER_TEXTS = frozenset({CALL_TEXT, VOICEMAIL_PENDING, VOICEMAIL_NO_TRANSCRIPT})
# The key of an outbound message's stored `extra` that says it goes out elsewhere than its
# conversation's channel (`inbox.outbox.divert`): {"from": channel, "address": where}.
DIVERTED = "diverted"
# The key of an outbound message's stored `extra` that makes it a result notice
# (`inbox.notifications`): {"outcome_id", "attempt"}.
NOTIFICATION = "notification"
# The key of a note's stored `extra` that marks it a supervisor's whisper (`actions.whisper`).
WHISPER = "whisper"
# The key of an outbound message's stored `extra` holding the answers it offers the resident
# (a bot's question, a survey's 1-5): `OutboundMessage.choices` when it is sent.
CHOICES = "choices"
# The key of a message's stored `extra` that says its resident's personal data was erased
# (`inbox.erasure`): its text, files and channel details are gone.
ERASED = "erased"


@dataclass(frozen=True)
class Attachment:
    content_type: str
    filename: str | None = None
    size: int | None = None
    url: str | None = None          # where the channel can fetch it (provider URL) or serve it
    # Where the media store keeps it (relative to `media.directory`): an agent's file the
    # channel reads to send (`inbox.agent_uploads`).
    stored: str | None = None


@dataclass(frozen=True)
class ReplyTo:
    """Where a resident asked answers to go when they are not there to read them on the
    channel they wrote from (the web chat's offline form). Typed, so vouched for by nobody:
    it never joins contacts (`inbox.reply_to`)."""

    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A resident's message as a channel hands it to `inbox.ingest`."""

    channel: str                    # registry name: webchat, sms, whatsapp, voice, telegram, email
    external_id: str                # provider's id: MessageSid, update id, Message-ID, client id
    address: str                    # the resident's address on that channel (phone, chat id, ...)
    text: str
    received_at: datetime
    html: str | None = None         # an e-mail's HTML part, as received (sanitized on ingest)
    display_name: str | None = None
    phone: str | None = None        # E.164, when the channel knows the resident's number:
                                    # it joins identities on SMS, WhatsApp, voice into one contact
    language: str | None = None     # what the resident chose, when the channel knows it
    attachments: tuple[Attachment, ...] = ()
    thread_key: str | None = None   # joins replies to a conversation (e-mail References)
    queue_hint: str | None = None   # mailbox or IVR choice that points at a queue
    category_hint: str | None = None
    raw_size: int = 0
    # E-mail threading: the Message-IDs this mail answers (In-Reply-To, References), and the
    # conversation number a subject token names ("[DOST-1234]"). Both join only the same
    # contact's conversations: a stranger quoting a thread joins nothing.
    replies_to: tuple[str, ...] = ()
    reference: int | None = None
    # Why nobody should answer it, when it was written by a machine (an out-of-office, a
    # bounce, list mail, our own message coming back): stored, never acknowledged.
    automatic: str | None = None
    # What the console shows beside the text on this channel (an e-mail's subject, from,
    # to, cc and Message-ID); stored with the message as it is.
    extra: dict[str, Any] | None = None
    reply_to: ReplyTo | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """What the delivery job hands a channel's `send`."""

    message_id: int
    conversation_id: int
    channel: str
    address: str                    # the resident's address on that channel
    body: str
    language: str
    created_at: datetime
    author_kind: str = "agent"      # agent | system (auto-replies)
    attachments: tuple[Attachment, ...] = ()
    reply_to_external_id: str | None = None   # the provider's id of the message it answers
    thread_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)   # channel send options (a template's)
    # Structured content: answers the resident may pick (a numbered menu where the channel
    # has no such thing), and buttons' labels. `channels.base.as_text` degrades both.
    choices: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    # The provider's ids of the parts earlier attempts had accepted, first part first: the
    # send resumes after them.
    accepted_parts: tuple[str, ...] = ()
    # Set when an earlier attempt may have reached the provider without anyone hearing its
    # answer (a worker killed mid-send, a timeout): a channel that can ask its provider what
    # it holds since then does so before sending anything again.
    maybe_sent_since: datetime | None = None
