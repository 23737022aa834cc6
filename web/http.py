"""HTTP plumbing shared by every JSON endpoint: error bodies, request-body parsing and the one
check of an id a client sends."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from inbox.outage import REDIS_UNAVAILABLE
from web.appkeys import CONTEXT

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# Paths whose clients are programs: their errors are JSON, never aiohttp's text pages.
MACHINE_PATHS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics")
MAX_ID = 2**63 - 1   # the id columns' range (BIGINT)
_MAX_ID_DIGITS = len(str(MAX_ID))
# Headers of an HTTP error that belong to the error and must survive its JSON body (405 Allow).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


# Beside its English text every error carries a stable code: what clients match on and what
# the console translates (templates/console/texts.yaml, `error.<code>`); the text may change.
# An error without a code of its own has its status's.
STATUS_CODES = {400: "bad_request", 401: "authentication_required", 403: "forbidden",
                404: "not_found", 405: "method_not_allowed", 409: "conflict",
                413: "too_large", 422: "not_possible", 429: "too_many_requests",
                500: "internal_error", 503: "unavailable"}


def error_body(status: int, message: str, *, code: str | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"error": message, "code": code or STATUS_CODES.get(status, "error"), **extra}


def json_error(status: int, message: str, *, code: str | None = None,
               **extra: Any) -> web.Response:
    return web.json_response(error_body(status, message, code=code, **extra), status=status)


def http_error(kind: type[web.HTTPException], message: str, *,
               code: str | None = None) -> web.HTTPException:
    """An HTTP error to raise, with the JSON body of `json_error`."""
    return kind(text=json.dumps(error_body(kind.status_code, message, code=code)),
                content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler):
    """Machine clients get JSON errors; a traceback never reaches them."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(MACHINE_PATHS):
            raise
        if exc.content_type == "application/json":
            raise
        response = json_error(exc.status, exc.reason if exc.text is None or exc.text.startswith(
            f"{exc.status}:") else exc.text)
        for name in _KEPT_HEADERS:
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        if not request.path.startswith(MACHINE_PATHS):
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
            return web.json_response(
                error_body(503, "temporarily unavailable; try again shortly"),
                status=503, headers=headers)
        return web.Response(status=503, text="Temporarily unavailable; try again shortly.",
                            headers=headers)


def parse_id(value: Any) -> int | None:
    """`value` as the id of a stored row, or None when it cannot be one.

    A JSON integer or a string of ASCII digits within the id columns' range (1..2**63-1).
    Floats (1e20, 1.0), booleans, signs, spaces, underscores and non-ASCII digits are not
    ids: Python's int() would take several of them, and an id past the range reaches the
    database as an overflow instead of a "not found".
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= _MAX_ID_DIGITS):
            return None
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if 1 <= value <= MAX_ID else None


def unstorable(text: str) -> str | None:
    """What in `text` no database or Redis here can store, or None when it can be stored.

    Both are valid JSON: "\\ud800" decodes to a lone surrogate, which has no UTF-8 form
    (the encoding for the database or Redis fails mid-write), and "\\u0000" to a NUL,
    which PostgreSQL refuses in text.
    """
    if "\x00" in text:
        return "a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included (without recursion: the value may
    be nested as deep as the decoder allows)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def parse_json(text: str | bytes) -> Any:
    """JSON text as Python values; ValueError saying what is wrong.

    Stricter than json.loads where it matters once the value is stored: a string that cannot
    be stored (`unstorable`) is refused here rather than failing mid-write, and nesting deeper
    than the interpreter's recursion limit is a malformed document, not a crash.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    for string in _strings(value):
        if problem := unstorable(string):
            raise ValueError(f"a string holds {problem}")
    return value


@web.middleware
async def storable_query(request: web.Request, handler):
    """Query parameters are text the databases can hold, or the request is a 400."""
    if request.path.startswith(MACHINE_PATHS):
        for name, value in request.query.items():
            if problem := unstorable(name) or unstorable(value):
                return json_error(400, f"a query parameter holds {problem}")
    return await handler(request)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 that says what is wrong with it."""
    try:
        body = parse_json((await request.read()).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"malformed JSON body: {exc}", code="malformed_json") from exc
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", code="malformed_json")
    return body


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The raw body of an upload, read past `limits.max_body_bytes` (which is for JSON) up to
    `limit` bytes; None when it is longer (nothing more is read)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def bad_request(message: str, *, code: str | None = None) -> web.HTTPException:
    return http_error(web.HTTPBadRequest, message, code=code)
