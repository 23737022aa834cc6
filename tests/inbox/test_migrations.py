"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import reports.schema  # noqa: F401  (the reports table belongs to the same metadata)
from inbox.storage.db import make_engine
from inbox.storage.schema import metadata


async def test_migrations_match_the_declared_schema(db_url):
    engine = make_engine(db_url, pool=False)

    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with engine.connect() as conn:
        diff = await conn.run_sync(differences)
    await engine.dispose()
    assert diff == []
