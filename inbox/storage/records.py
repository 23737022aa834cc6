"""What every kind of record shares: rows as plain dicts in UTC, the connection of the unit of
work they run in, and the error a taken unique key raises."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Result, Text, TextClause, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
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

    def one_of(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        """`column IN values`, for a list whose length varies from call to call.

        On PostgreSQL it is `column = ANY(:array)`: one parameter however many values, so
        the statement is compiled once and prepared once per connection. SQLAlchemy's IN
        sends each value as a parameter of its own: a statement for every count, each
        compiled, prepared and planned anew. (Which plan PostgreSQL keeps for it depends on
        its statistics of the table: `inbox.storage.statistics`.)"""
        values = list(values)
        if self.conn.dialect.name == "postgresql":
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

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
        rows = with_defaults(table, rows)
        names = tuple(rows[0])
        statement, encoders = _unnest_insert(table, names, self.conn.dialect)
        result = await self.conn.execute(statement, {
            f"c{n}": [encode(row[name]) for row in rows] if encode else
            [row[name] for row in rows] for n, (name, encode) in enumerate(zip(names, encoders,
                                                                             strict=True))})
        # The rows were inserted in the order given (ORDER BY ordinal), each taking the next
        # value of the id's sequence: the ids in ascending order are theirs in that order.
        return sorted(int(row[0]) for row in result)


def with_defaults(table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with the value of each column default (`Column(default=...)`) they leave out,
    as SQLAlchemy's own insert() would add it."""
    missing = [column for column in table.columns
               if column.name not in rows[0] and column.default is not None]
    if not missing:
        return rows
    for column in missing:
        if not (column.default.is_scalar or column.default.is_callable):
            raise TypeError(f"{table.name}.{column.name}: a default only the database knows")
    return [{**row, **{column.name: column.default.arg(None) if column.default.is_callable
                       else column.default.arg for column in missing}} for row in rows]


@functools.cache
def _unnest_insert(table, names: tuple[str, ...], dialect
                   ) -> tuple[TextClause, tuple[Callable[[Any], Any] | None, ...]]:
    """PostgreSQL's INSERT of many rows given as one array per column, and what encodes each
    column's values first (JSON's, as text: SQLAlchemy's ARRAY would take a JSON list for
    an array's dimension). Its text is the same for any number of rows, so it is prepared
    once per connection; SQLAlchemy's multi-row VALUES is a statement of its own for every
    count (a storm's batches are of every size), each parsed and planned anew, with one
    parameter per value."""
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    arrays, parameters, encoders = [], [], []
    for n, name in enumerate(names):
        kind = table.c[name].type
        if isinstance(kind, JSON):
            encoders.append(kind.bind_processor(dialect))
            kind, sql_type = Text(), "JSON"
        else:
            encoders.append(None)
            sql_type = kind.compile(dialect=dialect)
        arrays.append(f"CAST(:c{n} AS {sql_type}[])")
        parameters.append(bindparam(f"c{n}", type_=ARRAY(kind)))
    statement = text(
        f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} "
        f"FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS batch({columns}, ordinal) "
        f"ORDER BY ordinal RETURNING {quote(table.c.id.name)}")
    return statement.bindparams(*parameters), tuple(encoders)
