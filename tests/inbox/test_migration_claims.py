"""Migration 0007 on data an earlier version wrote: typed FINs, and typed phones and e-mail
addresses kept on contacts, stop being joining keys; carrier-delivered numbers stay."""

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlalchemy.engine import make_url

from inbox.storage.db import ROOT, async_url, make_engine
from tests.conftest import TEST_POSTGRES_URL, _admin

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).isoformat()


def _upgrade(url: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    command.upgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'before.db'}"
        return
    name = f"cc_migration_{secrets.token_hex(4)}"
    asyncio.run(_admin(TEST_POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    yield make_url(TEST_POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(TEST_POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _run(url: str, statements: list[str]) -> list:
    engine = make_engine(url, pool=False)
    async with engine.begin() as conn:
        for statement in statements[:-1]:
            await conn.execute(text(statement))
        rows = (await conn.execute(text(statements[-1]))).all()
    await engine.dispose()
    return rows


def test_typed_identifiers_on_contacts_are_no_longer_joining_keys(empty_db):
    _upgrade(empty_db, "0006")
    asyncio.run(_run(empty_db, [
        # 1: a web-chat visitor who typed a FIN, a phone and an address (kept by old code);
        # 2: an SMS resident, whose number the carrier delivered, and who typed an address.
        "INSERT INTO contacts (id, name, phone, email, fin, created_at, updated_at) VALUES "
        f"(1, 'Qonaq', '+994501234567', 'g@example.az', '7QX3M9P', '{NOW}', '{NOW}'), "
        f"(2, 'Günel', '+994551112233', 'gunel@example.az', NULL, '{NOW}', '{NOW}')",
        "INSERT INTO contact_identities (contact_id, channel, address, created_at) VALUES "
        f"(1, 'webchat', 'session-1', '{NOW}'), (2, 'sms', '+994551112233', '{NOW}')",
        "SELECT 1"]))
    _upgrade(empty_db, "head")
    rows = asyncio.run(_run(empty_db, ["SELECT id, phone, email FROM contacts ORDER BY id"]))
    assert [tuple(r) for r in rows] == [(1, None, None), (2, "+994551112233", None)]
    columns = asyncio.run(_run(empty_db, ["SELECT * FROM contacts"]))
    assert all("fin" not in r._fields for r in columns)
