"""The agent API, `/api/v1`: validates input, checks the caller may see the object, and hands
off to `inbox.actions`. Every 400/401/403/404 of the API is decided here."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from inbox import (
    actions,
    agent_uploads,
    assignment,
    auth,
    erasure,
    lifecycle,
    login_throttle,
    media_kinds,
    presence,
    previews,
    subject_access,
)
from inbox.actions import ActionError, Actor
from inbox.guided_intake import view as intake_views
from inbox.guided_intake.form import load_form
from inbox.live import as_seen_by, reaches_console
from inbox.replies import REPLY_LANGUAGES
from inbox.serialize import (
    conversation_view,
    event_view,
    mail_reply_view,
    message_view,
    reply_to_view,
    user_view,
)
from inbox.storage import ConversationFilter, utcnow
from inbox.storage.contacts import match_counterpart
from web import client_address, subject_access_copy
from web.appkeys import CONTEXT, HUB
from web.http import (
    bad_request,
    http_error,
    json_error,
    parse_id,
    parse_json,
    read_json,
    read_limited,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

PUBLIC_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/openapi.json"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION = web.RequestKey("session", auth.Session)
MAX_PAGE = 200
HEARTBEAT_S = 15


def actor_of(request: web.Request) -> Actor:
    user = request[SESSION].user
    return Actor(id=user["id"], role=user["role"], queues=tuple(user["queues"] or ()))


def _token_from(request: web.Request) -> tuple[str | None, bool]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, False
    return request.cookies.get(auth.SESSION_COOKIE), True


@web.middleware
async def require_session(request: web.Request, handler):
    if not request.path.startswith("/api/v1/") or request.path in PUBLIC_PATHS:
        return await handler(request)
    token, via_cookie = _token_from(request)
    session = await auth.session_for(request.app[CONTEXT].store, token, via_cookie) \
        if token else None
    if session is None:
        return json_error(401, "authentication required")
    if via_cookie and request.method not in SAFE_METHODS and not auth.csrf_ok(
            session, request.headers.get(auth.CSRF_HEADER)):
        return json_error(403, f"missing or wrong {auth.CSRF_HEADER} header", code="csrf_token")
    # No endpoint takes a query parameter twice: answering the first of two differing values
    # (a filter, a report's grouping) would show what the caller did not ask for.
    repeated = sorted({key for key in request.query if len(request.query.getall(key)) > 1})
    if repeated:
        return json_error(400, f"given more than once: {', '.join(repeated)}",
                          code="query_repeated")
    request[SESSION] = session
    return await handler(request)


def _int_param(request: web.Request, name: str) -> int:
    value = parse_id(request.match_info[name])
    if value is None:
        raise http_error(web.HTTPNotFound, f"no such {name}")
    return value


async def visible_conversation(request: web.Request) -> dict[str, Any]:
    """The conversation named in the path, if it exists (404) and the caller may see it (403)."""
    conversation_id = _int_param(request, "id")
    async with request.app[CONTEXT].store.read() as tx:
        row = await tx.conversations.with_contact(conversation_id)
    if row is None:
        raise http_error(web.HTTPNotFound, "conversation not found",
                         code="conversation_not_found")
    if not actor_of(request).may_see_queue(row["queue"]):
        raise http_error(web.HTTPForbidden, "outside your queues", code="outside_queues")
    return row


@web.middleware
async def action_errors(request: web.Request, handler):
    """An action that cannot be carried out answers with its status and reason."""
    try:
        return await handler(request)
    except ActionError as exc:
        return json_error(exc.status, str(exc), code=exc.code, **exc.values)


def _is_id(value: Any, *, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return parse_id(value) == value


def _id_field(body: dict[str, Any], key: str, what: str) -> int:
    value = body.get(key)
    if not _is_id(value):
        raise bad_request(f"{key} must be {what}")
    return value


# --- authentication ---------------------------------------------------------------------------

@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str) \
            or not email.strip() or not password:
        raise bad_request("email and password are required", code="credentials_required")
    ctx = request.app[CONTEXT]
    address = client_address.of_request(request)
    wait_s = await login_throttle.admit(ctx.redis, email, address)
    if wait_s:
        response = json_error(429, "too many failed logins; try again later",
                              code="login_throttled", retry_after_s=wait_s)
        response.headers["Retry-After"] = str(wait_s)
        return response
    result = await auth.login(ctx.store, email, password)
    if result is None:
        log.info("failed login")
        return json_error(401, "wrong e-mail or password", code="wrong_credentials")
    await login_throttle.succeeded(ctx.redis, email, address)
    user, token, csrf = result
    response = web.json_response({"token": token, "csrf_token": csrf,
                                  "user": user_view(user, ctx.zone)})
    secure = ctx.config.public_url.startswith("https://")
    max_age = int(auth.SESSION_TTL.total_seconds())
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="Strict",
                        secure=secure, max_age=max_age, path="/")
    response.set_cookie(auth.CSRF_COOKIE, csrf, httponly=False, samesite="Strict",
                        secure=secure, max_age=max_age, path="/")
    return response


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    token, _ = _token_from(request)
    await auth.logout(ctx.store, token)
    agent_id = actor_of(request).id
    await auth.sessions_ended(ctx.redis, agent_id)
    # Signing out is leaving, whatever the presence switch said: offline, and unanswered
    # conversations go back to their queues.
    await assignment.set_presence(ctx, agent_id, "offline")
    response = web.json_response({"status": "logged out"})
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    response.del_cookie(auth.CSRF_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    return web.json_response(user_view(request[SESSION].user, request.app[CONTEXT].zone))


@routes.post("/api/v1/me/presence")
async def set_presence(request: web.Request) -> web.Response:
    """Online, away (optionally with a reason from config) or offline. Calling it also
    counts as a console heartbeat."""
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    state, reason = body.get("presence"), body.get("reason")
    if state not in assignment.PRESENCES:
        raise bad_request(f"presence must be one of {', '.join(assignment.PRESENCES)}")
    if reason is not None:
        reasons = [r.id for r in ctx.config.away_reasons]
        if state != "away":
            raise bad_request(f"only an agent who is away gives a reason, not one {state}",
                              code="reason_only_when_away")
        if reason not in reasons:
            raise bad_request(f"reason must be one of {', '.join(reasons) or 'none'}",
                              code="unknown_away_reason")
    actor = actor_of(request)
    await presence.console_seen(ctx.redis, actor.id, "api", presence.API_PRESENCE_TTL_S)
    await assignment.set_presence(ctx, actor.id, state, reason)
    async with ctx.store.read() as tx:
        user = await tx.users.get(actor.id)
    return web.json_response(user_view(user, ctx.zone))


@routes.post("/api/v1/me/language")
async def set_console_language(request: web.Request) -> web.Response:
    """The language of the caller's own console pages (az, ru or en), saved on their account;
    null goes back to the browser's. Nobody sets another user's."""
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    language = body.get("language")
    if "language" not in body or (language is not None and language not in REPLY_LANGUAGES):
        raise bad_request(f"language must be one of {', '.join(REPLY_LANGUAGES)} or null",
                          code="unknown_language")
    actor = actor_of(request)
    async with ctx.store.transaction() as tx:
        await tx.users.update(actor.id, console_language=language)
        user = await tx.users.get(actor.id)
    return web.json_response(user_view(user, ctx.zone))


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    """Colleagues, for naming assignees and choosing whom to transfer to."""
    ctx = request.app[CONTEXT]
    async with ctx.store.read() as tx:
        staff = await tx.users.active()
    return web.json_response([
        {"id": u["id"], "name": u["name"], "role": u["role"], "presence": u["presence"],
         "queues": list(u["queues"] or []), "languages": list(u["languages"] or [])}
        for u in staff])


@routes.get("/api/v1/templates")
async def list_templates(request: web.Request) -> web.Response:
    """Approved templates the channels accept outside their free-text windows."""
    ctx = request.app[CONTEXT]
    return web.json_response([
        {"channel": channel.name, "name": name, "variables": list(t.variables),
         "preview": t.preview}
        for channel in ctx.channels.values() if channel.templates is not None
        for name, t in sorted(channel.templates.approved(ctx.config).items())])


@routes.get("/api/v1/tags")
async def list_tags(request: web.Request) -> web.Response:
    """The tags and wrap-up codes agents may put on conversations, named in each language,
    and the queues that are resolved only with a wrap-up code."""
    config = request.app[CONTEXT].config
    return web.json_response({
        "tags": [{"id": tag.id, "label": dict(tag.labels), "wrap_up": tag.wrap_up}
                 for tag in config.tags],
        "wrap_up_required": [queue.id for queue in config.queues if queue.wrap_up_required]})


@routes.get("/api/v1/channels")
async def list_channels(request: web.Request) -> web.Response:
    """What the console needs to know of each registered channel."""
    return web.json_response(request.app[CONTEXT].channels.view())


@routes.post("/api/v1/queue/next")
async def take_next(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    taken = await assignment.fill_agent(ctx, actor_of(request).id, pulled=True, limit=1)
    if not taken:
        return web.Response(status=204)
    return await _conversation_response(request, taken[0])


# --- conversations ----------------------------------------------------------------------------

def _encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["last_message_at"].isoformat(), row["id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (last_message_at, id) a cursor of `_encode_cursor` holds; a client's own cursor
    must hold the same: a time with its offset and an id in range, or it is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, last_id = parse_json(base64.urlsafe_b64decode(padded))
        at = datetime.fromisoformat(at)
        if at.utcoffset() is None or parse_id(last_id) != last_id:
            raise ValueError("a naive time or an id out of range")
        return at.astimezone(UTC), last_id
    except (ValueError, TypeError, OverflowError) as exc:
        raise bad_request("malformed cursor") from exc


def _conversation_filter(request: web.Request) -> ConversationFilter:
    q = request.query
    actor = actor_of(request)
    try:
        limit = min(max(int(q.get("limit", 50)), 1), MAX_PAGE)
    except ValueError as exc:
        raise bad_request("limit must be a number") from exc
    assignee: int | str | None = q.get("assignee") or None
    if assignee == "me":
        assignee = actor.id
    elif assignee not in (None, "none"):
        assignee = parse_id(assignee)
        if assignee is None:
            raise bad_request("assignee must be me, none or an agent id")
    statuses = tuple(s for s in (q.get("status") or "").split(",") if s)
    if any(s not in lifecycle.STATUSES for s in statuses):
        raise bad_request(f"status must be one or more (comma-separated) of "
                          f"{', '.join(lifecycle.STATUSES)}")
    category = q.get("category") or None
    if category is not None and category not in actions.CATEGORIES:
        raise bad_request(f"category must be one of {', '.join(actions.CATEGORIES)}")
    queue = q.get("queue") or None
    if queue is not None and not actor.may_see_queue(queue):
        raise http_error(web.HTTPForbidden, "outside your queues", code="outside_queues")
    return ConversationFilter(
        statuses=statuses, queue=queue, channel=q.get("channel") or None,
        category=category, assignee=assignee,
        text=(q.get("q") or "").strip() or None,
        allowed_queues=None if actor.sees_all_queues else actor.queues,
        limit=limit, before=_decode_cursor(q["cursor"]) if q.get("cursor") else None)


@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    f = _conversation_filter(request)
    async with ctx.store.read() as tx:
        rows = await tx.conversations.list(f)
    next_cursor = _encode_cursor(rows[-1]) if len(rows) == f.limit else None
    return web.json_response({"items": [conversation_view(r, ctx.zone) for r in rows],
                              "next_cursor": next_cursor})


@routes.get("/api/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    actor = actor_of(request)
    if row["assignee_id"] == actor.id and row["opened_at"] is None:
        await actions.mark_opened(ctx, actor, row["id"])
    async with ctx.store.read() as tx:
        messages = await tx.messages.of_conversation(row["id"])
        events = await tx.events.of_conversation(row["id"])
        identity = await tx.contacts.identity_by_id(row["identity_id"])
    view = conversation_view(row, ctx.zone, full=True)
    view["messages"] = [message_view(m, ctx.zone) for m in messages]
    view["events"] = [event_view(e, ctx.zone) for e in events]
    composer = ctx.channels[row["channel"]].composer
    view["mail_reply"] = mail_reply_view(composer, ctx.config, row, messages) \
        if composer is not None else None
    view["reply_to"] = reply_to_view(identity["reply_to"] if identity else None)
    view["intake"] = await _intake(ctx, actor, row, view["messages"])
    return web.json_response(view)


def _require_supervisor(request: web.Request) -> Actor:
    actor = actor_of(request)
    if not actor.sees_all_queues:
        raise http_error(web.HTTPForbidden, "only supervisors and admins may do this",
                         code="supervisors_only")
    return actor


def _check_not_watching(actor: Actor, row: dict[str, Any]) -> None:
    """A supervisor watches a colleague's conversation read-only: they may whisper or note,
    but answer the resident only once they have taken it over (or it is nobody's)."""
    if actor.sees_all_queues and row["assignee_id"] not in (None, actor.id):
        raise http_error(web.HTTPConflict, "the conversation is a colleague's: take it over "
                         "to answer the resident", code="take_over_first")


async def _intake(ctx, actor: Actor, row: dict[str, Any],
                  messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The guided intake's answers, if the conversation had one. Only the operators of its
    queue read the FIN and ID card number (and the messages that typed them) in clear."""
    async with ctx.store.read() as tx:
        intake = await tx.intakes.get(row["id"])
    if intake is None:
        return None
    unmasked = row["queue"] in actor.queues
    if not unmasked:
        for message in messages:
            message["body"] = intake_views.masked_body(message["body"])
    return intake_views.intake_view(intake, load_form(), ctx.config.guided_intake,
                                    unmasked=unmasked)


@routes.post("/api/v1/conversations/{id}/messages")
async def post_message(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    text, private = body.get("body"), body.get("private", False)
    template, variables = body.get("template"), body.get("variables") or {}
    if private is not True or template is not None:
        _check_not_watching(actor_of(request), row)
    if template is not None:
        if not isinstance(template, str) or not isinstance(variables, dict):
            raise bad_request("template must be a name and variables an object")
        if "subject" in body:
            raise bad_request("a template has no subject")
        message = await actions.template_reply(
            ctx, actor_of(request), row["id"], template,
            {str(k): str(v) for k, v in variables.items()})
    elif not isinstance(text, str) or not isinstance(private, bool):
        raise bad_request("body must be a string and private a boolean")
    else:
        message = await actions.reply(ctx, actor_of(request), row["id"], text, private,
                                      subject=body.get("subject"),
                                      uploads=_claimed_uploads(request, row, body))
    return web.json_response(message_view(message, ctx.zone), status=201)


def _claimed_uploads(request: web.Request, row: dict[str, Any],
                     body: dict[str, Any]) -> list[agent_uploads.Held]:
    """The caller's uploads a reply names in `attachments` (ids from `POST .../uploads`)."""
    named = body.get("attachments") or []
    if not isinstance(named, list) or not all(isinstance(u, str) for u in named):
        raise bad_request("attachments must be a list of upload ids")
    if len(named) > agent_uploads.MAX_PER_MESSAGE:
        raise bad_request(f"at most {agent_uploads.MAX_PER_MESSAGE} files go with one message",
                          code="too_many_attachments")
    try:
        return agent_uploads.claim(request.app[CONTEXT], row["id"], actor_of(request).id, named)
    except agent_uploads.UnknownUpload:
        raise http_error(web.HTTPNotFound, "an attachment names no upload of yours in this "
                         "conversation (never uploaded, already sent, or expired)",
                         code="upload_unknown") from None


@routes.post("/api/v1/conversations/{id}/uploads")
async def upload(request: web.Request) -> web.Response:
    """One file an agent will send with a reply (or keep with a note): the raw body, its name
    in `X-Filename` (percent-encoded). Its kind is read from its content, never from its name
    or declared type; it must be one `media.allowed_types` names, within `media.max_bytes`,
    and, unless `?for=note`, one the conversation's channel can carry to this resident.
    Answers 201 with the upload's id for the reply's `attachments`."""
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    purpose = request.query.get("for")
    if purpose not in (None, "note"):
        # Anything else read as a reply's file would check a channel the caller did not ask
        # about, or, read as a note's, skip the check they did.
        raise bad_request("for must be note, or left out for a reply's file")
    limit = ctx.config.media.max_bytes
    max_mb = max(1, limit // (1024 * 1024))
    body = await read_limited(request, limit)
    if body is None:
        return json_error(413, f"the file is larger than {max_mb} MB", code="upload_too_large",
                          max_mb=max_mb)
    if not body:
        return json_error(400, "the file is empty", code="upload_empty")
    content_type = media_kinds.sniff(body[:media_kinds.SNIFF_BYTES])
    if content_type is None or not media_kinds.type_allowed(content_type,
                                                            ctx.config.media.allowed_types):
        return json_error(415, "this kind of file is not accepted (images, PDF, audio and "
                          "video are)", code="upload_type_not_allowed")
    if purpose != "note":
        async with ctx.store.read() as tx:
            identity = await tx.contacts.identity_by_id(row["identity_id"])
        channel = ctx.channels[row["channel"]]
        refusal = channel.file_refusal(identity["address"] if identity else "", content_type,
                                       len(body))
        if refusal is not None:
            return json_error(422, f"{channel.label} cannot carry this file to the resident",
                              code=refusal.code, **refusal.values)
    filename = agent_uploads.filename_of(request.headers.get("X-Filename"), content_type)
    held = await agent_uploads.hold(ctx, row["id"], actor_of(request).id, body, content_type,
                                    filename)
    log.info("agent upload held for conversation %s: %s, %d bytes", row["id"], content_type,
             held.size)
    return web.json_response(held.view(), status=201)
@routes.post("/api/v1/conversations/{id}/whisper")
async def post_whisper(request: web.Request) -> web.Response:
    """A supervisor's note for the agents of the conversation, shown apart and announced to
    its assignee; never sent to the resident."""
    actor = _require_supervisor(request)
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    if not isinstance(body.get("body"), str):
        raise bad_request("body must be a string")
    message = await actions.whisper(ctx, actor, row["id"], body["body"])
    return web.json_response(message_view(message, ctx.zone), status=201)


@routes.post("/api/v1/conversations/{id}/take-over")
async def take_over(request: web.Request) -> web.Response:
    """A supervisor makes a conversation they watch their own, to answer the resident."""
    actor = _require_supervisor(request)
    row = await visible_conversation(request)
    if row["assignee_id"] != actor.id:
        await actions.take_over(request.app[CONTEXT], actor, row["id"])
    return await _conversation_response(request, row["id"])


@routes.post("/api/v1/conversations/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    agent_id, queue = body.get("agent_id"), body.get("queue")
    if not _is_id(agent_id, nullable=True) or (queue is not None and not isinstance(queue, str)):
        raise bad_request("agent_id must be an id or null, queue a queue id")
    await actions.assign(ctx, actor_of(request), row["id"], agent_id, queue)
    return await _conversation_response(request, row["id"])


@routes.get("/api/v1/conversations/{id}/transfer-targets")
async def transfer_targets(request: web.Request) -> web.Response:
    """Where the conversation may go: every queue of the deployment (an agent sends work to
    queues they do not see), and every colleague with their presence and their load against
    their capacity for this conversation's kind of work, so the console can warn before a
    transfer to someone who is away, offline or full."""
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    kind = ctx.channels.capacity_kind(row["channel"])
    async with ctx.store.read() as tx:
        staff = await tx.users.active()
        loads = await tx.conversations.open_loads([u["id"] for u in staff])
    agents = []
    for user in staff:
        state = assignment.agent_state(user, loads.get(user["id"], {}), ctx.channels)
        agents.append({
            "id": user["id"], "name": user["name"], "role": user["role"],
            "presence": user["presence"], "queues": list(user["queues"] or []),
            "languages": list(user["languages"] or []), "load": state.load.get(kind, 0),
            "capacity": state.capacity.get(kind, 0), "full": not state.has_room(kind)})
    return web.json_response({
        "capacity_kind": kind,
        "queues": [{"id": q.id, "name": q.name, "names": dict(q.names), "kind": q.kind}
                   for q in ctx.config.queues],
        "agents": agents})


@routes.post("/api/v1/conversations/{id}/status")
async def set_status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    await actions.set_status(ctx, actor_of(request), row["id"], body.get("status"))
    return await _conversation_response(request, row["id"])


@routes.put("/api/v1/conversations/{id}/tags")
async def set_tags(request: web.Request) -> web.Response:
    """The conversation's tags become the list given (`{"tags": ["pension", "answered"]}`)."""
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    await actions.set_tags(ctx, actor_of(request), row["id"], body.get("tags"))
    return await _conversation_response(request, row["id"])


@routes.post("/api/v1/conversations/{id}/typing")
async def agent_typing(request: web.Request) -> web.Response:
    """The agent is writing: the resident sees it where the channel can show it (the web chat
    window; Telegram's "typing" chat action, at most every 4 s per chat)."""
    row = await visible_conversation(request)
    _check_not_watching(actor_of(request), row)   # a watcher's whisper is not "typing"
    await actions.agent_typing(request.app[CONTEXT], row["id"])
    return web.Response(status=204)


@routes.post("/api/v1/conversations/{id}/category")
async def set_category(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    reroute = body.get("reroute", False)
    if not isinstance(reroute, bool):
        raise bad_request("reroute must be a boolean")
    await actions.set_category(ctx, actor_of(request), row["id"], body.get("category"),
                               reroute)
    return await _conversation_response(request, row["id"])


@routes.post("/api/v1/conversations/{id}/merge")
async def merge_conversations(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    other = _id_field(body, "conversation_id", "the id of the conversation to merge in")
    async with ctx.store.read() as tx:
        other_row = await tx.conversations.get(other)
    if other_row is None:
        return json_error(404, f"conversation {other} not found", code="conversation_not_found")
    if not actor_of(request).may_see_queue(other_row["queue"]):
        return json_error(403, "outside your queues", code="outside_queues")
    await actions.merge_conversations(ctx, actor_of(request), row["id"], other)
    return await _conversation_response(request, row["id"])


@routes.post("/api/v1/conversations/{id}/split")
async def split_conversation(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    row = await visible_conversation(request)
    body = await read_json(request)
    message_id = _id_field(body, "message_id", "the id of the first message of the new matter")
    new_id = await actions.split_conversation(ctx, actor_of(request), row["id"], message_id)
    response = await _conversation_response(request, new_id)
    response.set_status(201)
    return response


async def _conversation_response(request: web.Request, conversation_id: int) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.store.read() as tx:
        row = await tx.conversations.with_contact(conversation_id)
    return web.json_response(conversation_view(row, ctx.zone))


async def _stored_attachment(request: web.Request) -> tuple[dict[str, Any], Path] | web.Response:
    """The attachment `{index}` of message `{id}` and its file, for a caller who may see its
    conversation; else the error to answer."""
    ctx = request.app[CONTEXT]
    message_id = _int_param(request, "id")
    async with ctx.store.read() as tx:
        message = await tx.messages.get(message_id)
        conversation = await tx.conversations.get(message["conversation_id"]) if message else None
    if conversation is None:
        return json_error(404, "message not found")
    if not actor_of(request).may_see_queue(conversation["queue"]):
        return json_error(403, "outside your queues", code="outside_queues")
    items = message["attachments"] or []
    # Compared as text: int() would read "-1" as the last attachment.
    positions = [str(n) for n in range(len(items))]
    if request.match_info["index"] not in positions:
        return json_error(404, "attachment not found")
    item = items[positions.index(request.match_info["index"])]
    if not item.get("stored"):
        return json_error(404, item.get("error") or "the attachment has not been fetched yet")
    path = agent_uploads.stored_path(ctx.media_dir, item)
    if path is None:
        return json_error(404, "attachment not found")
    return item, path


@routes.get("/api/v1/messages/{id}/attachments/{index}")
async def attachment(request: web.Request) -> web.StreamResponse:
    """A stored attachment, to callers who may see its conversation. Served as a download
    with its type pinned, so a file a resident sent can never run as a page of this site."""
    found = await _stored_attachment(request)
    if isinstance(found, web.Response):
        return found
    item, path = found
    disposition = "inline" if item["content_type"].startswith(("image/", "audio/")) \
        else "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": item["content_type"],
        "Content-Disposition": f'{disposition}; filename="attachment-{request.match_info["id"]}-'
                               f'{request.match_info["index"]}{path.suffix}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600"})


@routes.get("/api/v1/messages/{id}/attachments/{index}/preview")
async def attachment_preview(request: web.Request) -> web.StreamResponse:
    """A PDF attachment's first page as a PNG (`inbox.previews`), drawn once and kept beside
    the file; 422 `no_preview` for a file that is not a PDF or cannot be drawn."""
    found = await _stored_attachment(request)
    if isinstance(found, web.Response):
        return found
    item, path = found
    if item["content_type"] != "application/pdf":
        return json_error(422, "only a PDF has a preview", code="no_preview")
    picture = path.with_name(path.name + ".preview.png")
    if not picture.exists():
        try:
            png = await asyncio.to_thread(previews.first_page_png, path.read_bytes())
        except previews.NoPreview as exc:
            return json_error(422, f"the PDF cannot be shown: {exc}", code="no_preview")
        partial = picture.with_name(f".{picture.name}.{secrets.token_hex(4)}")
        partial.write_bytes(png)
        os.replace(partial, picture)   # whole or not at all, whoever draws it first
    return web.FileResponse(picture, headers={
        "Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600"})


# --- queues, contacts -------------------------------------------------------------------------

@routes.get("/api/v1/queues")
async def list_queues(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    async with ctx.store.read() as tx:
        waiting = {r["queue"]: r for r in await tx.conversations.queue_waiting()}
        online = await tx.users.online_by_queue()
    now = utcnow()
    items = []
    for queue in ctx.config.queues:
        if not actor.may_see_queue(queue.id):
            continue
        stats = waiting.get(queue.id)
        items.append({
            "id": queue.id, "name": queue.name, "names": dict(queue.names), "kind": queue.kind,
            "waiting": stats["waiting"] if stats else 0,
            "longest_wait_s": int((now - stats["oldest"]).total_seconds()) if stats else 0,
            "agents_online": online.get(queue.id, 0),
        })
    return web.json_response(items)


async def _may_see_contact(tx, actor: Actor, contact_id: int) -> bool:
    """A contact is visible through a conversation the caller may see."""
    return actor.sees_all_queues or any(actor.may_see_queue(c["queue"])
                                        for c in await tx.conversations.of_contact(contact_id))


async def _possible_matches(tx, actor: Actor, contact_id: int, zone) -> list[dict[str, Any]]:
    """Open possible matches of the contact; the other contact's name only to callers who
    may see that contact too."""
    found = []
    for match in await tx.contacts.open_matches_of(contact_id):
        other_id = match_counterpart(match, contact_id)
        visible = await _may_see_contact(tx, actor, other_id)
        other = await tx.contacts.get(other_id) if visible else None
        found.append({"id": match["id"], "kind": match["kind"], "value": match["masked"],
                      "found_at": match["found_at"].astimezone(zone).isoformat(),
                      "contact": {"id": other_id, "visible": visible,
                                  "name": other["name"] if other else None}})
    return found


@routes.get("/api/v1/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    return await _contact_response(request, _int_param(request, "id"))


TIMELINE_PAGE = 50


@routes.get("/api/v1/contacts/{id}/timeline")
async def contact_timeline(request: web.Request) -> web.Response:
    """A resident's messages across every channel and conversation the caller may see, one
    page at a time from the newest: `before` (a message id) reads further back."""
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    contact_id = _int_param(request, "id")
    before = None
    if "before" in request.query:
        before = parse_id(request.query["before"])
        if before is None:
            raise bad_request("before must be a message id", code="bad_page")
    limit = parse_id(request.query.get("limit", str(TIMELINE_PAGE)))
    if limit is None or limit > MAX_PAGE:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE}",
                          code="bad_page")
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(contact_id)
        if contact is None:
            return json_error(404, "contact not found", code="contact_not_found")
        conversations = await tx.conversations.of_contact(contact_id)
        visible = {c["id"]: c for c in conversations if actor.may_see_queue(c["queue"])}
        if not visible and not actor.sees_all_queues:
            return json_error(403, "outside your queues", code="outside_queues")
        rows = await tx.messages.of_conversations(list(visible), before=before, limit=limit)
    items = [{**message_view(row, ctx.zone),
              "channel": visible[row["conversation_id"]]["channel"]} for row in rows]
    return web.json_response({
        "items": items,
        "next_before": items[0]["id"] if len(items) == limit else None})


async def _contact_response(request: web.Request, contact_id: int) -> web.Response:
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(contact_id)
        if contact is None:
            return json_error(404, "contact not found", code="contact_not_found")
        conversations = await tx.conversations.of_contact(contact_id)
        identities = await tx.contacts.identities_of(contact_id)
    # A contact is visible through a conversation the caller may see.
    if not actor.sees_all_queues and not any(actor.may_see_queue(c["queue"])
                                             for c in conversations):
        return json_error(403, "outside your queues", code="outside_queues")
    async with ctx.store.read() as tx:
        matches = await _possible_matches(tx, actor, contact_id, ctx.zone)
    return web.json_response({
        "id": contact["id"], "name": contact["name"], "phone": contact["phone"],
        "email": contact["email"], "language": contact["language"],
        "preferred_channel": contact["preferred_channel"],
        "erased_at": contact["erased_at"].astimezone(ctx.zone).isoformat()
        if contact["erased_at"] else None,
        "identities": [{"channel": i["channel"], "address": i["address"],
                        "display_name": i["display_name"]} for i in identities],
        "conversations": [
            {"id": c["id"], "channel": c["channel"], "status": c["status"],
             "category": c["category"], "queue": c["queue"],
             "created_at": c["created_at"].astimezone(ctx.zone).isoformat()}
            for c in conversations if actor.may_see_queue(c["queue"])],
        "possible_matches": matches,
    })


@routes.patch("/api/v1/contacts/{id}")
async def update_contact(request: web.Request) -> web.Response:
    """An agent corrects the resident's name, language or preferred channel."""
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    contact_id = _int_param(request, "id")
    body = await read_json(request)
    async with ctx.store.read() as tx:
        if await tx.contacts.get(contact_id) is None:
            return json_error(404, "contact not found", code="contact_not_found")
        if not await _may_see_contact(tx, actor, contact_id):
            return json_error(403, "outside your queues", code="outside_queues")
    await actions.update_contact(ctx, actor, contact_id, body)
    return await get_contact(request)


async def _match_of(request: web.Request, contact_id: int) -> dict[str, Any]:
    match_id = _int_param(request, "match_id")
    async with request.app[CONTEXT].store.read() as tx:
        match = await tx.contacts.match(match_id)
    if match is None or contact_id not in (match["contact_id"], match["other_contact_id"]):
        raise http_error(web.HTTPNotFound, "possible match not found", code="match_not_found")
    return match


@routes.post("/api/v1/contacts/{id}/matches/{match_id}/confirm")
async def confirm_match(request: web.Request) -> web.Response:
    """The agent confirms a possible match: the later of the two contacts joins the earlier
    one, whichever of them the agent was looking at, so the resident keeps the contact (and
    name) they had first. Answers with the joined contact."""
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    contact_id = _int_param(request, "id")
    match = await _match_of(request, contact_id)
    other = match_counterpart(match, contact_id)
    async with ctx.store.read() as tx:
        for visible_id in (contact_id, other):
            if not await _may_see_contact(tx, actor, visible_id):
                return json_error(403, "outside your queues", code="outside_queues")
    earlier, later = sorted((contact_id, other))
    await actions.merge_contacts(ctx, actor, earlier, later, match_id=match["id"])
    return await _contact_response(request, earlier)


@routes.post("/api/v1/contacts/{id}/matches/{match_id}/dismiss")
async def dismiss_match(request: web.Request) -> web.Response:
    """The agent judges a possible match to be two residents."""
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    contact_id = _int_param(request, "id")
    match = await _match_of(request, contact_id)
    async with ctx.store.read() as tx:
        if not await _may_see_contact(tx, actor, contact_id):
            return json_error(403, "outside your queues", code="outside_queues")
    await actions.dismiss_match(ctx, actor, contact_id, match["id"])
    return await get_contact(request)


@routes.post("/api/v1/contacts/{id}/merge")
async def merge_contacts(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    into = _int_param(request, "id")
    body = await read_json(request)
    other = _id_field(body, "contact_id", "the id of the contact to merge in")
    async with ctx.store.read() as tx:
        for contact_id in (into, other):
            if await tx.contacts.get(contact_id) is None:
                return json_error(404, f"contact {contact_id} not found", code="contact_not_found")
            visible = [c for c in await tx.conversations.of_contact(contact_id)
                       if actor.may_see_queue(c["queue"])]
            if not visible and not actor.sees_all_queues:
                return json_error(403, "outside your queues", code="outside_queues")
    await actions.merge_contacts(ctx, actor, into, other)
    return await get_contact(request)


_COPY_FORMATS = ("json", "html")


@routes.get("/api/v1/contacts/{id}/export")
async def export_contact(request: web.Request) -> web.Response:
    """An admin's copy of what the centre holds about a resident (`inbox.subject_access`):
    a JSON file, or (`?format=html`) a page to print for them in their language (or
    `?language=`)."""
    actor = actor_of(request)
    if actor.role != "admin":
        return json_error(403, "for admins only", code="admins_only")
    contact_id = _int_param(request, "id")
    form = request.query.get("format", "json")
    if form not in _COPY_FORMATS:
        raise bad_request(f"format must be one of {', '.join(_COPY_FORMATS)}",
                          code="format_invalid")
    asked = request.query.get("language")
    if asked is not None and asked not in REPLY_LANGUAGES:
        raise bad_request(f"language must be one of {', '.join(REPLY_LANGUAGES)}",
                          code="unknown_language")
    ctx = request.app[CONTEXT]
    document = await subject_access.export_contact(ctx, contact_id, actor.id, form=form)
    if form == "html":
        language = subject_access_copy.copy_language(document, asked)
        return web.Response(
            text=subject_access_copy.render_copy(document, ctx.config, language),
            content_type="text/html", headers={
                **subject_access_copy.HEADERS,
                "Content-Disposition": f'inline; filename="contact-{contact_id}.html"'})
    return web.json_response(document, dumps=lambda data: json.dumps(data, ensure_ascii=False),
                             headers={"Content-Disposition":
                                      f'attachment; filename="contact-{contact_id}.json"'})


_ERASE_FIELDS = frozenset({"reason", "reference"})


@routes.post("/api/v1/contacts/{id}/erase")
async def erase_contact(request: web.Request) -> web.Response:
    """An admin erases a resident's personal data (`inbox.erasure`): at the resident's
    request, or by a legal order, with its number in the ministry's registry. Answers with
    the contact as it is left, and what was erased."""
    ctx = request.app[CONTEXT]
    actor = actor_of(request)
    if actor.role != "admin":
        return json_error(403, "for admins only", code="admins_only")
    contact_id = _int_param(request, "id")
    body = await read_json(request)
    if unknown := sorted(set(body) - _ERASE_FIELDS):
        raise bad_request(f"unknown fields: {', '.join(unknown)}", code="unknown_fields")
    reason = body.get("reason")
    if reason not in erasure.REASONS:
        raise bad_request(f"reason must be one of {', '.join(erasure.REASONS)}",
                          code="reason_invalid")
    result = await erasure.erase_contact(ctx, contact_id, reason=reason, actor_id=actor.id,
                                         reference=erasure.reference_of(body.get("reference")))
    response = await _contact_response(request, contact_id)
    view = json.loads(response.body)
    view["erasure"] = {"conversations": result.conversations, "messages": result.messages,
                       "files": result.files, "at_providers": result.at_providers,
                       "dead_letters": result.dead_letters}
    return web.json_response(view)


# --- live stream ------------------------------------------------------------------------------

@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events for the caller's queues, while the caller's session lasts."""
    actor = actor_of(request)
    ctx = request.app[CONTEXT]
    token, via_cookie = _token_from(request)

    async def signed_out() -> bool:
        return await auth.session_for(ctx.store, token, via_cookie) is None

    hub = request.app[HUB]
    connection = secrets.token_hex(8)
    await presence.console_seen(ctx.redis, actor.id, connection)
    listener = hub.subscribe_stream(
        lambda event: reaches_console(event, actor.may_see_queue))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(listener.queue.get(), HEARTBEAT_S)
                if event is None:
                    break   # the app is shutting down
            except TimeoutError:
                if await signed_out():   # expired, or an ended session whose event was missed
                    break
                await response.write(b": heartbeat\n\n")
                with ctx.redis_outage.best_effort():
                    await presence.console_seen(ctx.redis, actor.id, connection)
                continue
            if event["type"] == auth.SESSIONS_ENDED:
                if event["data"].get("agent_id") == actor.id and await signed_out():
                    break
                continue
            data = as_seen_by(event["data"], event.get("queue") in actor.queues)
            payload = json.dumps(data, default=str)
            await response.write(f"event: {event['type']}\ndata: {payload}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe_stream(listener)
        with ctx.redis_outage.best_effort():
            await presence.console_closed(ctx.redis, actor.id, connection)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response
