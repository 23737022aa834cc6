"""Report queries against the real database (SQLite and PostgreSQL): exact figures.

Conversations are written the way the inbox writes them (messages plus events through the
store's transaction), with times chosen so every percentile can be checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from inbox.storage import UnitOfWork
from reports.queries import summary, to_csv, totals, volumes
from reports.rollup import missing_facts, refresh_facts
from reports.schema import conversation_facts
from routing.sla import BusinessCalendar

BAKU = ZoneInfo("Asia/Baku")
CALENDAR = BusinessCalendar()
MONDAY = datetime(2025, 10, 6, 10, 0, tzinfo=BAKU)   # an ordinary working week
WEEK = (datetime(2025, 10, 6, tzinfo=BAKU), datetime(2025, 10, 13, tzinfo=BAKU))


@dataclass(frozen=True)
class Story:
    """One conversation's life, as offsets in seconds from its creation."""

    channel: str
    queue: str
    category: str
    created: datetime
    agent: str | None = None
    first_response: int | None = None
    resolved: int | None = None
    reopened_and_resolved_again: int | None = None   # the last resolution, after a reopening
    breached: bool = False
    transfer_to: tuple[str, str] | None = None      # (queue, category) after a correction


async def write(tx: UnitOfWork, story: Story, agents: dict[str, int], n: int) -> int:
    at = story.created.astimezone(UTC)

    def after(seconds: int) -> datetime:
        return at + timedelta(seconds=seconds)

    contact = await tx.contacts.create(name=f"Resident {n}", language="az")
    identity = await tx.contacts.create_identity(contact, story.channel, f"address-{n}", None)
    final_queue, final_category = story.transfer_to or (story.queue, story.category)
    cid = await tx.conversations.create(
        contact_id=contact, identity_id=identity, channel=story.channel, status="open",
        queue=final_queue, category=final_category, created_at=at, last_message_at=at)
    inbound = await tx.messages.insert(
        conversation_id=cid, channel=story.channel, direction="in", external_id=f"ext-{n}",
        body="Salam", author_kind="resident", created_at=at, delivery_status="received")
    await tx.events.add(cid, "received", {"message_id": inbound, "channel": story.channel}, at=at)
    await tx.events.add(cid, "classified", {"category": story.category}, at=after(1))
    await tx.events.add(cid, "routed", {"queue": story.queue, "reason": "rule"}, at=after(1))
    ack = await tx.messages.insert(
        conversation_id=cid, channel=story.channel, direction="out", body="Qəbul edildi",
        author_kind="system", created_at=after(1), delivery_status="sent")
    assert ack
    if story.transfer_to:
        queue, category = story.transfer_to
        await tx.events.add(cid, "reclassified", {"from": story.category, "to": category},
                           at=after(2))
        await tx.events.add(cid, "transferred", {"from": story.queue, "to": queue}, at=after(2))
    if story.agent:
        await tx.events.add(cid, "assigned", {"agent_id": agents[story.agent]}, at=after(10))
    if story.first_response is not None:
        reply = await tx.messages.insert(
            conversation_id=cid, channel=story.channel, direction="out", body="Cavab",
            author_kind="agent", created_at=after(story.first_response), delivery_status="sent")
        await tx.events.add(cid, "replied", {"message_id": reply, "first_response": True},
                           at=after(story.first_response))
        note = await tx.messages.insert(
            conversation_id=cid, channel=story.channel, direction="note", body="qeyd",
            author_kind="agent", created_at=after(story.first_response), delivery_status="received")
        await tx.events.add(cid, "noted", {"message_id": note}, at=after(story.first_response))
    if story.breached:
        await tx.events.add(cid, "sla_breached", {"clock": "first_response"}, at=after(1800))
    if story.resolved is not None:
        await tx.events.add(cid, "resolved", {"from": "open", "to": "resolved"},
                           at=after(story.resolved))
    if story.reopened_and_resolved_again is not None:
        await tx.events.add(cid, "reopened", {"from": "resolved", "to": "open"},
                           at=after(story.resolved + 60))
        await tx.events.add(cid, "resolved", {"from": "open", "to": "resolved"},
                           at=after(story.reopened_and_resolved_again))
    return cid


STORIES = (
    Story("sms", "call-centre-142", "inquiry", MONDAY, "aysel", 60, 3600),
    Story("sms", "call-centre-142", "inquiry", MONDAY + timedelta(hours=1), "aysel", 120, 1800,
          reopened_and_resolved_again=7200),
    Story("sms", "migration-registration", "registration", MONDAY + timedelta(hours=2), "rauf",
          300, breached=True),
    Story("whatsapp", "migration-registration", "registration", MONDAY + timedelta(days=1),
          "rauf", 600, 86400),
    Story("whatsapp", "call-centre-142", "inquiry", MONDAY + timedelta(days=1, hours=1)),
    Story("voice", "call-centre-142", "support", MONDAY + timedelta(days=2), "aysel", 30, 600),
    # Written at 08:00, before opening: answered 09:30, 1800 business seconds later.
    Story("webchat", "triage", "inquiry", datetime(2025, 10, 9, 8, 0, tzinfo=BAKU), "rauf",
          5400, transfer_to=("migration-support", "support")),
    # The week before: outside every report below.
    Story("sms", "call-centre-142", "inquiry", MONDAY - timedelta(days=7), "aysel", 10, 20),
)


@pytest.fixture
async def world(ctx) -> dict:
    async with ctx.store.transaction() as tx:
        agents = {name: await tx.users.save(f"{name}@example.gov.az", name=name.title(),
                                           role="agent", password_hash="x", queues=[],
                                           languages=["az"], capacity={})
                  for name in ("aysel", "rauf")}
        ids = [await write(tx, story, agents, n) for n, story in enumerate(STORIES)]
    return {"engine": ctx.store.engine, "agents": agents, "ids": ids}


async def week_summary(world: dict, group_by: str) -> dict:
    rows = await summary(world["engine"], start=WEEK[0], end=WEEK[1], group_by=group_by,
                         calendar=CALENDAR)
    return {row["key"]: row for row in rows}


def figures(row: dict) -> tuple:
    return (row["conversations"], row["first_response_p50_s"], row["first_response_p90_s"],
            row["resolution_p50_s"], row["sla_breached"])


async def test_summary_by_channel(world) -> None:
    assert await refresh_facts(world["engine"], world["ids"], calendar=CALENDAR) == 8
    rows = await summary(world["engine"], start=WEEK[0], end=WEEK[1], group_by="channel",
                         calendar=CALENDAR)
    assert rows[0] == {
        "key": "sms", "conversations": 3, "answered": 3,
        "first_response_p50_s": 120, "first_response_p90_s": 264,
        "first_response_business_p50_s": 120, "first_response_business_p90_s": 264,
        "wait_p50_s": 9, "handle_p50_s": 5390, "resolution_p50_s": 5400,
        "resolution_p90_s": 6840, "resolved": 2, "reopened": 1, "sla_breached": 1,
        "reopen_rate": 0.5, "sla_breach_rate": 0.3333}
    by_key = {row["key"]: row for row in rows}
    assert [row["key"] for row in rows] == ["sms", "whatsapp", "voice", "webchat"]
    assert figures(by_key["whatsapp"]) == (2, 600, 600, 86400, 0)
    assert figures(by_key["voice"]) == (1, 30, 30, 600, 0)
    webchat = by_key["webchat"]
    assert figures(webchat) == (1, 5400, 5400, None, 0)
    assert webchat["first_response_business_p50_s"] == 1800
    assert webchat["resolved"] == 0 and webchat["reopen_rate"] is None


async def test_summary_by_queue(world) -> None:
    await refresh_facts(world["engine"], world["ids"], calendar=CALENDAR)
    rows = await week_summary(world, "queue")
    assert {key: figures(row) for key, row in rows.items()} == {
        "call-centre-142": (4, 60, 108, 3600, 0),
        "migration-registration": (2, 450, 570, 86400, 1),
        "migration-support": (1, 5400, 5400, None, 0),   # transferred out of triage
    }


async def test_summary_by_agent(world) -> None:
    await refresh_facts(world["engine"], world["ids"], calendar=CALENDAR)
    rows = await week_summary(world, "agent")
    aysel, rauf = world["agents"]["aysel"], world["agents"]["rauf"]
    assert {key: figures(row) for key, row in rows.items()} == {
        aysel: (3, 60, 108, 3600, 0),
        rauf: (3, 600, 4440, 86400, 1),
        None: (1, None, None, None, 0),
    }
    assert rows[None]["answered"] == 0 and rows[None]["wait_p50_s"] is None


async def test_summary_by_category(world) -> None:
    await refresh_facts(world["engine"], world["ids"], calendar=CALENDAR)
    rows = await week_summary(world, "category")
    assert {key: figures(row) for key, row in rows.items()} == {
        "inquiry": (3, 90, 114, 5400, 0),
        "registration": (2, 450, 570, 86400, 1),
        "support": (2, 2715, 4863, 600, 0),               # one reclassified from inquiry
    }
    assert rows["support"]["first_response_business_p50_s"] == 915


async def test_summary_fills_missing_facts_when_given_the_calendar(world) -> None:
    engine = world["engine"]
    assert len(await missing_facts(engine, *WEEK)) == 7
    assert await summary(engine, start=WEEK[0], end=WEEK[1], group_by="channel") == []
    rows = await week_summary(world, "channel")
    assert rows["sms"]["conversations"] == 3
    assert await missing_facts(engine, *WEEK) == []


async def test_refresh_is_idempotent_and_follows_new_events(ctx, world) -> None:
    engine, ids = world["engine"], world["ids"]
    await refresh_facts(engine, ids, calendar=CALENDAR)
    await refresh_facts(engine, ids, calendar=CALENDAR)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(conversation_facts)))
        assert count.scalar_one() == 8
    breached_sms = ids[2]
    async with ctx.store.transaction() as tx:
        await tx.events.add(breached_sms, "resolved", {"from": "open", "to": "resolved"},
                           at=datetime(2025, 10, 6, 9, 0, tzinfo=UTC))  # 13:00 Baku
    rows = await week_summary(world, "channel")
    assert rows["sms"]["resolved"] == 2                  # not refreshed yet
    since = datetime(2025, 1, 1, tzinfo=UTC)
    assert await refresh_facts(engine, since=since, calendar=CALENDAR) == 8
    rows = await week_summary(world, "channel")
    # Resolutions now 3600, 7200 and 3600 (12:00 -> 13:00).
    assert (rows["sms"]["resolved"], rows["sms"]["resolution_p50_s"]) == (3, 3600)


async def test_volumes_per_day_and_week(world) -> None:
    engine = world["engine"]
    daily = await volumes(engine, start=WEEK[0], end=WEEK[1], period="day", calendar=CALENDAR)
    assert daily == [
        {"period": "2025-10-06", "conversations": 3, "messages_in": 3, "messages_out": 6,
         "resolved": 2},
        {"period": "2025-10-07", "conversations": 2, "messages_in": 2, "messages_out": 3,
         "resolved": 1},
        {"period": "2025-10-08", "conversations": 1, "messages_in": 1, "messages_out": 2,
         "resolved": 1},
        {"period": "2025-10-09", "conversations": 1, "messages_in": 1, "messages_out": 2,
         "resolved": 0},
    ]
    start = datetime(2025, 9, 29, tzinfo=BAKU)
    weekly = await volumes(engine, start=start, end=WEEK[1], period="week", group_by="channel",
                           calendar=CALENDAR)
    assert [(row["period"], row["key"], row["conversations"]) for row in weekly] == [
        ("2025-09-29", "sms", 1),
        ("2025-10-06", "sms", 3), ("2025-10-06", "voice", 1), ("2025-10-06", "webchat", 1),
        ("2025-10-06", "whatsapp", 2),
    ]
    with pytest.raises(ValueError, match="period must be one of day, week, month"):
        await volumes(engine, start=WEEK[0], end=WEEK[1], period="year")


async def test_ministry_totals(world) -> None:
    result = await totals(world["engine"], *WEEK, calendar=CALENDAR)
    assert result == {
        "start": "2025-10-05T20:00:00+00:00", "end": "2025-10-12T20:00:00+00:00",
        "conversations": 7, "registration_requests": 2, "support_requests": 2,
        "inquiries": 3, "resolved": 4, "messages_in": 7, "messages_out": 13,
        "by_channel": {"sms": 3, "voice": 1, "webchat": 1, "whatsapp": 2},
        "by_category": {"inquiry": 3, "registration": 2, "support": 2},
        "by_queue": {"call-centre-142": 4, "migration-registration": 2,
                     "migration-support": 1},
    }


async def test_bad_arguments(world) -> None:
    engine = world["engine"]
    with pytest.raises(ValueError, match="group_by must be one of channel, queue, agent, "
                                         "category, got 'language'"):
        await summary(engine, start=WEEK[0], end=WEEK[1], group_by="language")
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        await summary(engine, start=datetime(2025, 10, 6), end=WEEK[1], group_by="queue")
    with pytest.raises(ValueError, match="must be before end"):
        await summary(engine, start=WEEK[1], end=WEEK[0], group_by="queue")
    with pytest.raises(ValueError, match="pass either conversation_ids or since"):
        await refresh_facts(engine)


def test_to_csv() -> None:
    rows = [{"key": "sms", "conversations": 3, "first_response_p50_s": 120.5},
            {"key": None, "conversations": 1, "first_response_p50_s": None, "label": "a,b"}]
    assert to_csv(rows) == (
        "key,conversations,first_response_p50_s,label\r\n"
        "sms,3,120.5,\r\n"
        ",1,,\"a,b\"\r\n")
    assert to_csv([]) == "\r\n"
