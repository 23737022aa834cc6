"""A batch's contact look-ups (by carrier-vouched phone, by typed identifier) read only the
rows they ask for, however many residents the system has met: on SQLite, whose planner keeps
no statistics, the plan of each statement is read back and must search its own index."""

from datetime import UTC, datetime

import pytest

from inbox import matching
from tests.statements import recorded

BATCH = 80   # a drainer's batch asks for this many phones or identifiers at once


async def _plans(ctx, look_up) -> list[str]:
    """The steps of SQLite's plan for every statement `look_up(tx)` runs."""
    with recorded(ctx.store.engine) as statements:
        async with ctx.store.read() as tx:
            await look_up(tx)
    steps = []
    async with ctx.store.read() as tx:
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith("SELECT"):
                result = await tx.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                       tuple(parameters))
                steps += [row[3] for row in result]
    return steps


async def _residents(ctx, count: int) -> None:
    now = datetime.now(UTC)
    async with ctx.store.transaction() as tx:
        ids = await tx.contacts.create_many([
            {"name": None, "language": "az", "phone": f"+99450{n:07d}"} for n in range(count)])
        await tx.contacts.add_claims([
            {"contact_id": contact_id, "kind": "fin", "digest": f"{n:064d}", "masked": "7******",
             "conversation_id": None, "found_at": now} for n, contact_id in enumerate(ids)])


@pytest.fixture
def sqlite_only(db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL plans by the statistics it keeps")


async def test_a_batch_of_typed_identifiers_searches_the_claims_by_digest(sqlite_only, ctx):
    await _residents(ctx, 200)
    digests = [matching.digest(b"key", "fin", f"{n:07d}") for n in range(BATCH)]

    steps = await _plans(ctx, lambda tx: tx.contacts.claiming_any(digests))

    assert any("ix_contact_claims_digest" in step for step in steps), steps
    assert not any("contacts" in step and "merged_into" in step for step in steps), steps
    assert not any(step.startswith("SCAN") for step in steps), steps


async def test_a_batch_of_phones_searches_the_contacts_by_phone(sqlite_only, ctx):
    await _residents(ctx, 200)
    phones = [f"+99455{n:07d}" for n in range(BATCH)]

    steps = await _plans(ctx, lambda tx: tx.contacts.by_phones(phones))

    assert any("ix_contacts_phone" in step for step in steps), steps
    assert not any(step.startswith("SCAN") for step in steps), steps


async def test_merged_contacts_are_still_found_by_what_they_were_merged_into(sqlite_only, ctx):
    """The index keeps only merged contacts, and still serves a search for them."""
    async with ctx.store.read() as tx:
        result = await tx.conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE merged_into = ?", (1,))
        steps = [row[3] for row in result]
    assert any("ix_contacts_merged_into" in step for step in steps), steps
