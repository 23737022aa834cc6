"""Web chat: the `/chat` page, the embeddable widget, and the WebSocket protocol
(docs/websocket.md).

A resident's browser holds a session token (the session id, signed with SECRET_KEY); the
session id is the resident's address on this channel. Frames are parsed by `parse_frame`, a
pure function; the socket handler only verifies, parses, calls ingest and answers.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import math
import secrets
import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jinja2
from aiohttp import web

from channels.base import MediaError, RateLimited, SendElsewhere, SendResult, as_text
from channels.media_store import type_allowed, with_signed_links
from channels.webchat import presence, uploads
from channels.webchat.availability import Availability, availability
from channels.webchat.errors import FrameError, error_frame
from channels.webchat.limits import (
    SOCKET_RENEW_S,
    ChatLimits,
)
from channels.webchat.protocol import ChatText, Hello, Read, Typing, parse_frame
from inbox import media_links, reply_to
from inbox.channel_traits import ChannelTraits, FileCarriage
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.live import publish_event, publish_to_chat
from inbox.messages import NOTIFICATION, InboundMessage, OutboundMessage
from inbox.outage import REDIS_UNAVAILABLE
from inbox.port import ChannelPort
from inbox.replies import REPLY_LANGUAGES, TEMPLATES_DIR, preferred_language
from inbox.serialize import iso, resident_message_view
from inbox.texts import load_catalogue
from settings import Config, Problem
from web import client_address
from web.appkeys import CONTEXT, HUB, SECRET_KEY
from web.http import read_limited

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 256 * 1024   # larger frames close the socket (1009); text limit is config's
TYPING_EVERY_S = 2.0           # a resident's typing reaches consoles at most this often
AVAILABILITY_FOR_S = 30.0      # how long a window's view of who is online is reused
MAX_WAITING_FRAMES = 1000      # frames kept for a window that does not read them


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
    # The chat page is served from this site: a signed link relative to it.
    message = with_signed_links(message, "", media_links.RESIDENT_TTL_S)
    view = {"id": message.message_id, "direction": "out", "body": message.body,
            "attachments": [{"content_type": a.content_type, "filename": a.filename,
                             "size": a.size, "url": a.url} for a in message.attachments],
            "created_at": iso(message.created_at, ctx.zone),
            "author": {"kind": message.author_kind}, "delivery_status": "sent"}
    if message.choices:
        # The widget shows them as buttons; pressing one sends its text as the answer.
        view["choices"] = list(message.choices)
    return view


class _OpenWindows:
    """This process's open windows, their counts and presence renewed by one task (which ends
    when the last window closes) instead of a task sleeping in each window: every tick a
    thirtieth of them, oldest renewal first, so each is renewed every SOCKET_RENEW_S and the
    work is spread evenly (all ten thousand at once would stall the event loop for every
    window, a reply's fan-out too)."""

    TICKS = 30            # per SOCKET_RENEW_S
    RENEW_AT_ONCE = 50    # windows renewed in one Redis round trip

    def __init__(self) -> None:
        self.windows: dict[str, _Socket] = {}
        self.turns: collections.deque[str] = collections.deque()   # ids, next renewal first
        self.renewing: asyncio.Task | None = None
        # Held while a batch's renewal is on its way to Redis: a window that closes waits for
        # it before releasing its lease, or the renewal would land after and hold it again.
        self.sending = asyncio.Lock()
        self.in_flight = False   # a batch's pipeline is between its write and its answer

    def add(self, window: _Socket) -> None:
        self.windows[window.id] = window
        self.turns.append(window.id)
        if self.renewing is None or self.renewing.done():
            self.renewing = asyncio.create_task(self._renew(), name="webchat-renewals")

    def discard(self, window: _Socket) -> None:
        self.windows.pop(window.id, None)   # its turn is dropped when it comes
        if not self.windows and self.renewing is not None:
            # Nothing left to renew: no task outlives the windows. But a batch on its way is
            # let finish (the loop then ends by itself): cancelled mid-pipeline, its commands
            # could still reach Redis after the closing window's release and hold it again.
            if not self.in_flight:
                self.renewing.cancel()
                self.renewing = None
            self.turns.clear()

    async def _renew(self) -> None:
        while self.windows:
            await asyncio.sleep(SOCKET_RENEW_S / self.TICKS)
            due = []
            for _ in range(min(len(self.turns), math.ceil(len(self.windows) / self.TICKS))):
                window = self.windows.get(self.turns.popleft())
                if window is not None:
                    due.append(window)
                    self.turns.append(window.id)
            failed = 0
            for start in range(0, len(due), self.RENEW_AT_ONCE):
                async with self.sending:
                    # Only windows still open: one closed meanwhile has released its lease.
                    batch = [w for w in due[start:start + self.RENEW_AT_ONCE]
                             if w.id in self.windows]
                    if not batch:
                        continue
                    self.in_flight = True
                    try:
                        async with batch[0].ctx.redis.pipeline(transaction=False) as pipe:
                            for window in batch:
                                await window.renew_in(pipe)
                            await pipe.execute()
                    # Nothing must end the renewals (a Redis outage least of all: the windows
                    # stay open, uncounted): the next round may succeed.
                    except Exception:
                        failed += len(batch)
                    finally:
                        self.in_flight = False
            if failed:
                log.warning("could not renew %d chat windows' counts", failed)


_OPEN_WINDOWS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OpenWindows] = \
    weakref.WeakKeyDictionary()
_SHARED_LIMITS: weakref.WeakKeyDictionary[Any, ChatLimits] = weakref.WeakKeyDictionary()
_CLOSING: set[asyncio.Future] = set()   # windows' closes that outlive a cancelled handler


def _open_windows() -> _OpenWindows:
    loop = asyncio.get_running_loop()
    windows = _OPEN_WINDOWS.get(loop)
    if windows is None:
        windows = _OPEN_WINDOWS[loop] = _OpenWindows()
    return windows


def _chat_limits(ctx: InboxContext) -> ChatLimits:
    """One per Redis client (its scripts registered once), shared by every window."""
    limits = _SHARED_LIMITS.get(ctx.redis)
    if limits is None:
        limits = _SHARED_LIMITS[ctx.redis] = ChatLimits(
            ctx.redis, ctx.config.channels.webchat.limits, ctx.redis_outage)
    return limits


class _Socket:
    """One resident's open chat window. Ten thousand of them may be open in one process, so
    an idle window holds no task of its own and no object it can share (`__slots__`)."""

    __slots__ = ("address", "app", "available", "counted", "ctx", "forwarder", "gave_reply_to",
                 "has_conversation", "id", "language", "limits", "name", "outgoing", "port",
                 "recording", "secret", "send_lock", "session", "subscribed", "texts_language",
                 "typed_at", "ws")

    def __init__(self, request: web.Request, ws: web.WebSocketResponse):
        self.app = request.app
        self.ws = ws
        self.ctx: InboxContext = request.app[CONTEXT]
        self.port = ChannelPort(self.ctx)
        self.secret = request.app[SECRET_KEY]
        self.session: str | None = None
        self.name: str | None = None
        self.language: str | None = None
        self.send_lock = asyncio.Lock()
        # Frames published for the session wait in `outgoing` (made at the first), sent in
        # order by `forwarder`, a task that runs only while some wait.
        self.forwarder: asyncio.Task | None = None
        self.outgoing: collections.deque[dict[str, Any]] | None = None
        self.recording: set[asyncio.Future] | None = None
        self.subscribed = False
        self.address = client_address.of_request(request)
        self.limits = _chat_limits(self.ctx)
        self.id = secrets.token_hex(8)
        self.available: tuple[float, Availability] | None = None
        self.typed_at = -TYPING_EVERY_S
        self.counted = False
        # Whether the session has a conversation a message would join, when known without a
        # database read: a session this window just began has none; once this window has
        # stored a message, it has one, and later messages are no new conversation to count.
        # (One an agent resolves meanwhile reopens uncounted; that takes an agent, not a
        # flood.) None: a resumed session's, read at each message until one is stored.
        self.has_conversation: bool | None = None
        # Whether the session has said where answers go while it is away (the form's phone
        # or e-mail), when known: `contact_required` refuses messages until it has.
        self.gave_reply_to = False
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
        self.counted = True
        _open_windows().add(self)
        return True

    async def renew_in(self, pipe: Any) -> None:
        """Still open: its count and the session's presence renewed, queued on `pipe`
        (`_OpenWindows`)."""
        await self.limits.renew_socket(pipe, self.address, self.id)
        if self.session is not None:
            presence.hold_in(pipe, self.session, self.id)

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
        conversation = None
        if resumed:
            # From the last message the window showed, in whichever conversation; else the
            # latest conversation's, for a window that shows nothing yet (a reload).
            history = await self.port.history("webchat", session) if frame.after is None \
                else await self.port.history_after("webchat", session, frame.after)
            conversation = await self.port.latest_conversation("webchat", session)
        else:
            # An id minted just now has no messages and no conversation yet: nothing to read.
            history = []
            if self.has_conversation is None:
                self.has_conversation = False
        with self.ctx.redis_outage.best_effort():
            await presence.hold(self.ctx.redis, session, self.id)
        if not self.subscribed:
            self.app[HUB].subscribe_chat(session, self.arrived)
            self.subscribed = True
        # A question still waiting for its answer (an open survey, the intake's current
        # step) is replayed with its buttons, as its live frame had them.
        open_questions = await self.port.open_questions("webchat", session) if history \
            else frozenset()
        webchat = self.ctx.config.channels.webchat
        welcome: dict[str, Any] = {
            "type": "welcome", "session": sign_session(self.secret, session),
            "history": [resident_message_view(m, self.ctx.zone,
                                              choices_open=m["id"] in open_questions)
                        for m in history],
            "conversation": None if conversation is None else {
                "id": conversation["id"], "status": conversation["status"]},
            "availability": (await self._availability()).view(),
            "prechat": {"contact_required": webchat.contact_required,
                        "privacy_url": webchat.privacy_url}}
        if frame.after is not None:
            welcome["after"] = frame.after
        await self.send(welcome)

    async def _availability(self) -> Availability:
        now = asyncio.get_running_loop().time()
        if self.available is None or now - self.available[0] > AVAILABILITY_FOR_S:
            self.available = (now, await availability(self.ctx))
        return self.available[1]

    async def message(self, frame: ChatText) -> None:
        if self.session is None:
            raise FrameError("hello_first")
        if frame.uploads:
            # Resent after a reconnect: its files have left the holding place already.
            stored = await self.port.stored_message_id("webchat",
                                                       f"{self.session}:{frame.client_id}")
            if stored is not None:
                await self.send({"type": "ack", "id": frame.client_id, "message_id": stored})
                return
        await self._require_reply_to(frame)
        held = uploads.held(self.ctx, self.session, frame.uploads)
        extra = await self._offline(frame)
        if not await self._within_limits(frame):
            return
        self.name = frame.name or self.name
        external_id = f"{self.session}:{frame.client_id}"
        try:
            result = await self.port.ingest(InboundMessage(
                channel="webchat", external_id=external_id,
                address=self.session, text=frame.text.strip(), received_at=utcnow(),
                display_name=self.name, language=self.language, raw_size=len(frame.text),
                attachments=uploads.as_attachments(held), extra=extra,
                reply_to=frame.reply_to))
            message_id, rated = result.message_id, result.rated
            self.has_conversation = True
        except REDIS_UNAVAILABLE as exc:
            # Ingest meets Redis only after its commit: the message is stored, so it is
            # acknowledged; the sweeps route, deliver and assign what the outage held up.
            self.ctx.redis_outage.failed(exc)
            message_id = await self.port.stored_message_id("webchat", external_id)
            rated = False
            self.has_conversation = True
        self.gave_reply_to = self.gave_reply_to or frame.reply_to is not None
        await uploads.keep_with_message(self.ctx, message_id, held)
        ack: dict[str, Any] = {"type": "ack", "id": frame.client_id, "message_id": message_id}
        if rated:
            # The window keeps offering a new conversation: this one stays resolved.
            ack["survey_answer"] = True
        await self.send(ack)

    async def _require_reply_to(self, frame: ChatText) -> None:
        """With `contact_required`, a session that has never said where answers go (the
        form's phone or e-mail) may not write: refused before anything is stored."""
        if not self.ctx.config.channels.webchat.contact_required or self.gave_reply_to \
                or frame.reply_to is not None:
            return
        self.gave_reply_to = await self.port.reply_to_of("webchat", self.session) is not None
        if not self.gave_reply_to:
            raise FrameError("contact_required")

    async def _offline(self, frame: ChatText) -> dict[str, Any] | None:
        """What the message keeps, for the agent, in its `extra`: why nobody could answer in
        the chat when it came. Where the answer should go then (the form's phone or e-mail)
        is kept on the resident's identity (`inbox.reply_to`); a message without it is stored
        all the same: nothing written is lost."""
        offline = await self._availability()
        return None if offline.online else {"offline": offline.reason}

    async def _opens_conversation(self) -> bool:
        if self.has_conversation is None:
            # Read again at every message until one is stored: another window of the
            # session may open the conversation meanwhile.
            return not await self.port.has_open_conversation("webchat", self.session)
        return not self.has_conversation

    async def typing(self) -> None:
        """The resident is typing: consoles that may see the conversation hear it, at most
        every TYPING_EVERY_S, and only of a conversation that is open."""
        now = asyncio.get_running_loop().time()
        if self.session is None or now - self.typed_at < TYPING_EVERY_S:
            return
        conversation = await self.port.latest_conversation("webchat", self.session)
        if conversation is None or conversation["status"] == "resolved":
            return
        self.typed_at = now
        with self.ctx.redis_outage.best_effort():
            await publish_event(self.ctx.redis, "conversation.typing", conversation["queue"],
                                {"conversation_id": conversation["id"], "who": "resident"})

    async def read(self, frame: Read) -> None:
        """The resident's window showed a reply: the agent sees it read. Only a reply of
        this session's conversation; anything else is ignored."""
        if self.session is None:
            raise FrameError("hello_first")
        message = await self.port.message(frame.message_id)
        if message is None or message["direction"] != "out":
            return
        conversation = await self.port.latest_conversation("webchat", self.session)
        if conversation is None or conversation["id"] != message["conversation_id"]:
            return
        if await self.port.mark_delivery_status(frame.message_id, "read"):
            with self.ctx.redis_outage.best_effort():
                await self.port.announce_delivery(frame.message_id)

    async def _within_limits(self, frame: ChatText) -> bool:
        """Whether the message may be stored; if not, the resident is told, and the socket
        stays open. A resend of a message already stored (after a reconnect) is acknowledged
        instead, since nothing more would be stored."""
        opens_conversation = await self._opens_conversation()
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

    def arrived(self, frame: dict[str, Any]) -> None:
        """A frame published for this session (an agent's reply, typing), from the live hub:
        sent after those before it."""
        if self.outgoing is None:
            self.outgoing = collections.deque()
        if len(self.outgoing) >= MAX_WAITING_FRAMES:
            return   # a window that stopped reading must not grow memory without bound
        self.outgoing.append(frame)
        if self.forwarder is None or self.forwarder.done():
            self.forwarder = asyncio.create_task(self._forward())

    async def _forward(self) -> None:
        """The frames waiting for this window, to the browser, in order."""
        while self.outgoing:
            frame = self.outgoing.popleft()
            try:
                await self.send(frame)
            except (ConnectionResetError, RuntimeError):
                self.outgoing.clear()
                return
            if frame.get("type") == "message":
                # Shielded: the resident closing the window right after must not lose it;
                # `close` waits for it.
                recording = asyncio.ensure_future(self._delivered(frame["message"]["id"]))
                if self.recording is None:
                    self.recording = set()
                self.recording.add(recording)
                recording.add_done_callback(self.recording.discard)
                try:
                    await asyncio.shield(recording)
                except Exception:
                    # The frames behind it still go: the job's own record of the send
                    # stands, and the window's read receipt may record it later.
                    log.warning("could not record a chat reply as delivered", exc_info=True)

    async def _delivered(self, message_id: int) -> None:
        if await self.port.mark_delivery_status(message_id, "delivered"):
            with self.ctx.redis_outage.best_effort():   # consoles see it on their next read
                await self.port.announce_delivery(message_id)

    async def close(self) -> None:
        if self.counted:
            windows = _open_windows()
            windows.discard(self)
            async with windows.sending:     # a renewal already on its way lands first
                pass
            await self.limits.release_socket(self.address, self.id)
        if self.subscribed:
            self.app[HUB].unsubscribe_chat(self.session, self.arrived)
        if self.forwarder is not None:
            self.forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.forwarder
        if self.recording:
            await asyncio.gather(*self.recording, return_exceptions=True)
        if self.subscribed:
            with self.ctx.redis_outage.best_effort():
                await presence.release(self.ctx.redis, self.session, self.id,
                                       self.ctx.config.channels.webchat.away_after_s)


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    ctx = request.app[CONTEXT]
    webchat = ctx.config.channels.webchat
    if not _origin_allowed(request, webchat.allowed_origins, ctx.config.public_url):
        raise web.HTTPForbidden(text="this site may not embed the chat")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    socket = _Socket(request, ws)
    # Counted before the handshake ends, so windows are admitted in the order their
    # handshakes ended: a window opened once two were open is the one refused, never one of
    # those two (whose counts could otherwise still be on their way).
    if not await socket.admit():
        await ws.prepare(request)
        log.info("web-chat window refused: too many open from one address")
        await socket.send(error_frame("too_many_sockets", socket.texts_language))
        await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER,
                       message=b"too many chat windows from this address")
        return ws
    try:
        await ws.prepare(request)
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
                elif isinstance(frame, Typing):
                    await socket.typing()
                elif isinstance(frame, Read):
                    await socket.read(frame)
            except FrameError as exc:
                error: dict[str, Any] = {"type": "error", "code": exc.code,
                                         "error": exc.text(socket.texts_language)}
                # The id is echoed even when the text is what was refused.
                with contextlib.suppress(ValueError, AttributeError, TypeError, RecursionError):
                    if (client_id := json.loads(msg.data).get("id")) is not None:
                        error["id"] = client_id
                await socket.send(error)
    finally:
        # The handler may be cancelled as the resident's side goes away; the window's lease
        # and presence must still be released, or the session looks present for the lease's
        # whole length. The close runs as its own task, kept until it ends.
        closing = asyncio.ensure_future(socket.close())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)
        await asyncio.shield(closing)
    return ws


# How long a stopping app waits for the windows that closed as it stopped.
CLOSING_GRACE_S = 5


async def _close_windows(app: web.Application) -> None:
    """At the app's stop, its open windows are closed as going away (1001): each widget
    reconnects (to the next process, or another instance) and resumes where it was, and
    each window's handler ends now, instead of holding the stop for the server's whole
    shutdown timeout (a minute) while a resident leaves a tab open."""
    windows = [window for window in _open_windows().windows.values() if window.app is app]
    await asyncio.gather(*(window.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY,
                                           message=b"the server is restarting")
                           for window in windows), return_exceptions=True)


async def _windows_closed(_app: web.Application) -> AsyncIterator[None]:
    """At the app's stop, the closes of the windows its stop cut off (their last read
    receipts recorded, their leases and presence released) end before the database and
    Redis connections close: cut off there, a receipt's transaction would be abandoned with
    its connection still open."""
    yield
    loop = asyncio.get_running_loop()
    closing = [close for close in _CLOSING if close.get_loop() is loop]
    if closing:
        _done, late = await asyncio.wait(closing, timeout=CLOSING_GRACE_S)
        if late:
            log.warning("%s chat window(s) still closing as the app stops", len(late))


TEXTS_FILE = TEMPLATES_DIR / "chat" / "texts.yaml"
_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                            autoescape=jinja2.select_autoescape(["html"]))


@functools.lru_cache(maxsize=1)
def page_texts() -> dict[str, dict[str, str]]:
    """templates/chat/texts.yaml by language: {az: {key: text}, ru: ..., en: ...}."""
    return load_catalogue(TEXTS_FILE)


def _frame_ancestors(ctx: InboxContext) -> str:
    """Who may show the chat in a frame: itself and the allowed sites; the browser refuses
    every other site's frame."""
    return " ".join(["'self'", *ctx.config.channels.webchat.allowed_origins])


async def chat_page(request: web.Request) -> web.Response:
    ctx: InboxContext = request.app[CONTEXT]
    language = request.query.get("lang")
    if language not in REPLY_LANGUAGES:
        language = preferred_language(request.headers.get("Accept-Language")) or "az"
    hours = ctx.config.business_hours
    settings = {"texts": page_texts(), "hours": f"{hours.open:%H:%M}–{hours.close:%H:%M}",
                "max_bytes": ctx.config.media.max_bytes,
                "max_chars": ctx.config.channels.webchat.max_message_chars}
    html = _pages.get_template("chat.html").render(
        language=language, embedded=request.query.get("embed") == "1", settings=settings)
    # The language may come from Accept-Language: caches must keep one page per language.
    return web.Response(text=html, content_type="text/html", headers={
        "Vary": "Accept-Language",
        "Content-Security-Policy": f"frame-ancestors {_frame_ancestors(ctx)}"})


async def upload(request: web.Request) -> web.Response:
    """`POST /chat/upload`: one file for the session in `X-Chat-Session`, held until a
    message names it (channels.webchat.uploads). Refusals carry a code and the text for the
    resident in the page's language (`?lang=`)."""
    ctx: InboxContext = request.app[CONTEXT]
    webchat = ctx.config.channels.webchat
    language = request.query.get("lang")
    language = language if language in REPLY_LANGUAGES else preferred_language(
        request.headers.get("Accept-Language"))
    if not _origin_allowed(request, webchat.allowed_origins, ctx.config.public_url):
        raise web.HTTPForbidden(text="this site may not embed the chat")
    session = verify_session(request.app[SECRET_KEY], request.headers.get("X-Chat-Session"))
    if session is None:
        return uploads.refusal(403, "bad_session", language)
    limit = ctx.config.media.max_bytes
    max_mb = max(1, limit // (1024 * 1024))
    content_type = (request.content_type or "").lower()
    if not type_allowed(content_type, ctx.config.media.allowed_types):
        return uploads.refusal(415, "upload_bad_type", language)
    if request.content_length is not None and request.content_length > limit:
        return uploads.refusal(413, "upload_too_large", language, max_mb=max_mb)
    refused = await ChatLimits(ctx.redis, webchat.limits, ctx.redis_outage).message(
        session, client_address.of_request(request), opens_conversation=False)
    if refused is not None:
        response = uploads.refusal(429, refused.code, language)
        response.headers["Retry-After"] = str(refused.retry_after_s)
        return response
    body = await read_limited(request, limit)   # every piece, however the body arrives
    if body is None:
        return uploads.refusal(413, "upload_too_large", language, max_mb=max_mb)
    if not body or not uploads.content_matches(content_type, body[:16]):
        return uploads.refusal(415, "upload_bad_type", language)
    filename = uploads.filename_of(request.headers.get("X-Filename"), content_type)
    held = await uploads.hold(ctx, session, body, content_type, filename)
    log.info("web-chat upload held: %s, %d bytes", content_type, held.size)
    return web.json_response({"upload": held.upload_id, "content_type": content_type,
                              "filename": filename, "size": held.size}, status=201)


async def widget_script(request: web.Request) -> web.Response:
    config = request.app[CONTEXT].config
    texts = {language: {key: texts[key] for key in ("open_chat", "close_chat", "title")}
             for language, texts in page_texts().items()}
    script = _pages.get_template("widget.js").render(
        chat_url=f"{config.public_url}/chat", texts=texts,
        allowed_origins=list(config.channels.webchat.allowed_origins))
    return web.Response(text=script, content_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=300"})


class ChatWindowTyping:
    """The resident's open chat window shows "an officer is typing" (the page hides it after a
    few seconds without another signal, so nothing needs to say it stopped)."""

    async def show(self, ctx: InboxContext, address: str) -> None:
        with ctx.redis_outage.best_effort():
            await publish_to_chat(ctx.redis, address, {"type": "typing", "who": "agent"})


class WebchatChannel:
    traits = ChannelTraits(name="webchat", label="Web chat", files=FileCarriage(),
                           typing=ChatWindowTyping(), dialogue=True)
    name = traits.name

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat", chat_page)
        app.router.add_get("/chat/widget.js", widget_script)
        app.router.add_get("/chat/ws", chat_socket)
        app.router.add_post("/chat/upload", upload)
        app.on_shutdown.append(_close_windows)
        # Added after the app's own resources, so it ends before they close.
        app.cleanup_ctx.append(_windows_closed)

    def check_config(self, config: Config) -> list[Problem]:
        return []   # `channels.webchat` is typed and checked by settings/

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        return {"channels.webchat.uploads.sweep_uploads": 3600}

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        raise MediaError("the web chat keeps no attachments at a provider", transient=False)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        # An agent's answer, or a case's result notice, follows a resident who has left to
        # where they asked; the bot's questions and acknowledgements wait in the chat.
        if message.author_kind == "agent" or NOTIFICATION in message.extra:
            await _elsewhere_when_away(ctx, message)
        # The resident may have no window open; the message waits in the history then.
        await publish_to_chat(ctx.redis, message.address,
                              {"type": "message",
                               "message": outbound_view(
                                   message if message.choices else as_text(message), ctx)})
        return SendResult(external_id=None)


def routes_available(config: Config) -> frozenset[str]:
    """The channels an answer can take instead of the chat in this deployment."""
    twilio = config.channels.section("twilio") or {}
    email = config.channels.email
    return frozenset({"sms"} if twilio.get("sms_from") else set()) \
        | frozenset({"email"} if email is not None and email.mailboxes else set())


def reply_mailbox(config: Config, queue: str | None) -> str | None:
    """The mailbox a web-chat answer sent by mail leaves from: `channels.webchat.
    reply_mailbox`, else the conversation's queue's, else the first configured."""
    mailboxes = config.channels.email.mailboxes if config.channels.email else ()
    chosen = config.channels.webchat.reply_mailbox or next(
        (m.id for m in mailboxes if m.queue == queue), None)
    return chosen or next((m.id for m in mailboxes), None)


async def _elsewhere_when_away(ctx: InboxContext, message: OutboundMessage) -> None:
    """An agent's answer to a resident who has left the chat goes where they asked
    (`SendElsewhere`: SMS or e-mail); to one whose last window closed moments ago
    (`channels.webchat.away_after`) it waits for them to come back (`RateLimited`: not an
    attempt). To a resident who is here, or who gave nowhere else, it goes to the chat (and
    waits in the history for their return)."""
    whereabouts = await presence.whereabouts(ctx.redis, message.address)
    if whereabouts.here:
        return
    conversation, kept = await ChannelPort(ctx).reply_to(message.conversation_id)
    route = reply_to.route(kept, routes_available(ctx.config))
    if route is None or conversation is None:
        return
    if not whereabouts.away:
        raise RateLimited("the resident's chat window closed moments ago; waiting for them "
                          "to come back", retry_after_s=whereabouts.leaving_for_s)
    options: dict[str, Any] = {}
    if route.channel == "email":
        options["email"] = {"mailbox": reply_mailbox(ctx.config, conversation["queue"])}
    raise SendElsewhere(route.channel, route.address, options)


WEBCHAT_CHANNEL = WebchatChannel()
