"""HTTP plumbing shared by every JSON endpoint: error bodies and request-body parsing."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from inbox.appkeys import CONTEXT
from inbox.outage import REDIS_UNAVAILABLE

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    """Machine clients get JSON errors; a traceback never reaches them."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(("/api/", "/webhooks/")):
            raise
        if exc.content_type == "application/json":
            raise
        return json_error(exc.status, exc.reason if exc.text is None or exc.text.startswith(
            f"{exc.status}:") else exc.text)
    except Exception:
        if not request.path.startswith(("/api/", "/webhooks/")):
            raise
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


@web.middleware
async def redis_outage(request: web.Request, handler):
    """A request that meets a Redis outage is answered 503 (retry shortly), and the outage is
    logged once for all of them (inbox.outage), not with a traceback each."""
    try:
        return await handler(request)
    except REDIS_UNAVAILABLE as exc:
        request.app[CONTEXT].redis_outage.failed(exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if request.path.startswith(("/api/", "/webhooks/")):
            return web.json_response({"error": "temporarily unavailable; try again shortly"},
                                     status=503, headers=headers)
        return web.Response(status=503, text="Temporarily unavailable; try again shortly.",
                            headers=headers)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 that says what is wrong with it."""
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"malformed JSON body: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be a JSON object"}),
                                 content_type="application/json")
    return body


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}),
                              content_type="application/json")
