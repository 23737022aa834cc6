"""Where a resident's attachments are kept: under `media.directory`, one folder per message,
served to agents only through `/api/v1/messages/{id}/attachments/{n}`. The media job (files
fetched from a provider) and the web chat's uploads both keep them here."""

from __future__ import annotations

import asyncio
import fnmatch
import mimetypes
from pathlib import Path
from typing import Any

from inbox.context import InboxContext


async def keep_media(ctx: InboxContext, message_id: int, index: int,
                     attachment: dict[str, Any], body: bytes, content_type: str) -> None:
    """Write attachment `index` of a message under `media.directory`, where the API serves
    it, and note in `attachment` (the stored description) where it is."""
    extension = mimetypes.guess_extension(content_type) or ".bin"
    relative = Path(str(message_id)) / f"{index}{extension}"
    path = ctx.media_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, body)
    attachment.update(stored=str(relative), size=len(body), content_type=content_type,
                      url=f"/api/v1/messages/{message_id}/attachments/{index}")
    attachment.setdefault("filename", f"attachment-{index}{extension}")


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(content_type.lower(), pattern) for pattern in allowed)
