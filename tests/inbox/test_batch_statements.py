"""A batch's statements: rows inserted together keep their order and their columns' defaults
on both databases; on PostgreSQL a batch's look-ups and inserts are each one statement text
whatever the batch's size (prepared once, planned once), and the tables a storm fills are
analyzed as they grow (inbox.storage.statistics)."""

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from inbox.storage import Store
from inbox.storage.db import make_engine
from inbox.storage.schema import contacts, conversations, messages
from inbox.storage.statistics import MIN_PAGES, StatisticsKeeper, due
from tests.statements import recorded

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.fixture
def postgres_only(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite keeps no plans between statements and no statistics")


def _residents(numbers) -> list[dict]:
    return [{"name": f"Sakin {n}", "language": "az", "phone": f"+99450{n:07d}"}
            for n in numbers]


async def _statements(ctx, work) -> list[tuple[str, object]]:
    """The SQL text and parameters of every statement `work(tx)` runs."""
    with recorded(ctx.store.engine) as seen:
        async with ctx.store.transaction() as tx:
            await work(tx)
    return seen


async def test_rows_inserted_together_get_their_ids_in_the_order_given(ctx):
    numbers = [5, 3, 9, 1, 7]
    async with ctx.store.transaction() as tx:
        ids = await tx.contacts.create_many(_residents(numbers))
    async with ctx.store.read() as tx:
        phones = dict((await tx.conn.execute(
            select(contacts.c.id, contacts.c.phone).where(contacts.c.id.in_(ids)))).all())
    assert [phones[i] for i in ids] == [f"+99450{n:07d}" for n in numbers]


async def test_rows_inserted_together_keep_their_json_and_get_their_defaults(ctx):
    async with ctx.store.transaction() as tx:
        [contact] = await tx.contacts.create_many(_residents([1]))
        [identity] = await tx.contacts.create_identities([
            {"contact_id": contact, "channel": "sms", "address": "+994500000001",
             "display_name": None}])
        [conversation] = await tx.conversations.create_many([
            {"contact_id": contact, "identity_id": identity, "channel": "sms",
             "status": "waiting", "language": "az", "created_at": NOW,
             "last_message_at": NOW}])
        first, second = await tx.messages.insert_many([
            {"conversation_id": conversation, "channel": "sms", "direction": "in",
             "external_id": f"SM{n:032d}", "body": body, "extra": extra,
             "author_kind": "contact", "created_at": NOW, "delivery_status": "received"}
            for n, (body, extra) in enumerate([
                ("Salam, FIN-im 5ZJ8K2L", {"mail_id": "<a@b>", "parts": [1, 2]}),
                ("Пенсия не пришла", None)])])
    async with ctx.store.read() as tx:
        tags = (await tx.conn.execute(select(conversations.c.tags)
                                      .where(conversations.c.id == conversation))).scalar_one()
        stored = {row.id: row for row in await tx.conn.execute(
            select(messages.c.id, messages.c.body, messages.c.extra, messages.c.attachments,
                   messages.c.attempts).where(messages.c.id.in_([first, second])))}
    assert tags == []                                  # the column's default
    assert stored[first].body == "Salam, FIN-im 5ZJ8K2L"
    assert stored[first].extra == {"mail_id": "<a@b>", "parts": [1, 2]}
    assert stored[second].body == "Пенсия не пришла"
    assert stored[second].extra is None
    assert stored[first].attachments == [] and stored[second].attempts == 0


async def test_a_batch_look_up_is_one_statement_whatever_its_size(postgres_only, ctx):
    async with ctx.store.transaction() as tx:
        await tx.contacts.create_many(_residents(range(3)))

    async def look_up(count):
        phones = [f"+99450{n:07d}" for n in range(count)]
        found: dict = {}

        async def work(tx):
            found.update(await tx.contacts.by_phones(phones))
        return await _statements(ctx, work), found

    (few, found_few), (many, found_many) = await look_up(2), await look_up(40)
    assert len(found_few) == 2 and len(found_many) == 3
    assert [sql for sql, _ in few] == [sql for sql, _ in many]
    [(_, parameters)] = many
    assert [f"+99450{n:07d}" for n in range(40)] in list(parameters)


async def test_a_batch_insert_is_one_statement_whatever_its_size(postgres_only, ctx):
    async def insert(count):
        async def work(tx):
            await tx.contacts.create_many(_residents(range(count)))
        return [sql for sql, _ in await _statements(ctx, work)]

    assert await insert(2) == await insert(33)


def test_a_table_is_analyzed_each_time_it_doubles():
    assert not due(0, MIN_PAGES - 1)        # too small to matter
    assert due(0, MIN_PAGES)                # never analyzed, and grown
    assert not due(100, 199)
    assert due(100, 200)


async def _pages_at_analysis(engine, table: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT relpages FROM pg_class WHERE relname = :t"),
                                   {"t": table})).scalar_one()


async def _emptied(engine) -> None:
    """contacts (and what refers to them) empty, of no pages, analyzed so."""
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE contacts CASCADE"))
        await conn.execute(text("ANALYZE contacts"))


async def test_a_young_table_that_doubled_is_analyzed_and_then_planned_by_its_index(
        postgres_only, ctx):
    engine = ctx.store.engine
    keeper = StatisticsKeeper(engine)
    await _emptied(engine)
    async with ctx.store.transaction() as tx:
        await tx.contacts.create_many(_residents(range(2000)))

    assert "contacts" in await keeper.analyze_grown()
    assert await _pages_at_analysis(engine, "contacts") >= MIN_PAGES
    assert "contacts" not in await keeper.analyze_grown()     # analyzed at this size already
    async with engine.connect() as conn:
        plan = "\n".join(row[0] for row in await conn.execute(text(
            "EXPLAIN SELECT id FROM contacts WHERE phone = ANY(ARRAY['+994500000007', "
            "'+994500000011']) AND merged_into IS NULL")))
    assert "ix_contacts_phone" in plan, plan


async def test_one_process_analyzes_at_a_time(postgres_only, ctx):
    engine = ctx.store.engine
    await _emptied(engine)
    async with ctx.store.transaction() as tx:
        await tx.contacts.create_many(_residents(range(2000)))
    async with engine.connect() as other, other.begin():
        await other.execute(text("SELECT pg_advisory_xact_lock(7305512830)"))
        assert await StatisticsKeeper(engine).analyze_grown() == []
    assert "contacts" in await StatisticsKeeper(engine).analyze_grown()


async def test_the_serving_processs_store_keeps_the_statistics(postgres_only, db_url, ctx):
    await _emptied(ctx.store.engine)
    store = Store(make_engine(db_url), upkeep=True)
    store.start_upkeep()
    try:
        async with store.transaction() as tx:
            await tx.contacts.create_many(_residents(range(2000)))
        for _ in range(50):
            if await _pages_at_analysis(store.engine, "contacts") > 0:
                break
            await asyncio.sleep(0.1)
        assert await _pages_at_analysis(store.engine, "contacts") >= MIN_PAGES
    finally:
        await store.close()


async def test_a_backlog_taken_in_by_another_process_keeps_the_statistics(postgres_only, ctx):
    """A worker's store has no upkeep of its own; a mailbox's first poll keeps the
    statistics while it takes its backlog in."""
    await _emptied(ctx.store.engine)
    async with ctx.store.keeping_statistics():
        async with ctx.store.transaction() as tx:
            await tx.contacts.create_many(_residents(range(2000)))
        for _ in range(50):
            if await _pages_at_analysis(ctx.store.engine, "contacts") > 0:
                break
            await asyncio.sleep(0.1)
    assert await _pages_at_analysis(ctx.store.engine, "contacts") >= MIN_PAGES


async def test_tables_another_role_owns_are_left_to_autovacuum(postgres_only, db_url, ctx):
    """The app may run as a role that does not own the tables it writes: ANALYZE would skip
    them with a warning in the server's log twice a second, so they are not asked for."""
    await _emptied(ctx.store.engine)
    async with ctx.store.transaction() as tx:
        await tx.contacts.create_many(_residents(range(2000)))
    role = f"cc_app_{secrets.token_hex(3)}"
    async with ctx.store.engine.connect() as conn:
        await conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'not-the-owner'"))
        await conn.commit()
    other = make_engine(make_url(db_url).set(username=role, password="not-the-owner")
                        .render_as_string(hide_password=False), pool=False)
    try:
        assert await StatisticsKeeper(other).analyze_grown() == []
    finally:
        await other.dispose()
        async with ctx.store.engine.connect() as conn:
            await conn.execute(text(f"DROP ROLE {role}"))
            await conn.commit()
    assert "contacts" in await StatisticsKeeper(ctx.store.engine).analyze_grown()
