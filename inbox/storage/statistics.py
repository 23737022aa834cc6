"""PostgreSQL's statistics of the tables a storm fills, kept up while those tables are young.

PostgreSQL plans a statement from what it knows of the tables, and keeps the plan of a
prepared statement (asyncpg prepares each one) after its fifth run. Of a table nobody has
analyzed yet it knows nothing: on a new installation's first storm, or after a restore, the
planner takes the tables for nearly empty and keeps plans that read every message of the
channel to find a batch's few. At 12,000 messages that cost 50 ms for each look-up of a
batch, growing with every message. Autovacuum analyzes a table once a tenth of it has
changed, but looks at most once a minute (`autovacuum_naptime`), and a storm doubles a
young table in seconds.

So the serving process looks twice a second at the size of the tables that ingest fills
(their files' size: always current, where the activity statistics lag a second or more),
and analyzes each one that has at least doubled since its last analysis, from `MIN_PAGES`
on. A young table is analyzed in milliseconds, and ANALYZE invalidates the plans kept for
it, so the next run plans with the truth. A grown table has changed by a tenth long before
it doubles: from there on autovacuum keeps its statistics, and this keeper has nothing left
to do.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import String

from inbox.storage.chores import Chore

log = logging.getLogger(__name__)

EVERY_S = 0.5
# A table smaller than this (in 8 kB pages: 64 kB, some 200 messages) is never worth an
# ANALYZE: its plans cost nothing whichever they are.
MIN_PAGES = 8
# The tables a storm of new residents fills, and whose look-ups a batch makes.
TABLES = ("contacts", "contact_identities", "contact_claims", "conversations", "messages",
          "events", "guided_intakes")

# Each table's pages at its last analysis (or vacuum; 0 before either) and now. Only the
# tables this role may analyze (their owner's, or a superuser's): of another's, ANALYZE
# skips the table with a warning in the server's log, which would come twice a second.
_SIZES = text(
    "SELECT relname, relpages, pg_relation_size(oid) / current_setting('block_size')::int "
    "FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
    "AND relname = ANY(:tables) AND pg_has_role(relowner, 'USAGE')"
).bindparams(bindparam("tables", type_=ARRAY(String)))
# One process analyzes at a time; the others skip their turn (the key is arbitrary, fixed).
_ONE_AT_A_TIME = text("SELECT pg_try_advisory_xact_lock(7305512830)")


def due(pages_then: int, pages_now: int) -> bool:
    """Whether a table of `pages_now` pages, `pages_then` at its last analysis, is worth
    analyzing now."""
    return pages_now >= max(MIN_PAGES, 2 * pages_then)


class StatisticsKeeper:
    """Analyzes the young tables of a PostgreSQL `engine` as they grow (`analyze_grown`), every
    `every_s` seconds once started."""

    def __init__(self, engine: AsyncEngine, every_s: float = EVERY_S):
        self._engine = engine
        self._chore = Chore(self._analyze_logged, every_s, "postgresql-statistics")

    async def analyze_grown(self) -> list[str]:
        """Analyze the tables that are `due`; their names (none when another process holds
        the turn)."""
        async with self._engine.begin() as conn:
            if not (await conn.execute(_ONE_AT_A_TIME)).scalar_one():
                return []
            grown = sorted(name for name, then, now in
                           await conn.execute(_SIZES, {"tables": list(TABLES)})
                           if due(then, now))
            quote = conn.dialect.identifier_preparer.quote
            for name in grown:
                await conn.execute(text(f"ANALYZE {quote(name)}"))
        return grown

    def start(self) -> None:
        self._chore.start()

    async def _analyze_logged(self) -> None:
        try:
            analyzed = await self.analyze_grown()
        except (SQLAlchemyError, OSError) as exc:
            # Autovacuum analyzes them in a minute; a database that is down shows in every
            # write long before here.
            log.warning("could not analyze the young tables: %s", type(exc).__name__)
            return
        if analyzed:
            log.info("analyzed the grown tables %s", ", ".join(analyzed))

    async def stop(self) -> None:
        await self._chore.stop()
