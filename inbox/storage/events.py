"""The event log of each conversation, and agents' classification corrections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from inbox.events import EventType
from inbox.storage.records import Records, Row, utcnow
from inbox.storage.schema import (
    category_corrections,
    events,
)


class EventRecords(Records):
    async def add(self, conversation_id: int, type_: EventType, data: dict[str, Any] | None = None,
                  actor_id: int | None = None, at: datetime | None = None) -> int:
        """Record an event; a type that `EventType` does not declare is refused (ValueError)
        before anything is written, so reports and the console never meet one."""
        return await self._insert(events, {
            "conversation_id": conversation_id, "type": str(EventType(type_)),
            "actor_id": actor_id,
            "data": data or {}, "created_at": at or utcnow()})

    async def add_many(self, rows: list[tuple[int, EventType, dict[str, Any], datetime]]
                       ) -> list[int]:
        """Record events ((conversation_id, type, data, at) each) in one statement."""
        # Checked once per type, not per row: an enum look-up costs more than the row.
        declared = {type_: str(EventType(type_)) for type_ in {row[1] for row in rows}}
        return await self._insert_many(events, [
            {"conversation_id": conversation_id, "type": declared[type_], "actor_id": None,
             "data": data, "created_at": at} for conversation_id, type_, data, at in rows])

    async def of_conversation(self, conversation_id: int) -> list[Row]:
        return await self._all(select(events).where(events.c.conversation_id == conversation_id)
                               .order_by(events.c.id))

    async def after(self, event_id: int, limit: int) -> list[Row]:
        """The log's next `limit` events after `event_id`, oldest first (what an event
        consumer has not seen yet)."""
        return await self._all(select(events).where(events.c.id > event_id)
                               .order_by(events.c.id).limit(limit))

    async def add_correction(self, **values: Any) -> int:
        values.setdefault("created_at", utcnow())
        return await self._insert(category_corrections, values)

    async def corrections(self) -> list[Row]:
        """Agents' category corrections, oldest first; none whose text was erased."""
        return await self._all(select(category_corrections)
                               .where(category_corrections.c.text != "")
                               .order_by(category_corrections.c.id))
