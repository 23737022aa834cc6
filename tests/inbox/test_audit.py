"""The audit trail: an entry is kept with the change's transaction or not at all, and reads
back newest first, page by page, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest


async def _admin_id(ctx) -> int:
    async with ctx.store.transaction() as tx:
        return await tx.users.save("nigar.aliyeva@labour.gov.az", name="Nigar Əliyeva",
                                   role="admin", queues=[], languages=["az"], capacity={},
                                   password_hash="x")


async def test_entries_read_back_newest_first_in_pages(ctx):
    admin = await _admin_id(ctx)
    async with ctx.store.transaction() as tx:
        for number in range(5):
            await tx.audit.record(admin, "user.updated", "user", 100 + number,
                                  {"fields": ["name"]})
        await tx.audit.record(admin, "canned.created", "canned_response", "greeting")
    async with ctx.store.read() as tx:
        first = await tx.audit.recent(limit=4)
        rest = await tx.audit.recent(limit=4, before_id=first[-1]["id"])
        users_only = await tx.audit.recent(limit=10, target_kind="user", target_id=102)
    assert [row["target_id"] for row in first] == ["greeting", "104", "103", "102"]
    assert [row["target_id"] for row in rest] == ["101", "100"]
    assert first[1]["details"] == {"fields": ["name"]} and first[0]["details"] == {}
    assert first[0]["actor_id"] == admin and first[0]["created_at"].tzinfo is not None
    assert [row["action"] for row in users_only] == ["user.updated"]


async def test_an_entry_is_lost_with_the_change_it_records(ctx):
    admin = await _admin_id(ctx)
    with pytest.raises(RuntimeError):
        async with ctx.store.transaction() as tx:
            await tx.audit.record(admin, "user.deactivated", "user", admin)
            raise RuntimeError("the change failed")
    async with ctx.store.read() as tx:
        assert await tx.audit.recent(limit=10) == []
