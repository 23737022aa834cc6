"""Cases' outcomes in the agent API: record one (the resident is then notified by the
worker), list a conversation's with their notification attempts, and the DOST centres a
pickup may name."""

from __future__ import annotations

from aiohttp import web

from inbox import outcomes
from web.api import actor_of, visible_conversation
from web.appkeys import CONTEXT
from web.http import read_json

routes = web.RouteTableDef()


@routes.get("/api/v1/dost-centres")
async def list_dost_centres(request: web.Request) -> web.Response:
    """The centres a "documents ready" outcome may name, in every language."""
    config = request.app[CONTEXT].config
    return web.json_response([
        {"id": c.id, "name": dict(c.names), "address": dict(c.addresses), "hours": dict(c.hours)}
        for c in config.dost_centres])


@routes.get("/api/v1/conversations/{id}/outcomes")
async def list_outcomes(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    async with ctx.store.read() as tx:
        return web.json_response(await outcomes.of_conversation(tx, row["id"], ctx.zone))


@routes.post("/api/v1/conversations/{id}/outcome")
async def record_outcome(request: web.Request) -> web.Response:
    """`{"kind": "approved|rejected|pickup|more_info", "reason"?, "centre"?}`: 201 with the
    conversation's outcomes; the resident is notified by the worker."""
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    await outcomes.record(ctx, actor_of(request), row["id"], body)
    async with ctx.store.read() as tx:
        return web.json_response(await outcomes.of_conversation(tx, row["id"], ctx.zone),
                                 status=201)
