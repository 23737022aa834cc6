"""Typed keys for what the aiohttp application holds (no globals, no string keys)."""

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
