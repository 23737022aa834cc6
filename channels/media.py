"""The media job: fetch the attachments of an inbound message from its provider and keep them
under `media.directory`, where agents reach them only through the authenticated API.

The job takes a message id and loads fresh state, so a retry fetches only what is missing.
Limits (size, content types) come from config; an attachment refused by them keeps its
description and the reason, and the message itself is never held back.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.base import MediaError
from channels.media_store import keep_media, type_allowed
from channels.registry import channel_book, channel_for
from inbox.context import InboxContext, run_in_job_context
from inbox.port import ChannelPort

log = logging.getLogger(__name__)


def fetch_attachments(message_id: int) -> int:
    return run_in_job_context(lambda ctx: fetch_message_media(ctx, message_id),
                              channels=channel_book())


async def fetch_message_media(ctx: InboxContext, message_id: int) -> int:
    """Fetch every attachment not yet stored; returns how many were stored now."""
    port = ChannelPort(ctx)
    message = await port.message(message_id)
    if message is None:
        return 0
    channel = channel_for(message["channel"])
    attachments: list[dict[str, Any]] = [dict(a) for a in message["attachments"] or []]
    stored = 0
    transient: MediaError | None = None
    limits = ctx.config.media
    for index, attachment in enumerate(attachments):
        if attachment.get("stored") or attachment.get("error") or not attachment.get(
                "source_url"):
            continue
        declared = attachment.get("content_type") or "application/octet-stream"
        if not type_allowed(declared, limits.allowed_types):
            attachment["error"] = f"content type {declared} is not accepted"
            continue
        try:
            body, content_type = await channel.fetch_media(attachment["source_url"],
                                                           limits.max_bytes)
        except MediaError as exc:
            if exc.transient:
                transient = exc
            else:
                attachment["error"] = str(exc)
            continue
        if not type_allowed(content_type, limits.allowed_types):
            attachment["error"] = f"content type {content_type} is not accepted"
            continue
        await keep_media(ctx, message_id, index, attachment, body, content_type)
        stored += 1
    await port.keep_attachments(message_id, attachments)
    log.info("message %s: %d attachment(s) stored", message_id, stored)
    await port.announce_delivery(message_id)   # consoles show players and errors now
    if transient is not None:
        raise transient   # rq tries again later for the ones still missing
    return stored
