"""The providers' records of erased residents' messages still to delete there
(`provider_erasures`): what is due, and what became of an attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from inbox.storage.records import Records, Row
from inbox.storage.schema import provider_erasures


class ProviderErasureRecords(Records):
    async def due(self, now: datetime, limit: int) -> list[Row]:
        """Those whose next attempt is due, longest waiting first."""
        t = provider_erasures
        return await self._all(select(t.c.id, t.c.channel, t.c.external_id, t.c.locator,
                                      t.c.attempts)
                               .where(t.c.next_attempt_at <= now)
                               .order_by(t.c.next_attempt_at, t.c.id).limit(limit))

    async def done(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            t = provider_erasures
            await self.conn.execute(update(t).where(self.one_of(t.c.id, ids)).values(
                done_at=now, next_attempt_at=None, error=None, locator=None,
                attempts=t.c.attempts + 1))

    async def failed(self, record_id: int, error: str, next_attempt_at: datetime) -> None:
        t = provider_erasures
        await self.conn.execute(update(t).where(t.c.id == record_id).values(
            error=error, next_attempt_at=next_attempt_at, attempts=t.c.attempts + 1))

    async def pending(self) -> tuple[int, int]:
        """How many are not deleted yet, and how many of those failed at least once."""
        t = provider_erasures
        row = (await self.conn.execute(
            select(func.count(), func.count().filter(t.c.attempts > 0))
            .where(t.c.next_attempt_at.is_not(None)))).one()
        return row[0], row[1]
