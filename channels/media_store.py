"""Where a resident's attachments are kept: under `media.directory`, one folder per message,
served to agents only through `/api/v1/messages/{id}/attachments/{n}`. The media job (files
fetched from a provider) and the web chat's uploads both keep them here; agents' files
(`inbox.agent_uploads`) are placed beside them, and the helpers below let a channel send
them."""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import replace
from pathlib import Path
from typing import Any

from channels.base import PermanentSendError
from inbox import media_links
from inbox.agent_uploads import stored_path
from inbox.channel_traits import ChannelTraits
from inbox.context import InboxContext
from inbox.media_kinds import type_allowed
from inbox.messages import Attachment, OutboundMessage

__all__ = ["keep_media", "read_stored", "refuse_unfit", "type_allowed", "with_signed_links"]


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


# --- an agent's files, as a channel sends them ------------------------------------------------


def with_signed_links(message: OutboundMessage, base_url: str, ttl_s: int) -> OutboundMessage:
    """The message with each stored attachment's `url` a signed link under `base_url` that
    needs no session (`inbox.media_links`): what a provider fetches (Twilio's MediaUrl) or the
    resident's chat window opens."""
    return replace(message, attachments=tuple(
        replace(a, url=media_links.link(base_url, message.message_id, index, a.filename, ttl_s))
        if a.stored else a
        for index, a in enumerate(message.attachments)))


def refuse_unfit(traits: ChannelTraits, message: OutboundMessage) -> None:
    """PermanentSendError when a file cannot go on this channel to this address (a web-chat
    answer diverted to an SMS number outside MMS's reach): the agent reads why."""
    for attachment in message.attachments:
        refusal = traits.file_refusal(message.address, attachment.content_type,
                                      attachment.size or 0)
        if refusal is not None:
            raise PermanentSendError(f"{traits.label} cannot carry "
                                     f"{attachment.filename or 'the file'} to this resident "
                                     f"({refusal.code})", refusal.code)


async def read_stored(ctx: InboxContext, attachment: Attachment) -> bytes:
    """The bytes of an agent's file from the media store, within `media.max_bytes`;
    PermanentSendError when it is gone (no later attempt finds it)."""
    path = stored_path(ctx.media_dir, {"stored": attachment.stored})
    name = attachment.filename or "the file"
    if path is None:
        raise PermanentSendError(f"the attachment {name} is no longer stored")
    if path.stat().st_size > ctx.config.media.max_bytes:
        raise PermanentSendError(f"the attachment {name} is larger than media.max_bytes")
    return await asyncio.to_thread(path.read_bytes)
