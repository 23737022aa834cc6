"""The admin API, `/api/v1/admin/…`, for admins only (everyone else gets a 403 on every
endpoint): staff accounts, the audit trail of admin changes, and the deployment's config
read-only. Validates the shape of what is sent; `inbox.administration` checks the values
(as `app.py user add` does), writes, and audits."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox import administration
from inbox.administration import AccountInput
from inbox.clock import utcnow
from inbox.deployment_view import deployment_view
from inbox.storage import Row
from web.api import SESSION
from web.appkeys import CONTEXT, VOICE_ADDRESS
from web.console import page_language
from web.http import bad_request, http_error, parse_id, read_json

routes = web.RouteTableDef()
ADMIN_PATHS = "/api/v1/admin/"
AUDIT_PAGE = 50


@web.middleware
async def admins_only(request: web.Request, handler):
    """Every admin endpoint, in one place: a new one cannot forget the check."""
    if request.path.startswith(ADMIN_PATHS) and SESSION in request \
            and request[SESSION].user["role"] != "admin":
        raise http_error(web.HTTPForbidden, "for admins only", code="admins_only")
    return await handler(request)


def _admin_id(request: web.Request) -> int:
    return request[SESSION].user["id"]


def admin_user_view(row: Row, zone) -> dict[str, Any]:
    """An account as the admin screen shows it (never its password hash)."""
    return {"id": row["id"], "email": row["email"], "name": row["name"], "role": row["role"],
            "queues": list(row["queues"] or []), "languages": list(row["languages"] or []),
            "capacity": dict(row["capacity"] or {}), "voice_address": row["voice_address"],
            "active": bool(row["active"]), "presence": row["presence"],
            "created_at": row["created_at"].astimezone(zone).isoformat()}


def _strings(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and "," not in item
                                              for item in value):
        raise bad_request(f"{key} must be a list of ids", code="bad_request")
    return value


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string", code="bad_request")
    return value


def _account(body: dict[str, Any]) -> AccountInput:
    unknown = set(body) - {"email", "password", "name", "role", "queues", "languages",
                           "capacity", "voice_address"}
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(sorted(unknown))}", code="bad_request")
    return AccountInput(name=_text(body, "name"), role=_text(body, "role"),
                        queues=_strings(body, "queues"), languages=_strings(body, "languages"),
                        capacity=body.get("capacity"), voice_address=_text(body, "voice_address"),
                        given_voice_address="voice_address" in body)


def _user_id(request: web.Request) -> int:
    user_id = parse_id(request.match_info["id"])
    if user_id is None:
        raise http_error(web.HTTPNotFound, "no such user", code="user_not_found")
    return user_id


@routes.get("/api/v1/admin/users")
async def list_users(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.store.read() as tx:
        rows = await tx.users.all()
    return web.json_response([admin_user_view(row, ctx.zone) for row in rows])


@routes.post("/api/v1/admin/users")
async def create_user(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    email, password = _text(body, "email"), _text(body, "password")
    given = _account({k: v for k, v in body.items() if k not in ("email", "password")})
    user = await administration.create_user(
        ctx, _admin_id(request), email or "", given, password, request.app[VOICE_ADDRESS])
    return web.json_response(admin_user_view(user, ctx.zone), status=201)


@routes.patch("/api/v1/admin/users/{id}")
async def edit_user(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    if "email" in body or "password" in body:
        raise bad_request("an account's e-mail address stays; a password is reset with "
                          "POST …/password", code="bad_request")
    user = await administration.edit_user(ctx, _admin_id(request), _user_id(request),
                                          _account(body), request.app[VOICE_ADDRESS])
    return web.json_response(admin_user_view(user, ctx.zone))


@routes.post("/api/v1/admin/users/{id}/deactivate")
async def deactivate_user(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    user = await administration.set_active(ctx, _admin_id(request), _user_id(request), False)
    return web.json_response(admin_user_view(user, ctx.zone))


@routes.post("/api/v1/admin/users/{id}/reactivate")
async def reactivate_user(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    user = await administration.set_active(ctx, _admin_id(request), _user_id(request), True)
    return web.json_response(admin_user_view(user, ctx.zone))


@routes.post("/api/v1/admin/users/{id}/password")
async def reset_password(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    ended = await administration.reset_password(ctx, _admin_id(request), _user_id(request),
                                                _text(body, "password"))
    return web.json_response({"sessions_ended": ended})


@routes.get("/api/v1/admin/audit")
async def audit(request: web.Request) -> web.Response:
    """Newest first, `limit` a page (default 50, at most 200); `before` (a page's
    `next_before`) goes back; `target_kind` and `target_id` narrow it to one thing."""
    ctx = request.app[CONTEXT]
    query = request.query
    try:
        limit = int(query.get("limit", AUDIT_PAGE))
    except ValueError:
        limit = 0
    if not 1 <= limit <= administration.AUDIT_PAGE_MAX:
        raise bad_request(f"limit must be 1..{administration.AUDIT_PAGE_MAX}", code="bad_page")
    before = None
    if "before" in query:
        before = parse_id(query["before"])
        if before is None:
            raise bad_request("before must be an audit event id", code="bad_page")
    page = await administration.audit_page(ctx, limit, before, query.get("target_kind") or None,
                                           query.get("target_id") or None)

    def person(user_id: int | None) -> dict[str, Any] | None:
        user = page.people.get(user_id) if user_id is not None else None
        return {"id": user["id"], "name": user["name"], "email": user["email"]} \
            if user else None

    return web.json_response({
        "items": [{
            "id": row["id"], "action": row["action"], "actor_id": row["actor_id"],
            "actor": person(row["actor_id"]),
            "target_kind": row["target_kind"], "target_id": row["target_id"],
            "target": person(int(row["target_id"]))
            if row["target_kind"] == "user" and row["target_id"].isdigit() else None,
            "details": row["details"],
            "created_at": row["created_at"].astimezone(ctx.zone).isoformat()}
            for row in page.rows],
        "next_before": page.next_before})


@routes.get("/api/v1/admin/config")
async def configuration(request: web.Request) -> web.Response:
    """The deployment's queues, routing rules, business hours and holidays; no secrets."""
    ctx = request.app[CONTEXT]
    language = page_language(request, request[SESSION].user)
    return web.json_response(deployment_view(ctx.config, ctx.calendar, language,
                                             utcnow().astimezone(ctx.zone).date()))
