"""Agents' time in each presence state: the pure arithmetic, then the presence endpoint,
the presence report and the wall-board over HTTP on the real app and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from inbox import assignment
from inbox.storage.schema import presence_periods, users
from reports.presence import Period, seconds_in_states, state_totals
from tests.web.test_reports import person

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_periods_count_only_inside_the_range_and_an_open_one_until_now():
    periods = [
        Period(1, "offline", None, at(-600), at(0)),          # starts before the range
        Period(1, "online", None, at(0), at(50)),
        Period(1, "away", "break", at(50), at(65)),
        Period(1, "online", None, at(65), at(120)),
        Period(1, "away", "break", at(120), at(130)),
        Period(1, "away", None, at(130), None),               # still away, no reason
        Period(2, "online", None, at(200), None),             # after now: nothing
    ]
    states = seconds_in_states(periods, at(-60), at(24 * 60), now=at(140))
    assert states == {1: {("offline", None): 3600, ("online", None): 105 * 60,
                          ("away", "break"): 25 * 60, ("away", None): 600}}
    assert state_totals(states[1]) == {
        "seconds": {"online": 105 * 60, "away": 35 * 60, "offline": 3600},
        "away_by_reason": {"break": 25 * 60, "": 600}}
    # A range that ends before now clips the open period at its end.
    assert seconds_in_states(periods, at(125), at(135), now=at(140)) == {
        1: {("away", "break"): 300, ("away", None): 300}}


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def set_presence(client, headers, **body) -> tuple[int, dict]:
    response = await client.post("/api/v1/me/presence", json=body, headers=headers)
    return response.status, await response.json()


async def move_periods_back(ctx, user_id: int, minutes: float) -> None:
    """The agent's recorded presence changes happened `minutes` earlier (a test cannot wait
    for a break to last)."""
    async with ctx.store.transaction() as tx:
        for row in (await tx.conn.execute(select(presence_periods).where(
                presence_periods.c.user_id == user_id))).all():
            await tx.conn.execute(update(presence_periods).where(
                presence_periods.c.id == row.id).values(
                started_at=row.started_at - timedelta(minutes=minutes),
                ended_at=row.ended_at - timedelta(minutes=minutes) if row.ended_at else None))


async def test_an_agent_goes_away_for_a_reason_and_reports_add_up_the_time(client, ctx):
    agent_id, agent = await person(ctx, "leyla@example.gov.az", "agent",
                                   ["migration-registration"])
    _, boss = await person(ctx, "elvin@example.gov.az", "supervisor", [])
    status, me = await set_presence(client, agent, presence="online")
    assert status == 200 and (me["presence"], me["presence_reason"]) == ("online", None)
    await move_periods_back(ctx, agent_id, 30)
    status, me = await set_presence(client, agent, presence="away", reason="break")
    assert status == 200 and (me["presence"], me["presence_reason"]) == ("away", "break")
    assert me["presence_since"] is not None
    await move_periods_back(ctx, agent_id, 15)
    status, _ = await set_presence(client, agent, presence="away", reason="training")
    assert status == 200
    await move_periods_back(ctx, agent_id, 5)
    # Asking for the same state again is a heartbeat, not a new period.
    await set_presence(client, agent, presence="away", reason="training")
    async with ctx.store.read() as tx:
        rows = (await tx.conn.execute(select(presence_periods).where(
            presence_periods.c.user_id == agent_id))).all()
    assert [(r.presence, r.reason, r.ended_at is None) for r in rows] == [
        ("online", None, False), ("away", "break", False), ("away", "training", True)]

    response = await client.get("/api/v1/reports/presence", headers=boss)
    assert response.status == 200
    seconds = {(r["presence"], r["reason"]): r["seconds"] for r in await response.json()
               if r["agent_id"] == agent_id}
    assert seconds.keys() == {("online", None), ("away", "break"), ("away", "training")}
    assert 30 * 60 - 5 <= seconds[("online", None)] <= 30 * 60 + 5
    assert 15 * 60 - 5 <= seconds[("away", "break")] <= 15 * 60 + 5
    assert 5 * 60 - 5 <= seconds[("away", "training")] <= 5 * 60 + 5
    csv = await (await client.get("/api/v1/reports/presence?format=csv", headers=boss)).text()
    assert csv.splitlines()[0] == "agent_id,agent,presence,reason,seconds"

    board = await (await client.get("/api/v1/wallboard", headers=boss)).json()
    shown = next(a for a in board["agents"] if a["id"] == agent_id)
    assert (shown["presence"], shown["presence_reason"]) == ("away", "training")
    today = shown["today"]
    assert today["seconds"]["away"] >= 20 * 60 - 10
    assert set(today["away_by_reason"]) == {"break", "training"}


@pytest.mark.parametrize("body, error, code", [
    ({"presence": "away", "reason": "smoking"},
     "reason must be one of break, training, after-call-work", "unknown_away_reason"),
    ({"presence": "online", "reason": "break"},
     "only an agent who is away gives a reason, not one online", "reason_only_when_away"),
    ({"presence": "away", "reason": 5}, "reason must be one of break, training, "
                                        "after-call-work", "unknown_away_reason"),
    ({"presence": "lunch"}, "presence must be one of online, away, offline", "bad_request"),
])
async def test_a_bad_presence_is_a_400_and_changes_nothing(client, ctx, body, error, code):
    agent_id, agent = await person(ctx, "rauf@example.gov.az", "agent", ["call-centre-142"])
    await set_presence(client, agent, presence="online")
    status, answer = await set_presence(client, agent, **body)
    assert (status, answer) == (400, {"error": error, "code": code})
    async with ctx.store.read() as tx:
        user = (await tx.conn.execute(select(users).where(users.c.id == agent_id))).one()
        periods = (await tx.conn.execute(select(presence_periods).where(
            presence_periods.c.user_id == agent_id))).all()
    assert (user.presence, user.presence_reason) == ("online", None) and len(periods) == 1


async def test_a_reason_must_be_configured_and_given_only_when_away(ctx):
    agent_id, _ = await person(ctx, "aysel@example.gov.az", "agent", ["call-centre-142"])
    with pytest.raises(ValueError, match="unknown away reason 'smoking'"):
        await assignment.set_presence(ctx, agent_id, "away", "smoking")
    with pytest.raises(ValueError, match="'break' is not a reason to be online"):
        await assignment.set_presence(ctx, agent_id, "online", "break")


async def test_the_presence_report_is_for_supervisors(client, ctx):
    _, agent = await person(ctx, "rauf@example.gov.az", "agent", ["call-centre-142"])
    assert (await client.get("/api/v1/reports/presence", headers=agent)).status == 403
