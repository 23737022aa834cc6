"""The channel contract: what every channel file provides, and the errors a send may raise.

A channel turns a provider's inbound payload into `InboundMessage`s and hands them to the
inbox through its one port (`inbox.port.ChannelPort`: ingest, history, provider ids,
delivery reports; a channel never opens a store transaction), and sends `OutboundMessage`s
back. It declares its traits (what the inbox
and the console need to know of it), checks its own config section, names the jobs the
worker should run for it, and fetches the media residents sent. Richer content (choices,
buttons) degrades to text where the channel has none: `as_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from aiohttp import web

from inbox.channel_traits import ChannelTraits
from inbox.context import InboxContext
from inbox.messages import OutboundMessage
from settings import Config, Problem


@dataclass(frozen=True)
class SendResult:
    external_id: str | None   # the provider's id for the sent message, when it gives one


class TransientSendError(Exception):
    """Worth trying again later: network trouble, 5xx, rate limits."""


class RateLimited(TransientSendError):
    """The provider asked us to slow down (HTTP 429, its Retry-After), or our own share of its
    rate has no room soon enough: nothing was sent, so the attempt is not counted and the
    message waits `retry_after_s` in the queue. `by_provider`: the provider's own 429."""

    def __init__(self, reason: str, retry_after_s: float, *, by_provider: bool = False):
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        self.by_provider = by_provider


class PermanentSendError(Exception):
    """Will never succeed as it is: the provider's code and a reason an agent can read."""

    def __init__(self, reason: str, code: str | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SendElsewhere(Exception):
    """Not for this channel now: the message goes out on `channel` to `address` (a web-chat
    answer to a resident who has left the chat, to the phone or e-mail they gave). The
    delivery job records the route on the message, so every later attempt and the provider's
    status reports follow it, and sends it there. `extra`: that channel's send options."""

    def __init__(self, channel: str, address: str, extra: dict[str, Any] | None = None):
        super().__init__(f"goes by {channel}")
        self.channel = channel
        self.address = address
        self.extra = extra or {}


class MediaError(Exception):
    """An attachment could not be fetched; `transient`: trying again later may help."""

    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.transient = transient


class Channel(Protocol):
    name: str
    traits: ChannelTraits

    def setup_routes(self, app: web.Application) -> None:
        """Add the channel's inbound routes (webhooks, sockets, pages)."""

    def check_config(self, config: Config) -> list[Problem]:
        """What is wrong in the channel's own config section, each with its key and line."""

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        """The jobs the worker runs for this channel in this deployment: {job function's
        dotted name: interval in seconds} (the mailboxes' poll, when there are mailboxes)."""

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """The body and content type of an attachment the provider holds at `url`; raises
        MediaError. Called only for attachments the channel gave a `source_url`."""

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        """Deliver one outbound message; raise Transient/PermanentSendError on failure."""


def problem_at(config: Config, message: str) -> Problem:
    """A channel's config problem from the message of its check ("key.path: what is wrong"),
    with the line of that key in the file."""
    path, separator, text = message.partition(": ")
    if not separator or " " in path:
        return Problem("channels", config.line("channels"), message)
    return Problem(path, config.line(path), text)


def as_text(message: OutboundMessage) -> OutboundMessage:
    """The message for a channel that shows neither choices nor buttons: the choices follow
    the body as a numbered list the resident can answer with a number, and buttons' labels
    as a list of what they may write."""
    lines = [message.body] if message.body else []
    if message.choices and all(choice == str(i) for i, choice in
                               enumerate(message.choices, start=1)):
        # Answers that are their own numbers (a 1-5 rating) need no numbered list.
        lines += ["", " · ".join(message.choices)]
    elif message.choices:
        lines += [""] + [f"{i}. {choice}" for i, choice in enumerate(message.choices, start=1)]
    if message.buttons:
        lines += [""] + [f"• {button}" for button in message.buttons]
    return replace(message, body="\n".join(lines), choices=(), buttons=())
