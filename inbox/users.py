"""Staff accounts as operators manage them (`app.py user add|list|deactivate|reactivate`):
what an account may be given, saving it, and ending or restoring its access.

Ending access is immediate: a new password or a deactivation deletes every token of the user
(their next API call is a 401) and tells their open event streams to end. A deactivated
agent will not be back, so every conversation still theirs returns to its queue and is
offered to another agent, and they show as offline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from inbox import assignment, auth
from inbox.context import InboxContext
from inbox.replies import REPLY_LANGUAGES
from inbox.storage import Row
from routing.assignment import CAPACITY_KINDS, DEFAULT_CAPACITY

MIN_PASSWORD_CHARS = 8
# What one agent may be given of each kind of work at once; more is a typing mistake.
MAX_CAPACITY = 100


class Problem(str):
    """One reason an account cannot be saved: the English line the command line prints, and
    the stable `code` the admin API answers with (and the console translates)."""

    code: str

    def __new__(cls, code: str, text: str) -> Problem:
        problem = super().__new__(cls, text)
        problem.code = code
        return problem


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
                    without_queues: bool = False) -> tuple[Account | None, list[Problem]]:
    """The account, or every reason it cannot be saved, one line each. The e-mail address is
    checked for its form only (no DNS look-up: it need not be reachable from here)."""
    problems = []
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        problems.append(Problem("email_invalid", f"{email!r} is not an e-mail address: {exc}"))
    if not name.strip():
        problems.append(Problem("name_empty", "--name must not be empty"))
    if role not in auth.ROLES:
        problems.append(Problem("unknown_role", f"--role must be one of {', '.join(auth.ROLES)}"))
    queue_ids, language_codes = _list(queues), _list(languages)
    if unknown := [q for q in queue_ids if q not in known_queues]:
        problems.append(Problem("unknown_queue", f"--queues: unknown queue(s) "
                                f"{', '.join(unknown)}; the configuration has "
                                f"{', '.join(known_queues)}"))
    if queue_ids and without_queues:
        problems.append(Problem("bad_request", "--queues and --no-queues contradict each other"))
    elif role == "agent" and not queue_ids and not without_queues:
        # Supervisors and admins see every queue; an agent without one sees an empty inbox.
        problems.append(Problem(
            "agent_without_queues",
            f"an agent sees only the conversations of their queues: give --queues "
            f"(one or more of {', '.join(known_queues)}), or --no-queues to "
            f"create the account without any on purpose"))
    if not language_codes:
        problems.append(Problem("languages_required", f"--languages needs one or more of "
                                f"{', '.join(REPLY_LANGUAGES)}"))
    elif unknown := [lang for lang in language_codes if lang not in REPLY_LANGUAGES]:
        problems.append(Problem("unknown_language", f"--languages: unknown language(s) "
                                f"{', '.join(unknown)}; use {', '.join(REPLY_LANGUAGES)}"))
    if problems:
        return None, problems
    return Account(email, name.strip(), role, queue_ids, language_codes), []


def password_problem(password: str | None) -> Problem | None:
    if not password:
        return Problem("password_too_short",
                       "a password is required on standard input (--password-stdin)")
    if len(password) < MIN_PASSWORD_CHARS:
        return Problem("password_too_short",
                       f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    return None


def checked_capacity(given: Any) -> tuple[dict[str, int] | None, Problem | None]:
    """An account's capacity per kind of work ({"chat": 3, "email": 10}): every kind the
    routing knows, each a whole number from 0 (takes none of that kind) to MAX_CAPACITY.
    Kinds left out keep the default."""
    kinds = ", ".join(CAPACITY_KINDS)
    if not isinstance(given, dict):
        return None, Problem("capacity_invalid", f"capacity is an object of {kinds}")
    if unknown := [kind for kind in given if kind not in CAPACITY_KINDS]:
        return None, Problem("capacity_invalid", f"capacity: unknown kind(s) "
                             f"{', '.join(map(str, unknown))}; use {kinds}")
    if any(not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_CAPACITY
           for n in given.values()):
        return None, Problem("capacity_invalid",
                             f"capacity: each kind takes a whole number 0..{MAX_CAPACITY}")
    return {**DEFAULT_CAPACITY, **given}, None


def checked_voice_address(address: str | None, dial_target: Callable[[str], str]
                          ) -> tuple[str | None, Problem | None]:
    """Where calls ring the user, as stored ("" or None clears it). `dial_target` is the
    voice channel's own reading of an address (its stored form, or ValueError): the inbox
    names no channel."""
    address = (address or "").strip() or None
    if address is None:
        return None, None
    try:
        return dial_target(address), None
    except ValueError as exc:
        return None, Problem("voice_address_invalid", f"--voice-address: {exc}")


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


async def deactivate(ctx: InboxContext, email: str,
                     admin_id: int | None = None) -> Deactivated | None:
    """None when nobody has that e-mail address. An admin's change (`admin_id`, the
    console's) is audited in the same transaction; the command line's is not."""
    async with ctx.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is None:
            return None
        await tx.users.update(user["id"], active=False)
        ended = await tx.users.delete_tokens_of(user["id"])
        if admin_id is not None:
            await tx.audit.record(admin_id, "user.deactivated", "user", user["id"],
                                  {"fields": ["active"], "sessions_ended": ended})
    await auth.sessions_ended(ctx.redis, user["id"])
    returned = await assignment.release_departed(ctx, user["id"])
    await assignment.set_presence(ctx, user["id"], "offline")
    return Deactivated(user["id"], ended, tuple(returned))


async def reactivate(ctx: InboxContext, email: str, admin_id: int | None = None) -> Row | None:
    """Access restored (offline, no session: they sign in again). None: no such user."""
    async with ctx.store.transaction() as tx:
        user = await tx.users.by_email(email)
        if user is not None:
            await tx.users.update(user["id"], active=True)
            if admin_id is not None:
                await tx.audit.record(admin_id, "user.reactivated", "user", user["id"],
                                      {"fields": ["active"]})
    return user
