"""The e-mail channel's raw mail over HTTP: the admins' view of the dead letters (the mails
the mailboxes' polls could not take in, inbox.storage.mail), and a received mail exactly as
it came, for those who may see its conversation. Listing only; taking a dead letter in
again is the command line's `app.py email replay ID`, which runs the channel's code (the web
layer never does)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from inbox.kept_mail import KeptMailGone, place_of, read_kept
from web.api import SESSION, actor_of
from web.appkeys import CONTEXT
from web.http import http_error, json_error, parse_id

routes = web.RouteTableDef()
LIMIT = 200


@routes.get("/api/v1/mail/dead-letters")
async def dead_letters(request: web.Request) -> web.Response:
    if request[SESSION].user["role"] != "admin":
        raise http_error(web.HTTPForbidden, "dead letters are for admins",
                         code="admins_only")
    async with request.app[CONTEXT].store.read() as tx:
        rows = await tx.mail.dead_letters(LIMIT)
    # No raw mail, no addresses: the error and where the mail lies.
    return web.json_response([
        {"id": row["id"], "mailbox": row["mailbox"], "folder": row["folder"],
         "uid": row["uid"], "attempts": row["attempts"], "error": row["error"],
         "created_at": row["created_at"].isoformat()} for row in rows])


@routes.get("/api/v1/messages/{id}/raw")
async def raw_mail(request: web.Request) -> web.StreamResponse:
    """A received mail as it came (the bytes the poll kept: every header, every part), to
    callers who may see its conversation. A download of type message/rfc822, never shown
    as a page of this site."""
    ctx = request.app[CONTEXT]
    message_id = parse_id(request.match_info["id"])
    async with ctx.store.read() as tx:
        message = await tx.messages.get(message_id) if message_id is not None else None
        conversation = await tx.conversations.get(message["conversation_id"]) if message else None
    if conversation is None:
        return json_error(404, "message not found", code="not_found")
    if not actor_of(request).may_see_queue(conversation["queue"]):
        return json_error(403, "outside your queues", code="outside_queues")
    email = (message["extra"] or {}).get("email")
    if message["channel"] != "email" or message["direction"] == "out" \
            or not isinstance(email, dict):
        return json_error(404, "the message has no kept mail", code="not_found")
    headers = {
        "Content-Type": "message/rfc822",
        "Content-Disposition": f'attachment; filename="mail-{message_id}.eml"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600"}
    try:
        if (place := place_of(email)) is None:
            return json_error(404, "the message has no kept mail", code="not_found")
        kept, span = place
        root = ctx.media_dir.resolve()
        path = (root / kept).resolve()
        if root not in path.parents or not path.is_file():
            raise KeptMailGone("the kept mail is not under the media directory")
        if span is None:   # a file of its own: streamed
            return web.FileResponse(path, headers=headers)
        # Its place in a pack: this mail's bytes alone, read whole.
        return web.Response(body=await asyncio.to_thread(read_kept, path, span),
                            headers=headers)
    except KeptMailGone:
        return json_error(404, "the kept mail is gone", code="not_found")
