"""Typed keys for what the aiohttp application holds (no globals, no string keys)."""

from collections.abc import Callable

from aiohttp import web

from inbox.context import InboxContext
from inbox.intake import Intake
from inbox.live import LiveHub

CONTEXT = web.AppKey("context", InboxContext)
HUB = web.AppKey("hub", LiveHub)
INTAKE = web.AppKey("intake", Intake)
SECRET_KEY = web.AppKey("secret_key", bytes)
# Channels' readiness details for /readyz: {channel: async check(ctx) -> dict | None}.
READINESS = web.AppKey("readiness", dict)
# An agent's voice address as stored, or ValueError: the voice channel's reading, handed in
# at start-up (the web layer names no channel).
VOICE_ADDRESS = web.AppKey("voice_address", Callable[[str], str])
