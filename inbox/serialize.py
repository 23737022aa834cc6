"""Rows to the JSON shapes of docs/api.md (CONVERSATION, MESSAGE, USER). Pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from routing import mask_text

Row = dict[str, Any]

# `sending` is the outbox's internal claim; to clients a claimed send is still queued.
_PUBLIC_DELIVERY_STATUS = {"sending": "queued"}


def iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


def message_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "direction": row["direction"],
        "body": row["body"],
        "html": row.get("html"),
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
    }


def resident_message_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    """What the resident's own chat window may show: no internal fields, no agent ids."""
    view = message_view(row, zone)
    view["author"] = {"kind": row["author_kind"]}
    view.pop("delivery_error")
    view.pop("html")
    view.pop("conversation_id")
    return view


def conversation_view(row: Row, zone: ZoneInfo, *, full: bool = False) -> dict[str, Any]:
    """A conversation as lists and live events show it: the contact's phone and e-mail masked
    (personal data in lists stays partial); `full` for the one conversation an agent opened."""
    phone, email = row.get("contact_phone"), row.get("contact_email")
    if not full:
        phone = mask_text(phone) if phone else phone
        email = mask_text(email) if email else email
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
        },
        "created_at": iso(row["created_at"], zone),
        "first_response_at": iso(row["first_response_at"], zone),
        "last_message_at": iso(row["last_message_at"], zone),
        "sla_due_at": iso(row["sla_due_at"], zone),
        "sla_state": row.get("sla_state", "ok"),
    }


def user_view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "queues": list(row["queues"] or []),
        "languages": list(row["languages"] or []),
        "presence": row["presence"],
    }


def event_view(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {"id": row["id"], "type": row["type"], "actor": row["actor_id"],
            "data": row["data"], "created_at": iso(row["created_at"], zone)}
