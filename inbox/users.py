"""Staff accounts as operators manage them (`app.py user add|list|deactivate|reactivate`):
what an account may be given, saving it, and ending or restoring its access.

Ending access is immediate: a new password or a deactivation deletes every token of the user
(their next API call is a 401) and tells their open event streams to end. A deactivated
agent will not be back, so every conversation still theirs returns to its queue and is
offered to another agent, and they show as offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from inbox import assignment, auth
from inbox.context import InboxContext
from inbox.replies import REPLY_LANGUAGES
from inbox.storage import Row

MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class Account:
    """What `user add` was given, checked."""

    email: str
    name: str
    role: str
    queues: tuple[str, ...]
    languages: tuple[str, ...]


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def checked_account(email: str, name: str, role: str, queues: str, languages: str,
                    known_queues: Sequence[str], *,
                    without_queues: bool = False) -> tuple[Account | None, list[str]]:
    """The account, or every reason it cannot be saved, one line each. The e-mail address is
    checked for its form only (no DNS look-up: it need not be reachable from here)."""
    problems = []
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        problems.append(f"{email!r} is not an e-mail address: {exc}")
    if not name.strip():
        problems.append("--name must not be empty")
    if role not in auth.ROLES:
        problems.append(f"--role must be one of {', '.join(auth.ROLES)}")
    queue_ids, language_codes = _list(queues), _list(languages)
    if unknown := [q for q in queue_ids if q not in known_queues]:
        problems.append(f"--queues: unknown queue(s) {', '.join(unknown)}; "
                        f"the configuration has {', '.join(known_queues)}")
    if queue_ids and without_queues:
        problems.append("--queues and --no-queues contradict each other")
    elif role == "agent" and not queue_ids and not without_queues:
        # Supervisors and admins see every queue; an agent without one sees an empty inbox.
        problems.append(f"an agent sees only the conversations of their queues: give --queues "
                        f"(one or more of {', '.join(known_queues)}), or --no-queues to "
                        f"create the account without any on purpose")
    if not language_codes:
        problems.append(f"--languages needs one or more of {', '.join(REPLY_LANGUAGES)}")
    elif unknown := [lang for lang in language_codes if lang not in REPLY_LANGUAGES]:
        problems.append(f"--languages: unknown language(s) {', '.join(unknown)}; "
                        f"use {', '.join(REPLY_LANGUAGES)}")
    if problems:
        return None, problems
    return Account(email, name.strip(), role, queue_ids, language_codes), []


def password_problem(password: str | None) -> str | None:
    if not password:
        return "a password is required on standard input (--password-stdin)"
    if len(password) < MIN_PASSWORD_CHARS:
        return f"the password must have at least {MIN_PASSWORD_CHARS} characters"
    return None


@dataclass(frozen=True)
class Saved:
    user_id: int
    created: bool
    active: bool
    sessions_ended: int   # a changed password ends the sessions it opened


async def save(ctx: InboxContext, account: Account, password: str,
               extra: dict[str, Any] | None = None) -> Saved:
    """Create the account, or update the one with its e-mail address. Updating keeps it
    deactivated if it was (`reactivate` restores access)."""
    async with ctx.store.read() as tx:
        existing = await tx.users.by_email(account.email)
    unchanged = existing is not None and auth.verify_password(existing["password_hash"],
                                                              password)
    values: dict[str, Any] = {
        "name": account.name, "role": account.role, "queues": list(account.queues),
        "languages": list(account.languages), **(extra or {})}
    if existing is None:
        values["capacity"] = dict(assignment.DEFAULT_CAPACITY)
    if not unchanged:
        values["password_hash"] = auth.hash_password(password)
    ended = 0
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save(account.email, **values)
        if existing is not None and not unchanged:
            ended = await tx.users.delete_tokens_of(user_id)
    if ended:
        await auth.sessions_ended(ctx.redis, user_id)
    return Saved(user_id, existing is None, existing is None or existing["active"], ended)


async def all_users(ctx: InboxContext) -> list[Row]:
    async with ctx.store.read() as tx:
        return await tx.users.all()


@dataclass(frozen=True)
class Deactivated:
    user_id: int
    sessions_ended: int
    returned: tuple[int, ...]   # conversations back in their queues


async def deactivate(ctx: InboxContext, email: str) -> Deactivated | None:
    """None when nobody has that e-mail address."""
    async with ctx.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is None:
            return None
        await tx.users.update(user["id"], active=False)
        ended = await tx.users.delete_tokens_of(user["id"])
    await auth.sessions_ended(ctx.redis, user["id"])
    returned = await assignment.release_departed(ctx, user["id"])
    await assignment.set_presence(ctx, user["id"], "offline")
    return Deactivated(user["id"], ended, tuple(returned))


async def reactivate(ctx: InboxContext, email: str) -> Row | None:
    """Access restored (offline, no session: they sign in again). None: no such user."""
    async with ctx.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is not None:
            await tx.users.update(user["id"], active=True)
    return user
