"""Tags and wrap-up codes: agents label conversations from config's list, a queue may want a
wrap-up code before a conversation is resolved, and reports count conversations per tag."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app import create_app
from inbox.storage import utcnow
from reports.queries import summary
from tests.conftest import with_test_channels
from tests.web.test_api import PENSION, REGISTRATION, THANKS, seed, stored
from tests.web.test_api import people as people  # a fixture, used by name


@pytest.fixture
def wrap_up_config(config):
    """The test deployment, its migration-support queue resolved only with a wrap-up code."""
    queues = tuple(replace(q, wrap_up_required=q.id == "migration-support")
                   for q in config.queues)
    return replace(config, queues=queues)


@pytest.fixture
async def client(aiohttp_client, environment, wrap_up_config):
    return await aiohttp_client(with_test_channels(create_app(wrap_up_config)))


async def put_tags(client, person, conversation_id: int, tags) -> tuple[int, dict]:
    response = await client.put(f"/api/v1/conversations/{conversation_id}/tags",
                                json={"tags": tags}, headers=person.headers)
    return response.status, await response.json()


async def test_the_tags_list_names_each_tag_in_every_language(client, people):
    response = await client.get("/api/v1/tags", headers=people["leyla"].headers)
    assert response.status == 200
    listed = await response.json()
    assert listed["wrap_up_required"] == ["migration-support"]
    by_id = {tag["id"]: tag for tag in listed["tags"]}
    assert by_id["documents-ready"] == {
        "id": "documents-ready", "wrap_up": True,
        "label": {"az": "Sənədlər hazırdır", "ru": "Документы готовы", "en": "Documents ready"}}
    assert by_id["pension"]["wrap_up"] is False


async def test_an_agent_tags_a_conversation_and_the_change_is_an_event(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Aysel Qasımova")
    status, view = await put_tags(client, people["leyla"], c.id, ["citizenship", "pension"])
    assert status == 200 and view["tags"] == ["citizenship", "pension"]
    status, view = await put_tags(client, people["leyla"], c.id, ["pension", "documents-ready"])
    assert status == 200 and view["tags"] == ["pension", "documents-ready"]
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["tags"] == ["pension", "documents-ready"]
    assert types.count("tagged") == 2
    async with ctx.store.read() as tx:
        last = [e for e in await tx.events.of_conversation(c.id) if e["type"] == "tagged"][-1]
    assert last["data"] == {"added": ["documents-ready"], "removed": ["citizenship"]}
    assert last["actor_id"] == people["leyla"].id
    # Setting the same tags again changes nothing and records nothing.
    assert (await put_tags(client, people["leyla"], c.id, ["pension", "documents-ready"]))[0] \
        == 200
    assert (await stored(ctx, c.id))[2].count("tagged") == 2
    # The conversation's view (as lists and the console show it) carries the tags.
    response = await client.get(f"/api/v1/conversations/{c.id}", headers=people["leyla"].headers)
    assert (await response.json())["tags"] == ["pension", "documents-ready"]


@pytest.mark.parametrize("tags, error", [
    (["no-such-tag"], "unknown tag 'no-such-tag'"),
    ("pension", "tags must be a list of tag ids"),
    ([7], "tags must be a list of tag ids"),
    (None, "tags must be a list of tag ids"),
    ([f"t{i}" for i in range(21)], "a conversation has at most 20 tags"),
])
async def test_bad_tags_are_a_400_and_change_nothing(client, ctx, people, tags, error):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Aysel Qasımova")
    await put_tags(client, people["leyla"], c.id, ["pension"])
    status, body = await put_tags(client, people["leyla"], c.id, tags)
    assert (status, body["error"]) == (400, error)
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["tags"] == ["pension"] and types.count("tagged") == 1


async def test_tags_outside_the_callers_queues_are_403(client, ctx, people):
    c = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                   category="inquiry")
    status, _ = await put_tags(client, people["leyla"], c.id, ["pension"])
    assert status == 403
    assert (await stored(ctx, c.id))[0]["tags"] == []
    assert (await put_tags(client, people["leyla"], 10**9, ["pension"]))[0] == 404


async def test_a_queue_that_wants_a_wrap_up_code_is_not_resolved_without_one(client, ctx,
                                                                             people):
    c = await seed(ctx, queue="migration-support", text=THANKS, name="Elnur Quliyev",
                   status="open", category="support", assignee=people["leyla"].id)
    headers = people["leyla"].headers

    async def resolve() -> tuple[int, dict]:
        response = await client.post(f"/api/v1/conversations/{c.id}/status",
                                     json={"status": "resolved"}, headers=headers)
        return response.status, await response.json()

    status, body = await resolve()
    assert status == 409 and "wrap-up code" in body["error"]
    await put_tags(client, people["leyla"], c.id, ["pension"])          # a label, not a code
    assert (await resolve())[0] == 409
    assert (await stored(ctx, c.id))[0]["status"] == "open"
    await put_tags(client, people["leyla"], c.id, ["pension", "documents-ready"])
    status, view = await resolve()
    assert status == 200 and view["status"] == "resolved"


async def test_other_queues_resolve_without_tags(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Aysel Qasımova",
                   status="open", assignee=people["leyla"].id)
    response = await client.post(f"/api/v1/conversations/{c.id}/status",
                                 json={"status": "resolved"}, headers=people["leyla"].headers)
    assert response.status == 200


async def test_the_summary_report_counts_each_conversation_under_each_of_its_tags(
        client, ctx, people):
    pension = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                         category="inquiry")
    both = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                      name="Aysel Qasımova")
    await seed(ctx, queue="migration-support", text=THANKS, name="Elnur Quliyev")
    await put_tags(client, people["nigar"], pension.id, ["pension"])
    await put_tags(client, people["nigar"], both.id, ["citizenship", "pension"])
    now = utcnow()
    rows = await summary(ctx.store.engine, start=now - timedelta(days=1),
                         end=now + timedelta(minutes=1), group_by="tag", calendar=ctx.calendar)
    assert {row["key"]: row["conversations"] for row in rows} == {
        "pension": 2, "citizenship": 1, None: 1}
    response = await client.get("/api/v1/reports/summary?group_by=tag",
                                headers=people["nigar"].headers)
    assert response.status == 200
    assert {row["key"]: row["conversations"] for row in await response.json()} == {
        "pension": 2, "citizenship": 1, None: 1}
