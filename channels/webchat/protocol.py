"""The web chat's client frames (docs/websocket.md), parsed by `parse_frame`: a pure function
from a frame's text to what it asks, or a `FrameError` naming what is wrong."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from channels.webchat.errors import FrameError
from inbox.messages import ReplyTo
from inbox.replies import REPLY_LANGUAGES
from web.http import parse_json

MAX_CLIENT_ID = 100
MAX_NAME = 200
MAX_ATTACHMENTS = 5
MAX_EMAIL = 254
# A phone number as people type it: digits with spaces, dashes, dots, brackets, a leading +.
PHONE = re.compile(r"\+?[\d\s().-]{5,30}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Hello:
    session: str | None
    name: str | None
    language: str | None
    after: int | None = None   # the last message id the window showed: resume after it


@dataclass(frozen=True)
class ChatText:
    client_id: str
    text: str
    name: str | None = None   # the name the resident has typed by now, if any
    reply_to: ReplyTo | None = None
    uploads: tuple[str, ...] = ()   # ids the upload endpoint gave, attached to this message


@dataclass(frozen=True)
class Typing:
    pass


@dataclass(frozen=True)
class Read:
    message_id: int   # the latest message the resident has seen; it and those before are read


def _name(frame: dict[str, Any]) -> str | None:
    name = frame.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        raise FrameError("bad_name", max=MAX_NAME)
    return (name or "").strip() or None


def _id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError("bad_message_id")
    return value


def _reply_to(frame: dict[str, Any]) -> ReplyTo | None:
    contact = frame.get("contact")
    if contact is None:
        return None
    if not isinstance(contact, dict):
        raise FrameError("bad_contact")
    phone, email = contact.get("phone"), contact.get("email")
    phone = phone.strip() if isinstance(phone, str) else phone
    email = email.strip() if isinstance(email, str) else email
    if phone and not (isinstance(phone, str) and PHONE.fullmatch(phone)
                      and sum(c.isdigit() for c in phone) >= 5):
        raise FrameError("bad_phone")
    if email and not (isinstance(email, str) and len(email) <= MAX_EMAIL
                      and EMAIL.fullmatch(email)):
        raise FrameError("bad_email")
    if not phone and not email:
        return None
    return ReplyTo(phone or None, email or None)


def _uploads(frame: dict[str, Any]) -> tuple[str, ...]:
    uploads = frame.get("attachments", [])
    if not isinstance(uploads, list) or len(uploads) > MAX_ATTACHMENTS or not all(
            isinstance(u, str) and 0 < len(u) <= 64 for u in uploads):
        raise FrameError("bad_attachments", max=MAX_ATTACHMENTS)
    return tuple(dict.fromkeys(uploads))


def parse_frame(raw: str, max_chars: int) -> Hello | ChatText | Typing | Read:
    try:
        frame = parse_json(raw)
    except json.JSONDecodeError:
        raise FrameError("not_json") from None
    except ValueError as exc:   # JSON, but not text that could be stored
        raise FrameError("unstorable", detail=str(exc)) from None
    if not isinstance(frame, dict):
        raise FrameError("not_object")
    kind = frame.get("type")
    if kind == "hello":
        session, language = frame.get("session"), frame.get("language")
        if session is not None and not isinstance(session, str):
            raise FrameError("bad_session")
        name = _name(frame)
        if language is not None and language not in REPLY_LANGUAGES:
            raise FrameError("bad_language", languages=", ".join(REPLY_LANGUAGES))
        return Hello(session or None, name, language, _id(frame.get("after")))
    if kind == "message":
        client_id, text = frame.get("id"), frame.get("text")
        if isinstance(client_id, int) and not isinstance(client_id, bool):
            client_id = str(client_id)
        if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
            raise FrameError("bad_id", max=MAX_CLIENT_ID)
        uploads = _uploads(frame)
        if text is None and uploads:
            text = ""
        if not isinstance(text, str) or not (text.strip() or uploads):
            raise FrameError("empty_text")
        if len(text) > max_chars:
            raise FrameError("too_long", max=max_chars)
        # The window says hello before the resident has typed a name; the name typed by the
        # time of a message comes with it.
        return ChatText(client_id, text, _name(frame), _reply_to(frame), uploads)
    if kind == "typing":
        return Typing()
    if kind == "read":
        message_id = _id(frame.get("message_id"))
        if message_id is None:
            raise FrameError("bad_message_id")
        return Read(message_id)
    raise FrameError("unknown_type", kind=repr(kind))
