"""The start-up's warm-up: the storing path run once on made-up residents and rolled back,
so the first batch of a storm does not hold SQLite's one writer (or PostgreSQL's event loop)
while it compiles its statements and loads its templates."""

from datetime import UTC, datetime

from sqlalchemy import func, select

from inbox.ingest import Arrival, store_many, warm_up
from inbox.messages import InboundMessage
from inbox.storage.schema import (
    contact_claims,
    contact_identities,
    contacts,
    conversations,
    events,
    guided_intakes,
    messages,
)

TABLES = (contacts, contact_identities, contact_claims, conversations, messages, events,
          guided_intakes)


async def _counts(ctx) -> dict[str, int]:
    async with ctx.store.read() as tx:
        return {t.name: (await tx.conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in TABLES}


def _sms(n: int, text: str) -> InboundMessage:
    return InboundMessage(channel="sms", external_id=f"SM{n:032d}", address=f"+99455{n:07d}",
                          phone=f"+99455{n:07d}", text=text, received_at=datetime.now(UTC))


async def test_the_warm_up_leaves_nothing_stored(ctx):
    await warm_up(ctx)

    assert set((await _counts(ctx)).values()) == {0}


async def test_after_the_warm_up_a_storms_first_batch_compiles_no_statement(ctx):
    """Each statement compiled once is kept in the engine's cache: the first batch of new
    residents (a registration with a FIN, a question) finds all of its own there."""
    cache = ctx.store.engine.sync_engine._compiled_cache
    await warm_up(ctx)
    before = set(cache.keys())

    await store_many(ctx, [
        Arrival(_sms(1, "Salam, ilkin qeydiyyat üçün müraciət edirəm, FIN 7QX3M9P")),
        Arrival(_sms(2, "Pensiya kartım bloklanıb, kömək edin"))])

    assert set(cache.keys()) - before == set()
    assert (await _counts(ctx))["conversations"] == 2

