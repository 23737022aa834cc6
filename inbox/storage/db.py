"""Opening the database named by DATABASE_URL, and bringing its schema up to date."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from inbox import json_text

DEFAULT_DATABASE_URL = "sqlite:///var/contact-centre.db"
ROOT = Path(__file__).resolve().parents[2]

# The async driver behind each URL scheme people write in DATABASE_URL.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def database_url(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def async_url(url: str) -> str:
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"DATABASE_URL: unsupported database {parsed.drivername!r} "
                         "(use sqlite:///path or postgresql://user@host/db)")
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            path = ROOT / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Transactions are begun by `_sqlite_begin` below, not implicitly by the driver.
    dbapi_connection.isolation_level = None
    # WAL lets the app read while the worker writes; busy_timeout makes writers queue up
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() knows only ASCII; searches must fold "Əliyeva" and "ПАСПОРТ" too.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin(conn) -> None:
    # A writer takes the write lock at BEGIN: a deferred transaction that later tries to
    # write fails at once (SQLITE_BUSY_SNAPSHOT) when another process wrote in between.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | None = None, *, pool: bool = True) -> AsyncEngine:
    """An engine for `url` (default: DATABASE_URL). `pool=False` for short-lived jobs."""
    target = async_url(url or database_url())
    # Errors must not carry the statement's parameters: they are message bodies, phone
    # numbers and FINs, and errors end up in logs.
    kwargs: dict = {"hide_parameters": True, "json_serializer": json_text.dumps}
    if not pool:
        kwargs["poolclass"] = NullPool
    elif target.startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(target, **kwargs)
    if target.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def sqlite_connect(engine: AsyncEngine) -> sqlite3.Connection:
    """A plain sqlite3 connection to the file of the SQLite `engine`, set up as the engine's
    own ones are."""
    database = engine.url.database
    if database in (None, "", ":memory:"):
        # Every connection would open a database of its own.
        raise ValueError("DATABASE_URL: SQLite needs a file, not an in-memory database")
    connection = sqlite3.connect(database, check_same_thread=False)
    _sqlite_pragmas(connection, None)
    return connection


def migrate(url: str | None = None) -> None:
    """Apply every Alembic migration not yet applied (call outside a running event loop)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", async_url(url or database_url()).replace("%", "%%"))
    command.upgrade(cfg, "head")
