"""The admins' changes to the canned responses (inbox/canned.py says how they combine with
the shipped defaults): one row per key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from inbox.storage.records import Records, Row, utcnow
from inbox.storage.schema import canned_responses


class CannedRecords(Records):
    async def all(self) -> list[Row]:
        return await self._all(select(canned_responses).order_by(canned_responses.c.key))

    async def get(self, key: str, *, for_update: bool = False) -> Row | None:
        query = select(canned_responses).where(canned_responses.c.key == key)
        if for_update:
            query = query.with_for_update()
        return await self._one(query)

    async def save(self, key: str, values: dict[str, Any], actor_id: int) -> None:
        """Insert or replace the row of `key` with `values` (queue, title, body, is_default,
        deleted). Two admins saving a new key at once: the second meets the unique key."""
        values = {**values, "updated_by": actor_id, "updated_at": utcnow()}
        if await self.get(key, for_update=True) is None:
            await self._insert(canned_responses, {"key": key, **values})
        else:
            await self.conn.execute(update(canned_responses)
                                    .where(canned_responses.c.key == key).values(**values))

    async def remove(self, key: str) -> bool:
        result = await self.conn.execute(delete(canned_responses)
                                         .where(canned_responses.c.key == key))
        return result.rowcount > 0
