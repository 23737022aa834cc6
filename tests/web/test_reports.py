"""Report endpoints and the wall-board over HTTP on the real app and database."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from inbox import actions, assignment
from inbox.actions import Actor
from inbox.auth import hash_password
from inbox.consumers import consume
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from reports.rollup import FACTS_CONSUMER

REGISTRATION = "Salam, reintegrasiya prosesinə ilkin qeydiyyatdan keçmək istəyirəm"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def person(ctx, email, role, queues):
    token = secrets.token_urlsafe(32)
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save(email, name=email.split("@")[0], role=role, queues=queues,
                                     languages=["az"], capacity={"chat": 3},
                                     password_hash=hash_password("x"))
        await tx.users.save_token(token, user_id, "csrf", utcnow() + timedelta(hours=1))
    return user_id, {"Authorization": f"Bearer {token}"}


async def seed(ctx):
    agent_id, _ = await person(ctx, "nigar@example.gov.az", "agent",
                               ["migration-registration"])
    await assignment.set_presence(ctx, agent_id, "online")
    actor = Actor(agent_id, "agent", ("migration-registration",))
    ids = []
    for n in range(3):
        result = await ingest(ctx, InboundMessage(
            channel="webchat", external_id=f"s{n}:1", address=f"s{n}", text=REGISTRATION,
            received_at=datetime.now(UTC), language="az"))
        ids.append(result.conversation_id)
    await actions.reply(ctx, actor, ids[0], "Salam, sənədlərinizi göndərin.")
    await actions.set_status(ctx, actor, ids[0], "resolved")
    return agent_id, ids


async def test_summary_volumes_totals_and_csv(client, ctx):
    await seed(ctx)
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    await consume(ctx, FACTS_CONSUMER)
    response = await client.get("/api/v1/reports/summary?group_by=queue", headers=boss)
    assert response.status == 200
    rows = await response.json()
    assert [(r["key"], r["conversations"], r["answered"]) for r in rows] == \
        [("migration-registration", 3, 1)]
    assert rows[0]["first_response_p50_s"] is not None and rows[0]["resolved"] == 1
    csv = await client.get("/api/v1/reports/summary?group_by=channel&format=csv", headers=boss)
    text = await csv.text()
    assert csv.content_type == "text/csv"
    assert text.splitlines()[0].startswith("key,conversations")
    assert text.splitlines()[1].startswith("webchat,3,")
    volumes = await (await client.get("/api/v1/reports/volumes?period=day",
                                      headers=boss)).json()
    assert sum(r["conversations"] for r in volumes) == 3
    totals = await (await client.get("/api/v1/reports/totals", headers=boss)).json()
    assert totals["conversations"] == 3
    bad = await client.get("/api/v1/reports/summary?group_by=colour", headers=boss)
    assert bad.status == 400
    bad_date = await client.get("/api/v1/reports/summary?from=yesterday", headers=boss)
    assert bad_date.status == 400


@pytest.mark.parametrize("path", ["/api/v1/reports/summary", "/api/v1/reports/volumes",
                                  "/api/v1/reports/totals"])
async def test_a_backwards_range_is_refused_with_a_clear_error(client, ctx, path):
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    for query in ("from=2026-03-20&to=2026-03-10", "from=2026-03-10T12:00&to=2026-03-10T12:00"):
        response = await client.get(f"{path}?{query}", headers=boss)
        assert response.status == 400
        assert await response.json() == {
            "error": "from must be before to (the range is backwards or empty)",
            "code": "report_range_backwards"}
    # One day is a range: `to` as a date means its whole day.
    response = await client.get(f"{path}?from=2026-03-10&to=2026-03-10", headers=boss)
    assert response.status == 200


@pytest.mark.parametrize("query, code", [
    # What the API conformance test once sent: an empty grouping, then others.
    ("group_by=&group_by=Pv&group_by=x", "query_repeated"),
    ("group_by=queue&group_by=agent", "query_repeated"),
    ("period=day&period=week", "query_repeated"),
    ("group_by=", "bad_request"),
])
async def test_a_grouping_given_empty_or_twice_is_refused_not_guessed(client, ctx, query, code):
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    response = await client.get(f"/api/v1/reports/volumes?{query}", headers=boss)
    assert (response.status, (await response.json())["code"]) == (400, code)
    alone = await client.get("/api/v1/reports/volumes?group_by=queue", headers=boss)
    assert alone.status == 200


async def test_a_repeated_filter_of_the_conversation_list_is_refused(client, ctx):
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    response = await client.get("/api/v1/conversations?status=open&status=resolved",
                                headers=boss)
    assert (response.status, (await response.json())["code"]) == (400, "query_repeated")
    assert "status" in (await response.json())["error"]


async def test_reports_are_for_supervisors(client, ctx):
    _, agent = await person(ctx, "rauf@example.gov.az", "agent", ["call-centre-142"])
    for path in ("/api/v1/reports/summary", "/api/v1/reports/volumes",
                 "/api/v1/reports/totals", "/api/v1/wallboard"):
        assert (await client.get(path, headers=agent)).status == 403
    assert (await client.get("/api/v1/wallboard")).status == 401


async def test_wallboard_counts_queues_and_agents(client, ctx):
    agent_id, ids = await seed(ctx)
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    board = await (await client.get("/api/v1/wallboard", headers=boss)).json()
    queue = next(q for q in board["queues"] if q["id"] == "migration-registration")
    # Three arrived; the first was answered and resolved, which freed room for the others.
    assert queue["waiting"] == 0 and queue["in_progress"] == 2
    assert queue["agents_online"] == 1 and queue["agents_busy"] == 1
    agent = next(a for a in board["agents"] if a["id"] == agent_id)
    assert agent["presence"] == "online" and agent["load"] == 2
    assert agent["handled_today"] == 1 and agent["capacity"]["chat"] == 3
    assert agent["over_capacity"] == []
    assert len(ids) == 3


async def test_wallboard_names_the_kinds_of_work_an_agent_has_more_of_than_capacity(client,
                                                                                    ctx):
    agent_id, _ = await seed(ctx)              # two open chats, capacity 3
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    async with ctx.store.transaction() as tx:  # a supervisor lowered it meanwhile
        await tx.users.update(agent_id, capacity={"chat": 1})
    board = await (await client.get("/api/v1/wallboard", headers=boss)).json()
    agent = next(a for a in board["agents"] if a["id"] == agent_id)
    assert (agent["load"], agent["over_capacity"]) == (2, ["chat"])


async def test_handled_today_counts_only_conversations_whose_latest_state_is_resolved(
        client, ctx):
    agent_id, ids = await seed(ctx)          # ids[0] answered and resolved by the agent
    _, boss = await person(ctx, "boss@example.gov.az", "supervisor", [])
    colleague_id, _ = await person(ctx, "rauf@example.gov.az", "agent",
                                   ["migration-registration"])
    agent = Actor(agent_id, "agent", ("migration-registration",))
    colleague = Actor(colleague_id, "agent", ("migration-registration",))

    async def handled() -> tuple[int, int]:
        board = await (await client.get("/api/v1/wallboard", headers=boss)).json()
        by_id = {a["id"]: a["handled_today"] for a in board["agents"]}
        return by_id[agent_id], by_id[colleague_id]

    assert await handled() == (1, 0)
    await actions.set_status(ctx, agent, ids[0], "open")          # reopened: not handled
    assert await handled() == (0, 0)
    await actions.set_status(ctx, agent, ids[0], "resolved")      # resolved again: once
    assert await handled() == (1, 0)
    await actions.set_status(ctx, agent, ids[1], "resolved")
    assert await handled() == (2, 0)
    # A reply to a resolved conversation reopens it; whoever resolves it last handled it.
    await actions.reply(ctx, colleague, ids[1], "Bir sualım da var idi.")
    assert await handled() == (1, 0)
    await actions.set_status(ctx, colleague, ids[1], "resolved")
    assert await handled() == (1, 1)
