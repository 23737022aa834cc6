"""What every kind of record shares: rows as plain dicts in UTC, the connection of the unit of
work they run in, and the error a taken unique key raises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Result, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox.clock import utcnow as utcnow  # re-exported: the records and their callers use it

Row = dict[str, Any]

# An outbound message's states in the order they may advance; failure ends any of them.
DELIVERY_ORDER = ("queued", "sending", "sent", "delivered", "read")


def _aware(value: Any) -> Any:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def as_row(row: Any) -> Row | None:
    if row is None:
        return None
    return {key: _aware(value) for key, value in row._mapping.items()}


def as_rows(result: Result) -> list[Row]:
    """Every row of `result` as a dict. The column names are read once: a row's own mapping
    builds its key view anew for each row, which costs more than the row's values."""
    keys = tuple(result.keys())
    return [{key: _aware(value) for key, value in zip(keys, row, strict=True)}
            for row in result]


class Duplicate(Exception):
    """A unique key (channel, external id) or (channel, address) is already taken."""


class Records:
    """One kind of record's queries, run on the unit of work's connection."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def _one(self, statement) -> Row | None:
        return as_row((await self.conn.execute(statement)).first())

    async def _all(self, statement) -> list[Row]:
        return as_rows(await self.conn.execute(statement))

    async def _insert(self, table, values: dict[str, Any]) -> int:
        result = await self.conn.execute(insert(table).values(**values).returning(table.c.id))
        return int(result.scalar_one())

    async def _insert_many(self, table, rows: list[dict[str, Any]]) -> list[int]:
        """Insert `rows` (all with the same keys) in one multi-row statement; their ids, in
        the order given. A batch of messages costs one round trip, not one per row."""
        if not rows:
            return []
        if self.conn.dialect.name == "sqlite":
            # With RETURNING, SQLAlchemy runs an INSERT per row on SQLite (to be sure of the
            # order of the ids), and a multi-row VALUES is compiled anew for every size. One
            # executemany runs in sqlite3's C loop; this transaction is the only writer, so
            # its rows take consecutive rowids, the last of which SQLite remembers.
            await self.conn.execute(insert(table), rows)
            last = (await self.conn.execute(text("SELECT last_insert_rowid()"))).scalar_one()
            return list(range(last - len(rows) + 1, last + 1))
        result = await self.conn.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        return [int(row[0]) for row in result]
