"""Canned responses over HTTP: the agents' listing (global plus their queues' responses, filled
for a conversation), the admins' API to create, edit, delete and reset them, and the admins'
page /admin/canned. What a response is, and how the shipped defaults and the database's rows
combine, is inbox/canned.py's."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from inbox import canned
from inbox.replies import REPLY_LANGUAGES
from web import console
from web.api import SESSION
from web.appkeys import CONTEXT
from web.http import http_error, json_error, parse_id, read_json

routes = web.RouteTableDef()
TARGET_KIND = "canned_response"


def _language(request: web.Request, user: dict[str, Any]) -> str:
    return console.page_language(request, user)


def _require_admin(request: web.Request) -> dict[str, Any]:
    user = request[SESSION].user
    if user["role"] != "admin":
        raise http_error(web.HTTPForbidden, "canned responses are administered by admins",
                         code="admins_only")
    return user


# --- the agents' listing --------------------------------------------------------------------

async def _listing(request: web.Request, user: dict[str, Any]) -> web.Response:
    """Global responses and those of the caller's queues (and of the conversation's, which
    the caller may see), each title in the caller's language; with `conversation_id` every
    text is filled for that conversation and `language` is the conversation's."""
    ctx = request.app[CONTEXT]
    queues = set(user["queues"] or ())
    context, language = None, _language(request, user)
    raw_id = request.query.get("conversation_id")
    if raw_id is not None:
        conversation_id = parse_id(raw_id)
        if conversation_id is None:
            return json_error(400, "conversation_id must be a conversation's id",
                              code="bad_request")
        async with ctx.store.read() as tx:
            conversation = await tx.conversations.with_contact(conversation_id)
        if conversation is None:
            return json_error(404, "conversation not found", code="conversation_not_found")
        may_see = user["role"] in console.SUPERVISOR_ROLES or conversation["queue"] in queues
        if not may_see:
            return json_error(403, "outside your queues", code="outside_queues")
        if conversation["queue"]:
            queues.add(conversation["queue"])
        context = _context(ctx.config, conversation, user)
        if conversation["language"] in REPLY_LANGUAGES:
            language = conversation["language"]
    async with ctx.store.read() as tx:
        rows = await tx.canned.all()
    title_language = _language(request, user)
    responses = []
    for response in canned.visible(canned.effective(rows), queues):
        texts = response["body"] if context is None else {
            lang: canned.fill(text, context, lang) for lang, text in response["body"].items()}
        responses.append({"id": response["key"], "key": response["key"],
                          "queue": response["queue"], "title": response["title"][title_language],
                          "titles": response["title"], "tags": response["tags"],
                          "texts": texts})
    return web.json_response({"languages": list(REPLY_LANGUAGES), "language": language,
                              "filled": context is not None,
                              "variables": list(canned.VARIABLES), "responses": responses})


def _context(config, conversation: dict[str, Any], user: dict[str, Any]) -> canned.Context:
    try:
        queue = config.queue(conversation["queue"])
        queue_name, queue_names, queue_email = queue.name, queue.names, queue.email
    except KeyError:   # unrouted, or a queue the deployment no longer has
        queue_name, queue_names, queue_email = conversation["queue"] or "", {}, None
    return canned.Context(contact_name=conversation["contact_name"],
                          agent_name=user["name"] or "", conversation_id=conversation["id"],
                          queue_name=queue_name, queue_email=queue_email,
                          queue_names=queue_names)


@routes.get("/api/v1/canned")
async def list_canned(request: web.Request) -> web.Response:
    return await _listing(request, request[SESSION].user)


@routes.get("/console/canned")
async def console_canned(request: web.Request) -> web.Response:
    """The same listing for the console's session cookie (kept for earlier consoles)."""
    user = await console.signed_in_user(request)
    if user is None:
        return json_error(401, "authentication required", code="authentication_required")
    return await _listing(request, user)


# --- the admins' API ------------------------------------------------------------------------

def _admin_view(response: dict[str, Any]) -> dict[str, Any]:
    return {key: response[key] for key in ("key", "queue", "title", "body", "tags",
                                           "is_default", "modified")}


async def _current(tx, key: str) -> dict[str, Any] | None:
    """The response of `key` in force (a default as overridden), or None."""
    row = await tx.canned.get(key)
    return next((r for r in canned.effective([row] if row else []) if r["key"] == key), None)


@routes.get("/api/v1/admin/canned")
async def admin_list(request: web.Request) -> web.Response:
    _require_admin(request)
    ctx = request.app[CONTEXT]
    async with ctx.store.read() as tx:
        rows = await tx.canned.all()
    return web.json_response({
        "responses": [_admin_view(r) for r in canned.effective(rows)],
        "deleted_defaults": canned.deleted_defaults(rows),
        "variables": list(canned.VARIABLES),
        "languages": list(REPLY_LANGUAGES),
        "queues": [{"id": q.id, "name": q.name, "names": dict(q.names)}
                   for q in ctx.config.queues]})


def _key_taken(key: str) -> web.HTTPException:
    return http_error(web.HTTPConflict, f"the key {key!r} is taken (by a response or a "
                      "shipped default)", code="canned_key_taken")


@routes.post("/api/v1/admin/canned")
async def admin_create(request: web.Request) -> web.Response:
    admin = _require_admin(request)
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    key = canned.checked_key(body.get("key"))
    values = canned.checked_response(body, (q.id for q in ctx.config.queues))
    if key in canned.shipped():
        raise _key_taken(key)
    try:
        async with ctx.store.transaction() as tx:
            if await tx.canned.get(key) is not None:
                raise _key_taken(key)
            await tx.canned.save(key, {**values, "is_default": False, "deleted": False},
                                 admin["id"])
            await tx.audit.record(admin["id"], "canned.created", TARGET_KIND, key,
                                  {"queue": values["queue"]})
            created = await _current(tx, key)
    except IntegrityError:
        raise _key_taken(key) from None
    return web.json_response(_admin_view(created), status=201)


@asynccontextmanager
async def _saving(ctx, key: str):
    """A transaction that writes the row of `key`. A default's first change inserts its row,
    and two admins changing it at once cannot both: the second is told to reload (409)."""
    try:
        async with ctx.store.transaction() as tx:
            yield tx
    except IntegrityError:
        raise http_error(web.HTTPConflict, f"{key!r} was changed meanwhile; reload",
                         code="conflict") from None


@routes.put("/api/v1/admin/canned/{key}")
async def admin_update(request: web.Request) -> web.Response:
    admin = _require_admin(request)
    ctx = request.app[CONTEXT]
    key = request.match_info["key"]
    body = await read_json(request)
    values = canned.checked_response(body, (q.id for q in ctx.config.queues))
    async with _saving(ctx, key) as tx:
        before = await _current(tx, key)
        if before is None:
            raise _not_found(key)
        changed = sorted(field for field in ("queue", "title", "body")
                         if before[field] != values[field])
        await tx.canned.save(key, {**values, "is_default": before["is_default"],
                                   "deleted": False}, admin["id"])
        await tx.audit.record(admin["id"], "canned.updated", TARGET_KIND, key,
                              {"changed": changed, "default": before["is_default"]})
        updated = await _current(tx, key)
    return web.json_response(_admin_view(updated))


@routes.delete("/api/v1/admin/canned/{key}")
async def admin_delete(request: web.Request) -> web.Response:
    admin = _require_admin(request)
    ctx = request.app[CONTEXT]
    key = request.match_info["key"]
    async with _saving(ctx, key) as tx:
        before = await _current(tx, key)
        if before is None:
            raise _not_found(key)
        if before["is_default"]:
            # A default stays deleted only while its tombstone row says so.
            await tx.canned.save(key, {"queue": before["queue"], "title": before["title"],
                                       "body": before["body"], "is_default": True,
                                       "deleted": True}, admin["id"])
        else:
            await tx.canned.remove(key)
        await tx.audit.record(admin["id"], "canned.deleted", TARGET_KIND, key,
                              {"queue": before["queue"], "default": before["is_default"]})
    return web.Response(status=204)


@routes.post("/api/v1/admin/canned/{key}/reset")
async def admin_reset(request: web.Request) -> web.Response:
    """A shipped default back as shipped, whether edited or deleted."""
    admin = _require_admin(request)
    ctx = request.app[CONTEXT]
    key = request.match_info["key"]
    if key not in canned.shipped():
        raise http_error(web.HTTPNotFound, f"{key!r} is not a shipped default",
                         code="canned_default_unknown")
    async with ctx.store.transaction() as tx:
        removed = await tx.canned.remove(key)
        if removed:
            await tx.audit.record(admin["id"], "canned.reset", TARGET_KIND, key, {})
        restored = await _current(tx, key)
    return web.json_response(_admin_view(restored))


def _not_found(key: str) -> web.HTTPException:
    return http_error(web.HTTPNotFound, f"no canned response {key[:40]!r}",
                      code="canned_not_found")


# --- the admins' page -------------------------------------------------------------------------

@routes.get("/admin/canned")
async def admin_page(request: web.Request) -> web.Response:
    return await console.page(request, "admin_canned.html", admins_only=True, page="admin")
