"""Shared fixtures: real Redis, and a real database on SQLite and on PostgreSQL.

Tests that take `db_url` run twice, once per database. PostgreSQL is reached at
TEST_POSTGRES_URL (default: the local server as user postgres); the suite creates its own
database there and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from pathlib import Path

import pytest
import redis
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import reports.schema  # noqa: F401  (the reports table belongs to the same metadata)
from channels.registry import channel_book
from inbox import auth, channel_traits
from inbox.channel_traits import ChannelBook
from inbox.context import InboxContext
from inbox.jobs import Jobs
from inbox.storage import Store
from inbox.storage.db import async_url, make_engine, migrate
from inbox.storage.schema import metadata
from settings import load_config

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "fixtures" / "config.yaml"

# The registry's channels: what app.py and worker.py would install at start-up, for the inbox
# code tests run directly (`ctx`), and what a test's application gets (`with_test_channels`).
TEST_CHANNELS = ChannelBook(channel_book().values())
channel_traits.install(TEST_CHANNELS)


def with_test_channels(app):
    """The application `create_app` built, its context knowing TEST_CHANNELS."""
    from web.appkeys import CONTEXT

    app[CONTEXT].channels = TEST_CHANNELS
    return app


# Passwords are hashed with argon2id at its cheapest settings in this process: the deployed
# settings (memory-hard, a fifth of a second of CPU a hash) cost minutes over the suite's
# sign-ins. The accounts of the real systems tests start (tests/e2e/support.System) are
# hashed at the deployed settings, which those processes keep.
DEPLOYED_HASHER = auth._hasher
auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
auth._DUMMY_HASH = auth.hash_password("not a password")

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL",
                                   "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis does not answer at {TEST_REDIS_URL} ({exc}); "
                    "scripts/test starts one", pytrace=False)
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return redis_url


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    name = f"cc_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_admin(TEST_POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL does not answer at {TEST_POSTGRES_URL} ({exc}); "
                    "scripts/test starts one", pytrace=False)
    url = make_url(TEST_POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    asyncio.run(_admin(TEST_POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    """Empties every table and restarts every sequence: the state of a new database. DELETE,
    not TRUNCATE: on tables of a few rows TRUNCATE costs far more (new files for every table
    and index), a third of a second a test."""
    engine = make_engine(url, pool=False)
    async with engine.begin() as conn:
        sequences = (await conn.execute(text(
            "SELECT sequence_schema, sequence_name FROM information_schema.sequences"))).all()
        for table in reversed(metadata.sorted_tables):
            await conn.execute(text(f'DELETE FROM "{table.name}"'))
        for schema, name in sequences:
            await conn.execute(text(f'ALTER SEQUENCE "{schema}"."{name}" RESTART'))
    await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database migrated once; each test gets a copy (migrating costs a tenth of a
    second or more a test, copying well under a millisecond)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "contact-centre.db"
    migrate(f"sqlite:///{path}")
    return path


def new_sqlite(template: Path, path: Path) -> str:
    """A copy of the migrated template at `path`, as its URL (the backup API copies what the
    write-ahead log holds too)."""
    source, target = sqlite3.connect(template), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return new_sqlite(request.getfixturevalue("sqlite_template"),
                          tmp_path / "contact-centre.db")
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def config():
    return load_config(TEST_CONFIG, env={})


@pytest.fixture
def environment(monkeypatch, db_url: str, clean_redis: str, tmp_path) -> dict[str, str]:
    """The process environment the app and worker read, pointed at the test services."""
    values = {"DATABASE_URL": db_url, "REDIS_URL": clean_redis, "CC_CONFIG": str(TEST_CONFIG),
              "SECRET_KEY": "test-secret-key", "CC_MODEL_DIR": str(ROOT / "var" / "model")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
async def ctx(environment, config):
    import redis.asyncio as aioredis

    context = InboxContext(config=config, store=Store(make_engine(environment["DATABASE_URL"])),
                           redis=aioredis.Redis.from_url(environment["REDIS_URL"]),
                           jobs=Jobs(environment["REDIS_URL"]), channels=TEST_CHANNELS)
    yield context
    await context.close()
