"""A resident's files in the web chat (a photo of a document taken with a phone).

`POST /chat/upload` takes one file for a chat session (its token in `X-Chat-Session`),
checks its size and type against `media` (the bytes must be what the type says), and holds
it under `media.directory/webchat-uploads/<session>/` with an id. A `message` frame names
held ids in `attachments`; once the message is stored the files become its attachments in
the media store (`channels.media_store`), served to agents like any channel's, and leave
the holding place. A held file no message claimed is removed after `HOLD_S`.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from channels.media_store import keep_media
from channels.webchat.errors import FrameError, error_text
from inbox import held_uploads
from inbox.context import InboxContext, media_directory
from inbox.messages import Attachment
from inbox.port import ChannelPort
from settings import load_config

log = logging.getLogger(__name__)

HOLD_S = 24 * 3600
MAX_FILENAME = 200

# What the first bytes of a file of each type are; a type not listed is taken as declared.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether a file's first bytes are what its declared type says (for the types whose
    signature is known; WebP and HEIC by their container marks)."""
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if content_type in ("image/heic", "image/heif"):
        return head[4:8] == b"ftyp"
    signatures = _SIGNATURES.get(content_type)
    return signatures is None or head.startswith(signatures)


Held = held_uploads.Held


def filename_of(header: str | None, content_type: str) -> str:
    """The file's name as the browser sent it (percent-encoded), without any folder; a
    name made from the type when none came."""
    name = unquote(header or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:MAX_FILENAME]
    return name or "photo" + (mimetypes.guess_extension(content_type) or "")


def _holding(ctx: InboxContext, session: str) -> Path:
    return ctx.media_dir / "webchat-uploads" / session



async def hold(ctx: InboxContext, session: str, body: bytes, content_type: str,
               filename: str) -> Held:
    """Keep an upload for the session until a message claims it."""
    return await held_uploads.keep(_holding(ctx, session), body, content_type, filename)


def held(ctx: InboxContext, session: str, upload_ids: Sequence[str]) -> list[Held]:
    """The session's held uploads of these ids; `upload_unknown` when one is not held (never
    uploaded, another session's, or expired)."""
    found = []
    for upload_id in upload_ids:
        kept = held_uploads.find(_holding(ctx, session), upload_id)
        if kept is None:
            raise FrameError("upload_unknown")
        found.append(kept[0])
    return found


def as_attachments(uploads: Sequence[Held]) -> tuple[Attachment, ...]:
    return tuple(Attachment(content_type=u.content_type, filename=u.filename, size=u.size)
                 for u in uploads)


async def keep_with_message(ctx: InboxContext, message_id: int,
                            uploads: Sequence[Held]) -> None:
    """The stored message's attachments (described at ingest, in upload order) get their
    files; a resend after a reconnect finds them kept and keeps nothing twice."""
    if not uploads:
        return
    port = ChannelPort(ctx)
    message = await port.message(message_id)
    attachments: list[dict[str, Any]] = [dict(a) for a in message["attachments"] or []]
    for index, (attachment, upload) in enumerate(zip(attachments, uploads, strict=False)):
        if attachment.get("stored"):
            continue
        body = await asyncio.to_thread(upload.path.read_bytes)
        await keep_media(ctx, message_id, index, attachment, body, upload.content_type)
        attachment["filename"] = upload.filename
    await port.keep_attachments(message_id, attachments)
    for upload in uploads:
        for path in (upload.path, upload.path.with_suffix(".json")):
            path.unlink(missing_ok=True)
    await port.announce_delivery(message_id)   # consoles show the attachment now


def sweep_uploads() -> int:
    """The worker's hourly job: held uploads no message claimed, removed."""
    return sweep_held(media_directory(load_config()))   # files only: no database, no Redis


def sweep_held(media_dir: Path, now: float | None = None) -> int:
    """Remove held uploads older than HOLD_S that no message claimed; how many."""
    return held_uploads.sweep(media_dir / "webchat-uploads", HOLD_S, now)


def refusal(status: int, code: str, language: str | None, **values: Any) -> web.Response:
    return web.json_response({"code": code, "error": error_text(code, language, **values)},
                             status=status)
