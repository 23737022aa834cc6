"""The admins' view of the e-mail channel's dead letters: the mails the mailboxes' polls
could not take in (inbox.storage.mail). Listing only; taking one in again is the command
line's `app.py email replay ID`, which runs the channel's code (the web layer never does)."""

from __future__ import annotations

from aiohttp import web

from web.api import SESSION
from web.appkeys import CONTEXT
from web.http import http_error

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
