"""Agents, supervisors and admins, their presence, and their sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from inbox.storage.records import Records, Row, utcnow
from inbox.storage.schema import (
    auth_tokens,
    presence_periods,
    users,
)


def token_digest(token: str) -> str:
    # aiohttp reads header bytes that are not UTF-8 as surrogate escapes; such a token is
    # no token of ours (they are ASCII), and must hash, not raise.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()



class UserRecords(Records):
    async def online_by_queue(self) -> dict[str, int]:
        rows = await self.conn.execute(select(users.c.queues).where(
            users.c.presence == "online", users.c.active.is_(True)))
        counts: dict[str, int] = {}
        for (queues,) in rows:
            for queue in queues or ():
                counts[queue] = counts.get(queue, 0) + 1
        return counts

    async def online_agents(self) -> list[Row]:
        return await self._all(select(users).where(users.c.presence == "online",
                                                   users.c.active.is_(True)))

    async def lock(self, user_id: int) -> Row | None:
        """The user's row, locked until commit: assignments to one agent queue up here, so
        two processes cannot both see free capacity and both fill it."""
        return await self._one(select(users).where(users.c.id == user_id).with_for_update())

    async def active(self) -> list[Row]:
        return await self._all(select(users).where(users.c.active.is_(True))
                               .order_by(users.c.name))

    async def all(self) -> list[Row]:
        return await self._all(select(users).order_by(users.c.email))

    async def by_email(self, email: str) -> Row | None:
        return await self._one(select(users).where(users.c.email == email.lower()))

    async def get(self, user_id: int) -> Row | None:
        return await self._one(select(users).where(users.c.id == user_id))

    async def by_ids(self, ids: Sequence[int]) -> list[Row]:
        if not ids:
            return []
        return await self._all(select(users).where(self.one_of(users.c.id, ids)))

    async def save(self, email: str, **values: Any) -> int:
        existing = await self.by_email(email)
        if existing is not None:
            await self.conn.execute(update(users).where(users.c.id == existing["id"])
                                    .values(**values))
            return existing["id"]
        return await self._insert(users, {"email": email.lower(), "created_at": utcnow(),
                                          "active": True, "presence": "offline", **values})

    async def begin_presence(self, user_id: int, presence: str, reason: str | None,
                             at: datetime) -> None:
        """The agent's current presence period ends at `at` and this one begins."""
        await self.conn.execute(update(presence_periods).where(
            presence_periods.c.user_id == user_id, presence_periods.c.ended_at.is_(None))
            .values(ended_at=at))
        await self.conn.execute(insert(presence_periods).values(
            user_id=user_id, presence=presence, reason=reason, started_at=at))

    async def update(self, user_id: int, **values: Any) -> None:
        await self.conn.execute(update(users).where(users.c.id == user_id).values(**values))

    async def save_token(self, token: str, user_id: int, csrf_token: str,
                         expires_at: datetime) -> None:
        await self.conn.execute(insert(auth_tokens).values(
            token_hash=token_digest(token), user_id=user_id, csrf_token=csrf_token,
            created_at=utcnow(), expires_at=expires_at))

    async def session(self, token: str, now: datetime) -> Row | None:
        """The user behind a token that has not expired, with the token's CSRF secret."""
        return await self._one(
            select(users, auth_tokens.c.csrf_token)
            .join(auth_tokens, auth_tokens.c.user_id == users.c.id)
            .where(auth_tokens.c.token_hash == token_digest(token),
                   auth_tokens.c.expires_at > now, users.c.active.is_(True)))

    async def delete_token(self, token: str) -> None:
        await self.conn.execute(delete(auth_tokens)
                                .where(auth_tokens.c.token_hash == token_digest(token)))

    async def delete_tokens_of(self, user_id: int) -> int:
        """Ends every session of the user; how many there were."""
        result = await self.conn.execute(delete(auth_tokens)
                                         .where(auth_tokens.c.user_id == user_id))
        return result.rowcount
