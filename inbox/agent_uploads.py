"""Files an agent attaches to a reply or a note, from upload to the message that carries them.

`POST /api/v1/conversations/{id}/uploads` hands `hold` one file, already judged (its kind by
its content, its size within `media.max_bytes`, the conversation's channel able to carry it):
it waits under `media.directory/agent-uploads/<conversation>/` with an id, for that agent and
that conversation alone. The reply names held ids; `claim` finds them and `place` moves them
into the message's own folder of the media store, where the API serves them to agents, the
channels read them to send, and signed links (`inbox.media_links`) hand them to providers and
to the resident. A held file no reply claimed is removed after `HOLD_S` (`sweep`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from inbox import held_uploads
from inbox.context import InboxContext, media_directory
from inbox.media_kinds import extension_for
from settings import load_config

HOLD_S = 24 * 3600
MAX_FILENAME = 200
MAX_PER_MESSAGE = 5
FOLDER = "agent-uploads"
SWEEP_JOB = "inbox.agent_uploads.sweep_job"


class UnknownUpload(Exception):
    """A named upload is not held for this agent and conversation (never uploaded, someone
    else's, already sent, or expired)."""


Held = held_uploads.Held


def filename_of(header: str | None, content_type: str) -> str:
    """The file's name as the browser sent it (percent-encoded), without any folder; a name
    made from its kind when none came."""
    name = unquote(header or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '"').strip()[:MAX_FILENAME]
    return name or "file" + extension_for(content_type)


def _holding(ctx: InboxContext, conversation_id: int) -> Path:
    return ctx.media_dir / FOLDER / str(conversation_id)



async def hold(ctx: InboxContext, conversation_id: int, agent_id: int, body: bytes,
               content_type: str, filename: str) -> Held:
    """Keep a judged upload until a reply of this agent in this conversation claims it."""
    return await held_uploads.keep(_holding(ctx, conversation_id), body, content_type,
                                   filename, agent_id=agent_id)


def claim(ctx: InboxContext, conversation_id: int, agent_id: int,
          upload_ids: Sequence[Any]) -> list[Held]:
    """This agent's held uploads of these ids in this conversation, in the order named;
    UnknownUpload when one is not."""
    found = []
    for upload_id in dict.fromkeys(upload_ids):   # the same id twice attaches one file
        kept = held_uploads.find(_holding(ctx, conversation_id), upload_id)
        if kept is None or kept[1].get("agent_id") != agent_id:
            raise UnknownUpload(str(upload_id))
        found.append(kept[0])
    return found


def described(message_id: int, uploads: Sequence[Held]) -> list[dict[str, Any]]:
    """The stored descriptions of a message's attachments once `place` has moved them."""
    items = []
    for index, upload in enumerate(uploads):
        stored = f"{message_id}/{index}{extension_for(upload.content_type)}"
        items.append({"content_type": upload.content_type, "filename": upload.filename,
                      "size": upload.size, "stored": stored,
                      "url": f"/api/v1/messages/{message_id}/attachments/{index}"})
    return items


async def place(ctx: InboxContext, items: Sequence[dict[str, Any]],
                uploads: Sequence[Held]) -> None:
    """Move the held files to where `described` says they are (a rename: same disk)."""

    def move() -> None:
        for item, upload in zip(items, uploads, strict=True):
            target = ctx.media_dir / item["stored"]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(upload.path, target)
            upload.path.with_suffix(".json").unlink(missing_ok=True)

    await asyncio.to_thread(move)


def sweep(media_dir: Path, now: float | None = None) -> int:
    """Remove held uploads older than HOLD_S that no reply claimed; how many."""
    return held_uploads.sweep(media_dir / FOLDER, HOLD_S, now)


def sweep_job() -> int:
    """The worker's hourly job (`worker.periodic_jobs`)."""
    return sweep(media_directory(load_config()))   # files only: no database, no Redis


def stored_path(media_dir: Path, item: dict[str, Any]) -> Path | None:
    """The file of a stored attachment, when it is kept and lies inside the media store."""
    if not item.get("stored"):
        return None
    root = media_dir.resolve()
    path = (root / str(item["stored"])).resolve()
    return path if root in path.parents and path.is_file() else None
