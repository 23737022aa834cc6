"""Web chat: the `/chat` page, the embeddable widget, and the WebSocket protocol of CONTRACT.md.

A resident's browser holds a session token (the session id, signed with SECRET_KEY); the
session id is the resident's address on this channel. Frames are parsed by `parse_frame`, a
pure function; the socket handler only verifies, parses, calls ingest and answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jinja2
from aiohttp import web

from channels.base import SendResult
from inbox import outbox
from inbox.appkeys import CONTEXT, HUB, SECRET_KEY
from inbox.context import InboxContext
from inbox.http import parse_json
from inbox.ingest import ingest
from inbox.live import publish_to_chat
from inbox.messages import InboundMessage, OutboundMessage
from inbox.replies import REPLY_LANGUAGES, TEMPLATES_DIR
from inbox.serialize import iso, resident_message_view
from inbox.store import utcnow

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 256 * 1024   # larger frames close the socket (1009); text limit is config's
MAX_CLIENT_ID = 100
MAX_NAME = 200


class FrameError(ValueError):
    """A frame the protocol does not allow; the message goes back in an error frame."""


@dataclass(frozen=True)
class Hello:
    session: str | None
    name: str | None
    language: str | None


@dataclass(frozen=True)
class ChatText:
    client_id: str
    text: str


@dataclass(frozen=True)
class Typing:
    pass


def parse_frame(raw: str, max_chars: int) -> Hello | ChatText | Typing:
    try:
        frame = parse_json(raw)
    except json.JSONDecodeError:
        raise FrameError("the frame is not JSON") from None
    except ValueError as exc:   # JSON, but not text that could be stored
        raise FrameError(f"the frame cannot be taken in: {exc}") from None
    if not isinstance(frame, dict):
        raise FrameError("the frame must be a JSON object")
    kind = frame.get("type")
    if kind == "hello":
        session, name, language = frame.get("session"), frame.get("name"), frame.get("language")
        if session is not None and not isinstance(session, str):
            raise FrameError("session must be a string or null")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
            raise FrameError(f"name must be a string of at most {MAX_NAME} characters")
        if language is not None and language not in REPLY_LANGUAGES:
            raise FrameError(f"language must be one of {', '.join(REPLY_LANGUAGES)}")
        return Hello(session or None, (name or "").strip() or None, language)
    if kind == "message":
        client_id, text = frame.get("id"), frame.get("text")
        if isinstance(client_id, int) and not isinstance(client_id, bool):
            client_id = str(client_id)
        if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
            raise FrameError(f"id must be a string of 1 to {MAX_CLIENT_ID} characters")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("text must be a non-empty string")
        if len(text) > max_chars:
            raise FrameError(f"the message is longer than {max_chars} characters")
        return ChatText(client_id, text)
    if kind == "typing":
        return Typing()
    raise FrameError(f"unknown frame type {kind!r}")


def sign_session(secret: bytes, session_id: str) -> str:
    mac = hmac.new(secret, session_id.encode(), hashlib.sha256).digest()
    return f"{session_id}.{base64.urlsafe_b64encode(mac[:24]).decode()}"


def verify_session(secret: bytes, token: str | None) -> str | None:
    """The session id inside a token this server signed, else None."""
    if not token or "." not in token:
        return None
    session_id = token.split(".", 1)[0]
    expected = sign_session(secret, session_id).encode("utf-8", "surrogateescape")
    given = token.encode("utf-8", "surrogateescape")
    return session_id if hmac.compare_digest(expected, given) else None


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def _origin_allowed(request: web.Request, allowed: tuple[str, ...], public_url: str) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True   # not a browser: no cross-site risk to guard against
    own = "{0.scheme}://{0.netloc}".format(urlsplit(public_url))
    return origin in allowed or origin == own or origin == f"{request.scheme}://{request.host}"


def outbound_view(message: OutboundMessage, ctx: InboxContext) -> dict[str, Any]:
    return {"id": message.message_id, "direction": "out", "body": message.body,
            "attachments": [a.__dict__ for a in message.attachments],
            "created_at": iso(message.created_at, ctx.zone),
            "author": {"kind": message.author_kind}, "delivery_status": "sent"}


class _Socket:
    """One resident's open chat window."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse):
        self.request = request
        self.ws = ws
        self.ctx: InboxContext = request.app[CONTEXT]
        self.secret = request.app[SECRET_KEY]
        self.session: str | None = None
        self.name: str | None = None
        self.language: str | None = None
        self.send_lock = asyncio.Lock()
        self.forwarder: asyncio.Task | None = None
        self.recording: set[asyncio.Future] = set()
        self.listener = None

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_json(frame)

    async def hello(self, frame: Hello) -> None:
        session = verify_session(self.secret, frame.session) or new_session_id()
        if self.session is not None and self.session != session:
            raise FrameError("this socket already has a session")
        self.session, self.name, self.language = session, frame.name, frame.language
        async with self.ctx.store.read() as tx:
            identity = await tx.identity("webchat", session)
            conversation = await tx.latest_conversation(identity["id"]) if identity else None
            history = await tx.messages_of(conversation["id"], include_notes=False) \
                if conversation else []
        if self.listener is None:
            hub = self.request.app[HUB]
            self.listener = hub.subscribe_chat(session)
            self.forwarder = asyncio.create_task(self._forward())
        await self.send({"type": "welcome", "session": sign_session(self.secret, session),
                         "history": [resident_message_view(m, self.ctx.zone) for m in history]})

    async def message(self, frame: ChatText) -> None:
        if self.session is None:
            raise FrameError("say hello first")
        result = await ingest(self.ctx, InboundMessage(
            channel="webchat", external_id=f"{self.session}:{frame.client_id}",
            address=self.session, text=frame.text.strip(), received_at=utcnow(),
            display_name=self.name, language=self.language, raw_size=len(frame.text)))
        await self.send({"type": "ack", "id": frame.client_id, "message_id": result.message_id})

    async def _forward(self) -> None:
        """Frames published for this session (agent replies, typing) to the browser."""
        while True:
            frame = await self.listener.queue.get()
            try:
                await self.send(frame)
            except (ConnectionResetError, RuntimeError):
                return
            if frame.get("type") == "message":
                # Shielded: the resident closing the window right after must not lose it;
                # `close` waits for it.
                recording = asyncio.ensure_future(self._delivered(frame["message"]["id"]))
                self.recording.add(recording)
                recording.add_done_callback(self.recording.discard)
                await asyncio.shield(recording)

    async def _delivered(self, message_id: int) -> None:
        if await outbox.mark_delivery_status(self.ctx, message_id, "delivered"):
            await outbox.announce_delivery(self.ctx, message_id)

    async def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.forwarder
        if self.recording:
            await asyncio.gather(*self.recording, return_exceptions=True)
        if self.listener is not None:
            self.request.app[HUB].unsubscribe_chat(self.session, self.listener)


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    ctx = request.app[CONTEXT]
    webchat = ctx.config.channels.webchat
    if not _origin_allowed(request, webchat.allowed_origins, ctx.config.public_url):
        raise web.HTTPForbidden(text="this site may not embed the chat")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    socket = _Socket(request, ws)
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await socket.send({"type": "error", "error": "binary frames are not accepted"})
                continue
            try:
                frame = parse_frame(msg.data, webchat.max_message_chars)
                if isinstance(frame, Hello):
                    await socket.hello(frame)
                elif isinstance(frame, ChatText):
                    await socket.message(frame)
            except FrameError as exc:
                error: dict[str, Any] = {"type": "error", "error": str(exc)}
                # The id is echoed even when the text is what was refused.
                with contextlib.suppress(ValueError, AttributeError, TypeError, RecursionError):
                    if (client_id := json.loads(msg.data).get("id")) is not None:
                        error["id"] = client_id
                await socket.send(error)
    finally:
        await socket.close()
    return ws


_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                            autoescape=jinja2.select_autoescape(["html"]))


async def chat_page(request: web.Request) -> web.Response:
    language = request.query.get("lang")
    html = _pages.get_template("chat.html").render(
        language=language if language in REPLY_LANGUAGES else "az",
        embedded=request.query.get("embed") == "1")
    return web.Response(text=html, content_type="text/html")


async def widget_script(request: web.Request) -> web.Response:
    public_url = request.app[CONTEXT].config.public_url
    script = _pages.get_template("widget.js").render(chat_url=f"{public_url}/chat")
    return web.Response(text=script, content_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=300"})


class WebchatChannel:
    name = "webchat"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat", chat_page)
        app.router.add_get("/chat/widget.js", widget_script)
        app.router.add_get("/chat/ws", chat_socket)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        # The resident may have no window open; the message waits in the history then.
        await publish_to_chat(ctx.redis, message.address,
                              {"type": "message", "message": outbound_view(message, ctx)})
        return SendResult(external_id=None)
