"""Agents' credentials and sessions: argon2 password hashes, bearer tokens, a session cookie
with a CSRF secret. (The brake on password guessing is `inbox.login_throttle`.)"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from inbox.live import publish_console_event
from inbox.storage import Store, utcnow

ROLES = ("agent", "supervisor", "admin")
SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = timedelta(hours=12)
# Live event: some sessions of a user were ended; that user's open event streams check
# whether theirs is still valid, and end if not.
SESSIONS_ENDED = "sessions.ended"

_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown keeps the answer time the same.
_DUMMY_HASH = _hasher.hash("not a password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Session:
    user: dict[str, Any]
    csrf_token: str
    via_cookie: bool


async def login(store: Store, email: str, password: str) -> tuple[dict[str, Any], str, str] | None:
    """(user, token, csrf token) for good credentials, else None."""
    async with store.read() as tx:
        user = await tx.users.by_email(email)
    # argon2 takes tens of milliseconds by design: keep it off the event loop.
    if user is None or not user["active"]:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return None
    if not await asyncio.to_thread(verify_password, user["password_hash"], password):
        return None
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    async with store.transaction() as tx:
        await tx.users.save_token(token, user["id"], csrf, utcnow() + SESSION_TTL)
    return user, token, csrf


async def session_for(store: Store, token: str, via_cookie: bool) -> Session | None:
    async with store.read() as tx:
        row = await tx.users.session(token, utcnow())
    if row is None:
        return None
    csrf = row.pop("csrf_token")
    return Session(user=row, csrf_token=csrf, via_cookie=via_cookie)


def csrf_ok(session: Session, header_value: str | None) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may have them.
    return header_value is not None and hmac.compare_digest(
        session.csrf_token.encode(), header_value.encode("utf-8", "surrogateescape"))


async def logout(store: Store, token: str) -> None:
    async with store.transaction() as tx:
        await tx.users.delete_token(token)


async def sessions_ended(redis: aioredis.Redis, user_id: int) -> None:
    """Every console hears it (it names no queue); each stream checks whether it was its own
    user's and, if their session is gone, ends."""
    await publish_console_event(redis, SESSIONS_ENDED, {"agent_id": user_id})
