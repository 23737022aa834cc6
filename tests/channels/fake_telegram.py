"""A small stand-in for Telegram's Bot API, at its real paths, as python-telegram-bot calls it.

`POST /bot<token>/<method>` for sendMessage, sendPhoto and sendDocument (multipart uploads,
each file recorded as an `Upload` with its name, type and bytes), sendChatAction,
answerCallbackQuery, getFile,
setWebhook, getWebhookInfo, deleteWebhook and getUpdates, answering Telegram's envelope
(`{"ok": true, "result": ...}`, or `{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`), and `GET /file/bot<token>/<file_path>` for the files. A
wrong token gets Telegram's 401. Every call is recorded; `fail_next` makes the next calls of a
method fail as Telegram does (429 with retry_after, 403 "bot was blocked by the user", 400
"chat not found"). getUpdates serves `queue_update`'d updates from the offset asked, and
refuses with 409 while a webhook is set, as Telegram does.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 7012345678, "is_bot": True, "first_name": "DOST",
            "username": "dost_gov_az_bot"}


@dataclass(frozen=True)
class Upload:
    """A file a multipart call carried, as Telegram receives it."""

    filename: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    token: str
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, str, dict | None]]] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)   # file_id: (path, body)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    next_message_id: int = 1000

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    # --- what tests arrange ---------------------------------------------------------------

    def add_file(self, file_id: str, path: str, body: bytes) -> None:
        self.files[file_id] = (path, body)

    def queue_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)

    def fail_next(self, method: str, kind: str, times: int = 1, retry_after: int = 3) -> None:
        failure = {"429": (429, f"Too Many Requests: retry after {retry_after}",
                           {"retry_after": retry_after}),
                   "blocked": (403, "Forbidden: bot was blocked by the user", None),
                   "chat not found": (400, "Bad Request: chat not found", None),
                   "500": (500, "Internal Server Error", None)}[kind]
        self.failures.setdefault(method, []).extend([failure] * times)

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    # --- the API ------------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, parameters: dict | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
                continue
            try:   # the library JSON-encodes every field's value
                params[key] = json.loads(value)
            except (TypeError, ValueError):
                params[key] = value
        return params

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        if self.failures.get(method):
            return self._error(*self.failures[method].pop(0))
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return self._error(404, "Not Found")
        return await handler(params)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        self.next_message_id += 1
        chat_id = int(params["chat_id"])
        message = {"message_id": self.next_message_id, "from": BOT_USER,
                   "chat": {"id": chat_id, "first_name": "Resident", "type": "private"},
                   "date": int(time.time()), "text": params["text"]}
        if "inline_keyboard" in (params.get("reply_markup") or {}):
            # Telegram echoes only an inline keyboard on the message; a reply keyboard not.
            message["reply_markup"] = params["reply_markup"]
        return self._ok(message)

    async def _sendPhoto(self, params: dict[str, Any]) -> web.Response:
        photo = params.get("photo")
        if not isinstance(photo, Upload) or not photo.body:
            return self._error(400, "Bad Request: there is no photo in the request")
        return self._file_message(params, "photo", [{
            "file_id": f"AgAC-{len(self.calls)}", "file_unique_id": f"u{len(self.calls)}",
            "width": 1280, "height": 960, "file_size": len(photo.body)}])

    async def _sendDocument(self, params: dict[str, Any]) -> web.Response:
        document = params.get("document")
        if not isinstance(document, Upload) or not document.body:
            return self._error(400, "Bad Request: there is no document in the request")
        return self._file_message(params, "document", {
            "file_id": f"BQAC-{len(self.calls)}", "file_unique_id": f"u{len(self.calls)}",
            "file_name": document.filename, "mime_type": document.content_type,
            "file_size": len(document.body)})

    def _file_message(self, params: dict[str, Any], kind: str, value: Any) -> web.Response:
        self.next_message_id += 1
        return self._ok({"message_id": self.next_message_id, "from": BOT_USER,
                         "chat": {"id": int(params["chat_id"]), "first_name": "Resident",
                                  "type": "private"},
                         "date": int(time.time()), kind: value})

    async def _sendChatAction(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = params["file_id"]
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        path, body = self.files[file_id]
        return self._ok({"file_id": file_id, "file_unique_id": f"u-{file_id[-6:]}",
                         "file_size": len(body), "file_path": path})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, body in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=body, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates") or []}
        return self._ok(True)

    async def _deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {}
        return self._ok(True)

    async def _getWebhookInfo(self, params: dict[str, Any]) -> web.Response:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""),
                                "has_custom_certificate": False,
                                "pending_update_count": len(self.updates)}
        if self.webhook:
            info["allowed_updates"] = self.webhook["allowed_updates"]
            info["last_error_date"] = 1764763000
            info["last_error_message"] = "Connection timed out"
        return self._ok(info)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is "
                                    "active; use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        # An offset confirms every update before it: Telegram forgets them.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        waited = 0.0
        while not self.updates and waited < min(float(params.get("timeout") or 0), 1.0):
            await asyncio.sleep(0.05)
            waited += 0.05
        return self._ok(self.updates[: int(params.get("limit") or 100)])
