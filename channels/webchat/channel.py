"""Web chat: the `/chat` page, the embeddable widget, and the WebSocket protocol
(docs/websocket.md).

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

from channels.base import MediaError, SendResult, as_text
from channels.webchat.errors import FrameError, error_frame
from channels.webchat.limits import (
    SOCKET_RENEW_S,
    ChatLimits,
)
from inbox.channel_traits import ChannelTraits
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.live import publish_to_chat
from inbox.messages import InboundMessage, OutboundMessage
from inbox.outage import REDIS_UNAVAILABLE
from inbox.port import ChannelPort
from inbox.replies import REPLY_LANGUAGES, TEMPLATES_DIR, preferred_language
from inbox.serialize import iso, resident_message_view
from settings import Config, Problem
from web import client_address
from web.appkeys import CONTEXT, HUB, SECRET_KEY
from web.http import parse_json

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 256 * 1024   # larger frames close the socket (1009); text limit is config's
MAX_CLIENT_ID = 100
MAX_NAME = 200


@dataclass(frozen=True)
class Hello:
    session: str | None
    name: str | None
    language: str | None


@dataclass(frozen=True)
class ChatText:
    client_id: str
    text: str
    name: str | None = None   # the name the resident has typed by now, if any


@dataclass(frozen=True)
class Typing:
    pass


def _name(frame: dict[str, Any]) -> str | None:
    name = frame.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        raise FrameError("bad_name", max=MAX_NAME)
    return (name or "").strip() or None


def parse_frame(raw: str, max_chars: int) -> Hello | ChatText | Typing:
    try:
        frame = parse_json(raw)
    except json.JSONDecodeError:
        raise FrameError("not_json") from None
    except ValueError as exc:   # JSON, but not text that could be stored
        raise FrameError("unstorable", detail=str(exc)) from None
    if not isinstance(frame, dict):
        raise FrameError("not_object")
    kind = frame.get("type")
    if kind == "hello":
        session, language = frame.get("session"), frame.get("language")
        if session is not None and not isinstance(session, str):
            raise FrameError("bad_session")
        name = _name(frame)
        if language is not None and language not in REPLY_LANGUAGES:
            raise FrameError("bad_language", languages=", ".join(REPLY_LANGUAGES))
        return Hello(session or None, name, language)
    if kind == "message":
        client_id, text = frame.get("id"), frame.get("text")
        if isinstance(client_id, int) and not isinstance(client_id, bool):
            client_id = str(client_id)
        if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID:
            raise FrameError("bad_id", max=MAX_CLIENT_ID)
        if not isinstance(text, str) or not text.strip():
            raise FrameError("empty_text")
        if len(text) > max_chars:
            raise FrameError("too_long", max=max_chars)
        # The window says hello before the resident has typed a name; the name typed by the
        # time of a message comes with it.
        return ChatText(client_id, text, _name(frame))
    if kind == "typing":
        return Typing()
    raise FrameError("unknown_type", kind=repr(kind))


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
        self.port = ChannelPort(self.ctx)
        self.secret = request.app[SECRET_KEY]
        self.session: str | None = None
        self.name: str | None = None
        self.language: str | None = None
        self.send_lock = asyncio.Lock()
        self.forwarder: asyncio.Task | None = None
        self.recording: set[asyncio.Future] = set()
        self.listener = None
        webchat = self.ctx.config.channels.webchat
        self.address = client_address.of_request(request)
        self.limits = ChatLimits(self.ctx.redis, webchat.limits, self.ctx.redis_outage)
        self.id = secrets.token_hex(8)
        self.counted: asyncio.Task | None = None
        # Whether the session has a conversation a message would join, when known without a
        # database read: a session this window just began has none; once this window has
        # stored a message, it has one, and later messages are no new conversation to count.
        # (One an agent resolves meanwhile reopens uncounted; that takes an agent, not a
        # flood.) None: a resumed session's, read at each message until one is stored.
        self.has_conversation: bool | None = None
        # Error frames speak the hello's language; before it, the page's (its `lang`, or the
        # browser's Accept-Language).
        page_language = request.query.get("lang")
        self.texts_language = page_language if page_language in REPLY_LANGUAGES \
            else preferred_language(request.headers.get("Accept-Language"))

    async def admit(self) -> bool:
        """Count this window against its address's limit of open windows, for as long as it
        stays open; False when the address already has as many as it may."""
        if not await self.limits.hold_socket(self.address, self.id):
            return False
        self.counted = asyncio.create_task(self._stay_counted())
        return True

    async def _stay_counted(self) -> None:
        while True:
            await asyncio.sleep(SOCKET_RENEW_S)
            try:
                await self.limits.hold_socket(self.address, self.id)
            # hold_socket itself lets a window in and reports a Redis outage once; anything
            # else must not end the renewals either: the next one may succeed.
            except Exception:
                log.warning("could not renew a chat window's count", exc_info=True)

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_json(frame)

    async def hello(self, frame: Hello) -> None:
        resumed = verify_session(self.secret, frame.session)
        session = resumed or new_session_id()
        if self.session is not None and self.session != session:
            raise FrameError("other_session")
        self.session, self.name, self.language = session, frame.name, frame.language
        self.texts_language = frame.language or self.texts_language
        if resumed:
            history = await self.port.history("webchat", session)
        else:
            # An id minted just now has no messages and no conversation yet: nothing to read.
            history = []
            if self.has_conversation is None:
                self.has_conversation = False
        if self.listener is None:
            hub = self.request.app[HUB]
            self.listener = hub.subscribe_chat(session)
            self.forwarder = asyncio.create_task(self._forward())
        await self.send({"type": "welcome", "session": sign_session(self.secret, session),
                         "history": [resident_message_view(m, self.ctx.zone) for m in history]})

    async def message(self, frame: ChatText) -> None:
        if self.session is None:
            raise FrameError("hello_first")
        if not await self._within_limits(frame):
            return
        self.name = frame.name or self.name
        external_id = f"{self.session}:{frame.client_id}"
        try:
            result = await self.port.ingest(InboundMessage(
                channel="webchat", external_id=external_id,
                address=self.session, text=frame.text.strip(), received_at=utcnow(),
                display_name=self.name, language=self.language, raw_size=len(frame.text)))
            message_id = result.message_id
            self.has_conversation = True
        except REDIS_UNAVAILABLE as exc:
            # Ingest meets Redis only after its commit: the message is stored, so it is
            # acknowledged; the sweeps route, deliver and assign what the outage held up.
            self.ctx.redis_outage.failed(exc)
            message_id = await self.port.stored_message_id("webchat", external_id)
            self.has_conversation = True
        await self.send({"type": "ack", "id": frame.client_id, "message_id": message_id})

    async def _within_limits(self, frame: ChatText) -> bool:
        """Whether the message may be stored; if not, the resident is told, and the socket
        stays open. A resend of a message already stored (after a reconnect) is acknowledged
        instead, since nothing more would be stored."""
        opens_conversation = False
        if self.has_conversation is False:
            opens_conversation = True
        elif self.has_conversation is None:
            # Read again at every message until one is stored: another window of the
            # session may open the conversation meanwhile.
            opens_conversation = not await self.port.has_open_conversation("webchat",
                                                                           self.session)
        refused = await self.limits.message(self.session, self.address,
                                            opens_conversation=opens_conversation)
        if refused is None:
            return True
        stored = await self.port.stored_message_id("webchat",
                                                   f"{self.session}:{frame.client_id}")
        if stored is not None:
            await self.send({"type": "ack", "id": frame.client_id, "message_id": stored})
        else:
            log.info("web-chat message refused: %s", refused.code)
            await self.send({**error_frame(refused.code, self.texts_language),
                             "id": frame.client_id, "retry_after": refused.retry_after_s})
        return False

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
        if await self.port.mark_delivery_status(message_id, "delivered"):
            with self.ctx.redis_outage.best_effort():   # consoles see it on their next read
                await self.port.announce_delivery(message_id)

    async def close(self) -> None:
        if self.counted is not None:
            self.counted.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.counted
            await self.limits.release_socket(self.address, self.id)
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
    if not await socket.admit():
        log.info("web-chat window refused: too many open from one address")
        await socket.send(error_frame("too_many_sockets", socket.texts_language))
        await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER,
                       message=b"too many chat windows from this address")
        return ws
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await socket.send(error_frame("binary", socket.texts_language))
                continue
            try:
                frame = parse_frame(msg.data, webchat.max_message_chars)
                if isinstance(frame, Hello):
                    await socket.hello(frame)
                elif isinstance(frame, ChatText):
                    await socket.message(frame)
            except FrameError as exc:
                error: dict[str, Any] = {"type": "error", "code": exc.code,
                                         "error": exc.text(socket.texts_language)}
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
    if language not in REPLY_LANGUAGES:
        language = preferred_language(request.headers.get("Accept-Language")) or "az"
    html = _pages.get_template("chat.html").render(
        language=language,
        embedded=request.query.get("embed") == "1")
    # The language may come from Accept-Language: caches must keep one page per language.
    return web.Response(text=html, content_type="text/html", headers={"Vary": "Accept-Language"})


async def widget_script(request: web.Request) -> web.Response:
    public_url = request.app[CONTEXT].config.public_url
    script = _pages.get_template("widget.js").render(chat_url=f"{public_url}/chat")
    return web.Response(text=script, content_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=300"})


class WebchatChannel:
    traits = ChannelTraits(name="webchat", label="Web chat")
    name = traits.name

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat", chat_page)
        app.router.add_get("/chat/widget.js", widget_script)
        app.router.add_get("/chat/ws", chat_socket)

    def check_config(self, config: Config) -> list[Problem]:
        return []   # `channels.webchat` is typed and checked by settings/

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        return {}

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        raise MediaError("the web chat keeps no attachments at a provider", transient=False)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        # The resident may have no window open; the message waits in the history then.
        await publish_to_chat(ctx.redis, message.address,
                              {"type": "message",
                               "message": outbound_view(as_text(message), ctx)})
        return SendResult(external_id=None)


WEBCHAT_CHANNEL = WebchatChannel()
