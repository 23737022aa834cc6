"""`GET /media/{message}/{index}/{name}?expires=&signature=`: one stored attachment to whoever
holds a signed link (`inbox.media_links`), with no session: Twilio fetching the file of an
agent's MMS or WhatsApp reply, the resident's chat window showing a file. A link that is
forged, altered or expired is a 403 and says nothing about the file."""

from __future__ import annotations

from aiohttp import web

from inbox import media_links
from inbox.agent_uploads import stored_path
from web.appkeys import CONTEXT
from web.http import json_error, parse_id

routes = web.RouteTableDef()


@routes.get("/media/{message_id}/{index}/{name}")
async def shared_attachment(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    message_id = parse_id(request.match_info["message_id"])
    index = request.match_info["index"]
    if message_id is None or not index.isdigit() or not media_links.valid(
            message_id, int(index), request.query.get("expires", ""),
            request.query.get("signature", "")):
        return json_error(403, "this link is not valid or has expired",
                          code="media_link_invalid")
    async with ctx.store.read() as tx:
        message = await tx.messages.get(message_id)
    items = (message or {}).get("attachments") or []
    path = stored_path(ctx.media_dir, items[int(index)]) if int(index) < len(items) else None
    if path is None:
        return json_error(404, "attachment not found")
    item = items[int(index)]
    return web.FileResponse(path, headers={
        "Content-Type": item["content_type"],
        "Content-Disposition": f'inline; filename="{path.name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=300"})
