"""A resident's history across channels in one timeline: GET /api/v1/contacts/{id}/timeline,
on the real app and both databases."""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import with_test_channels
from tests.web.test_api import PENSION, REGISTRATION, seed
from tests.web.test_api import people as people  # a fixture, used by name


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(with_test_channels(create_app(config)))


async def timeline(client, person, contact_id: int, query: str = "") -> tuple[int, dict]:
    response = await client.get(f"/api/v1/contacts/{contact_id}/timeline{query}",
                                headers=person.headers)
    return response.status, await response.json()


async def test_one_timeline_holds_every_channel_the_caller_may_see(client, ctx, people):
    chat = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                      name="Aysel Qasımova", phone="+994501234567")
    sms = await seed(ctx, queue="call-centre-142", text=PENSION, name="Aysel Qasımova",
                     channel="sms", phone="+994501234567", contact=chat, category="inquiry")
    status, page = await timeline(client, people["nigar"], chat.contact_id)   # supervisor
    assert status == 200
    assert [(m["channel"], m["conversation_id"], m["body"]) for m in page["items"]] == [
        ("webchat", chat.id, REGISTRATION), ("sms", sms.id, PENSION)]
    assert page["next_before"] is None
    # An agent of the migration queues sees the chat, not the 142 line's SMS.
    status, page = await timeline(client, people["leyla"], chat.contact_id)
    assert status == 200 and [m["conversation_id"] for m in page["items"]] == [chat.id]
    # An agent who may see none of the resident's conversations sees nothing of them.
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(chat.id, queue="dost-baku-1")
    assert (await timeline(client, people["leyla"], chat.contact_id))[0] == 403
    assert (await timeline(client, people["leyla"], 10**9))[0] == 404


async def test_the_timeline_pages_backwards_from_the_newest(client, ctx, people):
    first = await seed(ctx, queue="migration-registration", text="1", name="Elnur Quliyev")
    async with ctx.store.transaction() as tx:
        for n in range(2, 6):
            await tx.messages.insert(
                conversation_id=first.id, channel="webchat", direction="in", body=str(n),
                external_id=f"page:{n}", author_kind="resident", created_at=first.at,
                delivery_status="received")
    nigar = people["nigar"]
    status, page = await timeline(client, nigar, first.contact_id, "?limit=2")
    assert status == 200 and [m["body"] for m in page["items"]] == ["4", "5"]
    status, page = await timeline(client, nigar, first.contact_id,
                                  f"?limit=2&before={page['next_before']}")
    assert [m["body"] for m in page["items"]] == ["2", "3"]
    status, page = await timeline(client, nigar, first.contact_id,
                                  f"?limit=2&before={page['next_before']}")
    assert [m["body"] for m in page["items"]] == ["1"] and page["next_before"] is None
    for query, error in (("?before=abc", "before must be a message id"),
                         ("?limit=many", "limit must be a whole number from 1 to 200"),
                         ("?limit=0", "limit must be a whole number from 1 to 200"),
                         ("?limit=201", "limit must be a whole number from 1 to 200")):
        assert await timeline(client, nigar, first.contact_id, query) == (
            400, {"error": error, "code": "bad_page"})
