"""The channel contract: what every channel file provides, and the errors a send may raise.

A channel turns a provider's inbound payload into `InboundMessage`s (its routes call
`inbox.ingest`) and sends `OutboundMessage`s back. Richer content degrades to text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from inbox.context import InboxContext
from inbox.messages import OutboundMessage


@dataclass(frozen=True)
class SendResult:
    external_id: str | None   # the provider's id for the sent message, when it gives one


class TransientSendError(Exception):
    """Worth trying again later: network trouble, 5xx, rate limits."""


class PermanentSendError(Exception):
    """Will never succeed as it is: the provider's code and a reason an agent can read."""

    def __init__(self, reason: str, code: str | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Channel(Protocol):
    name: str

    def setup_routes(self, app: web.Application) -> None:
        """Add the channel's inbound routes (webhooks, sockets, pages)."""

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        """Deliver one outbound message; raise Transient/PermanentSendError on failure."""
