"""The guided intakes' dialogue rows: one per conversation, read under its row lock and
written only if nobody else's turn came first (`version`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update

from inbox.storage.records import Records, Row
from inbox.storage.schema import guided_intakes

LIVE = ("active", "paused")


class IntakeRecords(Records):
    async def create(self, conversation_id: int, language: str, state: dict[str, Any],
                     now: datetime, reminder_due_at: datetime | None) -> None:
        await self.conn.execute(insert(guided_intakes).values(
            conversation_id=conversation_id, status="active", language=language, state=state,
            version=1, started_at=now, updated_at=now, reminder_due_at=reminder_due_at))

    async def create_many(self, dialogues: Sequence[tuple[int, str, dict[str, Any]]],
                          now: datetime, reminder_due_at: datetime | None) -> None:
        """`create` for each (conversation id, language, state), in one statement."""
        await self.conn.execute(insert(guided_intakes), [
            {"conversation_id": conversation_id, "status": "active", "language": language,
             "state": state, "version": 1, "started_at": now, "updated_at": now,
             "reminder_due_at": reminder_due_at}
            for conversation_id, language, state in dialogues])

    async def get(self, conversation_id: int, *, for_update: bool = False) -> Row | None:
        statement = select(guided_intakes).where(
            guided_intakes.c.conversation_id == conversation_id)
        return await self._one(statement.with_for_update() if for_update else statement)

    async def of_conversations(self, conversation_ids: Sequence[int], *,
                               for_update: bool = False) -> dict[int, Row]:
        if not conversation_ids:
            return {}
        statement = select(guided_intakes).where(
            self.one_of(guided_intakes.c.conversation_id, conversation_ids))
        rows = await self._all(statement.with_for_update() if for_update else statement)
        return {row["conversation_id"]: row for row in rows}

    async def save(self, row: Row, **changes: Any) -> bool:
        """Write `changes` if the row is still at the version `row` was read at; False when
        another turn got there first (the caller reads again)."""
        result = await self.conn.execute(
            update(guided_intakes)
            .where(and_(guided_intakes.c.conversation_id == row["conversation_id"],
                        guided_intakes.c.version == row["version"]))
            .values(version=row["version"] + 1, **changes))
        return result.rowcount == 1

    async def save_many(self, saves: Sequence[tuple[Row, dict[str, Any]]]) -> bool:
        """`save` for each (row, changes) in one statement; every `changes` has the same
        keys. False when some row was no longer at the version read. A driver that cannot
        count an executemany's rows (asyncpg) answers True: the rows' locks, taken when
        they were read (`for_update`), are then the guard."""
        if not saves:
            return True
        result = await self.conn.execute(
            update(guided_intakes).where(and_(
                guided_intakes.c.conversation_id == bindparam("read_conversation_id"),
                guided_intakes.c.version == bindparam("read_version"))),
            [{"read_conversation_id": row["conversation_id"], "read_version": row["version"],
              "version": row["version"] + 1, **changes} for row, changes in saves])
        if not self.conn.dialect.supports_sane_multi_rowcount:
            return True
        return result.rowcount == len(saves)

    async def due(self, now: datetime, limit: int = 200) -> list[Row]:
        """Live intakes whose resident has been silent past their reminder (or handover)
        time."""
        return await self._all(
            select(guided_intakes)
            .where(guided_intakes.c.status.in_(LIVE),
                   guided_intakes.c.reminder_due_at <= now)
            .order_by(guided_intakes.c.reminder_due_at).limit(limit))
