"""Rows to the JSON shapes of docs/api.md (CONVERSATION, MESSAGE, USER). Pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from inbox import media_links
from inbox.channel_traits import MailComposer
from inbox.messages import CHOICES, DIVERTED, ERASED, WHISPER
from routing import mask_text, mask_value
from settings import Config

Row = dict[str, Any]

# `sending` is the outbox's internal claim; to clients a claimed send is still queued.
_PUBLIC_DELIVERY_STATUS = {"sending": "queued"}


def iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


# An e-mail's facts the console shows beside its text (channel conventions: extra["email"]).
# Only these reach a client: the Message-ID and mailbox stay internal.
_EMAIL_TEXTS = ("subject", "from", "from_name", "quoted")
_EMAIL_LISTS = ("to", "cc", "notes")


def email_view(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """A message's e-mail facts (subject, from, to, cc, the quoted part, notes about what
    could not be read), or None for a message that is not a mail."""
    facts = (extra or {}).get("email")
    if not isinstance(facts, dict):
        return None
    view: dict[str, Any] = {}
    for key in _EMAIL_TEXTS:
        value = facts.get(key)
        view[key] = value if isinstance(value, str) and value else None
    for key in _EMAIL_LISTS:
        value = facts.get(key)
        view[key] = [str(item) for item in value if item] if isinstance(value, list) else []
    return view


def telegram_view(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """The resident's Telegram name and username a message came with (extra["telegram"]),
    or None for a message that did not come from Telegram."""
    facts = (extra or {}).get("telegram")
    if not isinstance(facts, dict):
        return None
    return {key: facts.get(key) if isinstance(facts.get(key), str) else None
            for key in ("name", "username")}


def message_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "direction": row["direction"],
        "body": row["body"],
        "html": row.get("html"),
        "email": email_view(row.get("extra")),
        "telegram": telegram_view(row.get("extra")),
        "attachments": [
            {"content_type": a.get("content_type"), "filename": a.get("filename"),
             "size": a.get("size"), "url": a.get("url"), "error": a.get("error")}
            for a in row.get("attachments") or []
        ],
        "created_at": iso(row["created_at"], zone),
        "author": {"kind": row["author_kind"], "id": row.get("author_id")},
        # A note is never delivered anywhere; it has no delivery status.
        "delivery_status": None if row["direction"] == "note"
        else _PUBLIC_DELIVERY_STATUS.get(row["delivery_status"], row["delivery_status"]),
        "delivery_error": row.get("delivery_error"),
        "sent_by": sent_by_view(row),
        # A supervisor's note: consoles show it apart; no resident ever sees a note.
        "whisper": row["direction"] == "note" and bool((row.get("extra") or {}).get(WHISPER)),
        # Its resident's personal data was erased (inbox.erasure): the text is gone.
        "erased": bool((row.get("extra") or {}).get(ERASED)),
    }


def sent_by_view(row: Row) -> dict[str, Any] | None:
    """How a message sent elsewhere than its conversation's channel went (a web-chat answer
    by SMS or e-mail to a resident who left): the channel and the address, masked."""
    diverted = (row.get("extra") or {}).get(DIVERTED)
    if not isinstance(diverted, dict) or not diverted.get("address"):
        return None
    return {"channel": row["channel"], "address": mask_text(diverted["address"])}


def mail_reply_view(composer: MailComposer, config: Config, conversation: Row,
                    messages: list[Row]) -> dict[str, Any]:
    """What an agent's reply on a mail channel carries unless they change it: the subject
    answering the resident's latest mail, and the signature of the mailbox it reached."""
    latest: dict[str, Any] = {}
    for row in messages:
        facts = (row.get("extra") or {}).get("email")
        if row["direction"] == "in" and isinstance(facts, dict):
            latest = facts
    subject = latest.get("subject") if isinstance(latest.get("subject"), str) else None
    mailbox = latest.get("mailbox") if isinstance(latest.get("mailbox"), str) else None
    return {
        "subject": composer.reply_subject(subject, conversation["id"]),
        "signature": composer.signature(config, mailbox, conversation["queue"],
                                        conversation.get("language") or "az"),
    }


# What a resident's own chat window may show of a message; an allow-list, so a field the
# console gains (a channel's facts, internal errors, agents' ids) never reaches residents.
RESIDENT_FIELDS = ("id", "direction", "body", "attachments", "created_at", "delivery_status")


def resident_message_view(row: Row, zone: ZoneInfo, *, choices_open: bool = False
                          ) -> dict[str, Any]:
    """What the resident's own chat window may show: no internal fields, no agent ids; the
    answers the message offers (`choices`, shown as buttons) only while `choices_open`, as
    a live frame carries them, so a replayed question that still waits offers them again."""
    view = message_view(row, zone)
    # The resident holds no agent session: a stored file is theirs through a signed link.
    view["attachments"] = [
        {**shown, "url": media_links.link("", row["id"], index, shown["filename"],
                                          media_links.RESIDENT_TTL_S)
         if kept.get("stored") else None}
        for index, (shown, kept) in enumerate(zip(view["attachments"],
                                                  row.get("attachments") or [], strict=True))]
    visible = {**{key: view[key] for key in RESIDENT_FIELDS},
               "author": {"kind": row["author_kind"]}}
    offered = (row.get("extra") or {}).get(CHOICES)
    if choices_open and offered:
        visible["choices"] = [str(choice) for choice in offered]
    return visible


def reply_to_view(kept: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the resident asked answers to go while away (`inbox.reply_to`), as the agent
    who opened the conversation sees it: typed by the resident, vouched for by nobody."""
    if not kept:
        return None
    return {"phone": kept.get("phone"), "email": kept.get("email"),
            "given_at": kept.get("given_at")}


def conversation_view(row: Row, zone: ZoneInfo, *, full: bool = False) -> dict[str, Any]:
    """A conversation as lists and live events show it: the contact's phone and e-mail masked
    (personal data in lists stays partial); `full` for the one conversation an agent opened."""
    phone, email = row.get("contact_phone"), row.get("contact_email")
    if not full:
        phone = mask_value("phone", phone) if phone else phone
        email = mask_value("email", email) if email else email
    return {
        "id": row["id"],
        "status": row["status"],
        "channel": row["channel"],
        "category": row["category"],
        "category_confidence": row["category_confidence"],
        "language": row["language"],
        "queue": row["queue"],
        "assignee": row["assignee_id"],
        "priority": row.get("priority", 0),
        "contact": {
            "id": row["contact_id"],
            "name": row.get("contact_name"),
            "phone": phone,
            "email": email,
            # An erased resident has no name, phone or e-mail left: lists say so instead of
            # a bare number (inbox/erasure.py).
            "erased": row.get("contact_erased_at") is not None,
        },
        "created_at": iso(row["created_at"], zone),
        "first_response_at": iso(row["first_response_at"], zone),
        "last_message_at": iso(row["last_message_at"], zone),
        "sla_due_at": iso(row["sla_due_at"], zone),
        "sla_state": row.get("sla_state", "ok"),
        "tags": list(row.get("tags") or ()),
    }


def user_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "queues": list(row["queues"] or []),
        "languages": list(row["languages"] or []),
        "presence": row["presence"],
        "presence_reason": row.get("presence_reason"),
        "presence_since": iso(row.get("presence_since"), zone),
        "console_language": row.get("console_language"),
    }


def event_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {"id": row["id"], "type": row["type"], "actor": row["actor_id"],
            "data": row["data"], "created_at": iso(row["created_at"], zone)}
