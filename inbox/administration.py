"""What admins change from the console's admin screen: staff accounts (create, edit,
deactivate, reactivate, reset a password) and the audit trail of those changes.

Accounts are checked exactly as `app.py user add` checks them (`inbox.users`); every change
writes its audit row in its own transaction, so a change is never without its record and a
refused one leaves none. An audit row names the fields changed (with old and new values for
the plain ones) and never a password or a voice address (a personal phone number)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inbox import assignment, auth, users
from inbox.actions import ActionError
from inbox.context import InboxContext
from inbox.storage import Row
from routing.assignment import DEFAULT_CAPACITY

# Fields an admin edits, in the order the audit names them.
EDITABLE = ("name", "role", "queues", "languages", "capacity", "voice_address")
# Fields whose values the audit keeps (before and after); the others are only named.
AUDITED_VALUES = frozenset({"name", "role", "queues", "languages", "capacity"})
AUDIT_PAGE_MAX = 200


@dataclass(frozen=True)
class AccountInput:
    """An account as the admin screen sends it; None: not given (on an edit, unchanged)."""

    name: str | None = None
    role: str | None = None
    queues: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    capacity: dict[str, Any] | None = None
    voice_address: str | None = None
    given_voice_address: bool = False   # an edit may clear it with null or ""


def _refused(problems: Sequence[users.Problem]) -> ActionError:
    """The first problem's code (what the console translates) and every problem's text."""
    return ActionError("; ".join(problems), 400, code=problems[0].code,
                       problems=[{"code": p.code, "error": str(p)} for p in problems])


def _checked(ctx: InboxContext, email: str, values: dict[str, Any],
             dial_target: Callable[[str], str], given: AccountInput,
             password: str | None = None, *, creating: bool) -> dict[str, Any]:
    """The account's stored values, checked as the command line checks them, or a 400."""
    account, problems = users.checked_account(
        email, values["name"], values["role"], ",".join(values["queues"]),
        ",".join(values["languages"]), ctx.config.queue_ids)
    if creating and (problem := users.password_problem(password)):
        problems.append(problem)
    capacity, problem = users.checked_capacity(values["capacity"])
    if problem:
        problems.append(problem)
    voice_address = values["voice_address"]
    if creating or given.given_voice_address:
        voice_address, problem = users.checked_voice_address(voice_address, dial_target)
        if problem:
            problems.append(problem)
    if problems:
        raise _refused(problems)
    assert account is not None and capacity is not None
    return {"email": account.email, "name": account.name, "role": account.role,
            "queues": list(account.queues), "languages": list(account.languages),
            "capacity": capacity, "voice_address": voice_address}


def _with_given(values: dict[str, Any], given: AccountInput) -> dict[str, Any]:
    merged = dict(values)
    for field in EDITABLE:
        value = getattr(given, field)
        if field == "voice_address":
            if given.given_voice_address:
                merged[field] = value
        elif value is not None:
            merged[field] = list(value) if field in ("queues", "languages") else value
    return merged


async def create_user(ctx: InboxContext, admin_id: int, email: str, given: AccountInput,
                      password: str | None, dial_target: Callable[[str], str]) -> Row:
    """A new account (active, offline); 409 when the e-mail address has one already."""
    values = _checked(ctx, email, _with_given(
        {"name": "", "role": "", "queues": [], "languages": [], "capacity": {},
         "voice_address": None}, given), dial_target, given, password, creating=True)
    password_hash = await asyncio.to_thread(auth.hash_password, password)
    async with ctx.store.transaction() as tx:
        if await tx.users.by_email(values["email"]) is not None:
            raise ActionError("a user with this e-mail address exists already", 409,
                              code="email_taken")
        email = values.pop("email")
        user_id = await tx.users.save(email, **values, password_hash=password_hash)
        await tx.audit.record(admin_id, "user.created", "user", user_id, {
            "fields": ["email", *(f for f in EDITABLE if values[f] not in (None, "", []))],
            "values": {f: values[f] for f in EDITABLE if f in AUDITED_VALUES}})
        return await tx.users.get(user_id)


async def _user(ctx: InboxContext, user_id: int) -> Row:
    async with ctx.store.read() as tx:
        user = await tx.users.get(user_id)
    if user is None:
        raise ActionError("no such user", 404, code="user_not_found")
    return user


async def edit_user(ctx: InboxContext, admin_id: int, user_id: int, given: AccountInput,
                    dial_target: Callable[[str], str]) -> Row:
    """The account with the given fields changed; nothing given that differs, nothing
    written (and no audit row). An admin cannot take their own admin role away: the screen
    would lock them out of it at once."""
    user = await _user(ctx, user_id)
    current = {field: user[field] for field in EDITABLE}
    current["queues"], current["languages"] = list(user["queues"] or []), \
        list(user["languages"] or [])
    # As routing reads it: a kind the account never set has its default.
    current["capacity"] = {**DEFAULT_CAPACITY, **(user["capacity"] or {})}
    values = _checked(ctx, user["email"], _with_given(current, given), dial_target, given,
                      creating=False)
    if user_id == admin_id and values["role"] != "admin":
        raise ActionError("an admin cannot take away their own admin role", 409,
                          code="cannot_demote_self")
    changed = [f for f in EDITABLE if values[f] != current[f]]
    if not changed:
        return user
    async with ctx.store.transaction() as tx:
        await tx.users.update(user_id, **{f: values[f] for f in changed})
        await tx.audit.record(admin_id, "user.updated", "user", user_id, {
            "fields": changed,
            "changes": {f: {"from": current[f], "to": values[f]}
                        for f in changed if f in AUDITED_VALUES}})
        edited = await tx.users.get(user_id)
    if values["role"] == "agent" and {"queues", "role"} & set(changed):
        # Supervisors and admins see every queue; an agent only their own.
        await assignment.release_outside_queues(ctx, user_id, values["queues"])
    return edited


async def set_active(ctx: InboxContext, admin_id: int, user_id: int, active: bool) -> Row:
    """Deactivate (sessions end, their conversations go back to the queues) or reactivate;
    asking for the state the account is in already changes and audits nothing."""
    user = await _user(ctx, user_id)
    if not active and user_id == admin_id:
        raise ActionError("an admin cannot deactivate their own account", 409,
                          code="cannot_deactivate_self")
    if user["active"] != active:
        if active:
            await users.reactivate(ctx, user["email"], admin_id=admin_id)
        else:
            await users.deactivate(ctx, user["email"], admin_id=admin_id)
    return await _user(ctx, user_id)


async def reset_password(ctx: InboxContext, admin_id: int, user_id: int,
                         password: str | None) -> int:
    """A new password for the account; every session it had ends (how many)."""
    if problem := users.password_problem(password):
        raise _refused([problem])
    await _user(ctx, user_id)
    password_hash = await asyncio.to_thread(auth.hash_password, password)
    async with ctx.store.transaction() as tx:
        await tx.users.update(user_id, password_hash=password_hash)
        ended = await tx.users.delete_tokens_of(user_id)
        await tx.audit.record(admin_id, "user.password_reset", "user", user_id,
                              {"fields": ["password"], "sessions_ended": ended})
    await auth.sessions_ended(ctx.redis, user_id)
    return ended


@dataclass(frozen=True)
class AuditPage:
    rows: list[Row]
    people: dict[int, Row]    # actors and target users by id, for their names
    next_before: int | None   # the `before` of the next (older) page; None: no more


async def audit_page(ctx: InboxContext, limit: int, before_id: int | None = None,
                     target_kind: str | None = None, target_id: str | None = None) -> AuditPage:
    async with ctx.store.read() as tx:
        rows = await tx.audit.recent(limit, before_id, target_kind, target_id)
        ids = {row["actor_id"] for row in rows} | {
            int(row["target_id"]) for row in rows
            if row["target_kind"] == "user" and row["target_id"].isdigit()}
        people = {user["id"]: user for user in await tx.users.by_ids(sorted(ids))}
    return AuditPage(rows, people, rows[-1]["id"] if len(rows) == limit else None)
