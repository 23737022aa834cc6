"""Metric definitions on plain records: exact figures, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reports.metrics import (
    ConversationFacts,
    ConversationRecord,
    DailyVolume,
    EventRecord,
    conversation_facts,
    fold_volumes,
    percentile,
    period_start,
    rate,
    summarize,
)
from routing.sla import BusinessCalendar

BAKU = ZoneInfo("Asia/Baku")
CALENDAR = BusinessCalendar()  # weekdays 09:00-18:00 Asia/Baku, AZ holidays


def baku(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 10) -> datetime:
    """A moment in October 2025 (Mon 6th .. Fri 10th is an ordinary working week)."""
    return datetime(2025, month, day, hour, minute, second, tzinfo=BAKU)


def timeline(*steps: tuple[str, datetime, dict]) -> list[EventRecord]:
    return [EventRecord(id=i, type=t, created_at=at, data=data)
            for i, (t, at, data) in enumerate(steps, start=1)]


def facts_of(events: list[EventRecord], created: datetime | None = None,
             **conversation) -> ConversationFacts:
    record = ConversationRecord(id=7, channel=conversation.pop("channel", "whatsapp"),
                                created_at=created or events[0].created_at, **conversation)
    return conversation_facts(record, events, calendar=CALENDAR, messages_in=3, messages_out=2)


# Monday 08:00 Baku, an hour before opening: answered 10:30, resolved Tuesday 12:00.
ORDINARY = timeline(
    ("received", baku(6, 8), {"message_id": 1}),
    ("classified", baku(6, 8, 0, 5), {"category": "registration"}),
    ("routed", baku(6, 8, 0, 5), {"queue": "migration-registration"}),
    ("assigned", baku(6, 10), {"agent_id": 11}),
    ("replied", baku(6, 10, 30), {"message_id": 2, "first_response": True}),
    ("received", baku(6, 11), {"message_id": 3}),
    ("replied", baku(6, 11, 5), {"message_id": 4, "first_response": False}),
    ("resolved", baku(7, 12), {"from": "open", "to": "resolved"}),
)


def test_ordinary_conversation() -> None:
    facts = facts_of(ORDINARY)
    assert facts == ConversationFacts(
        conversation_id=7, created_at=baku(6, 8).astimezone(UTC), day=date(2025, 10, 6),
        channel="whatsapp", queue="migration-registration", category="registration",
        agent_id=11,
        first_response_s=9000,              # 08:00 -> 10:30
        first_response_business_s=5400,     # only 09:00 -> 10:30 is open time
        wait_s=7195,                        # routed 08:00:05 -> assigned 10:00
        handle_s=93600,                     # assigned Mon 10:00 -> resolved Tue 12:00
        resolution_s=100800,                # created Mon 08:00 -> resolved Tue 12:00
        resolution_business_s=43200,        # Mon 9h + Tue 3h
        resolved=True, reopened=False, breached=False,
        messages_in=3, messages_out=2, last_event_id=8)


def test_a_conversation_the_guided_intake_held_is_timed_from_the_intakes_end() -> None:
    # Monday: the resident writes at 10:00, the bot asks until 10:40, an agent takes it at
    # 11:00 and answers at 11:15. The bot's forty minutes are not the resident's wait.
    facts = facts_of(timeline(
        ("received", baku(6, 10), {"message_id": 1}),
        ("classified", baku(6, 10), {"category": "registration"}),
        ("routed", baku(6, 10), {"queue": "migration-registration"}),
        ("intake_started", baku(6, 10), {}),
        ("received", baku(6, 10, 20), {"message_id": 5}),
        ("intake_completed", baku(6, 10, 40), {}),
        ("assigned", baku(6, 11), {"agent_id": 11}),
        ("replied", baku(6, 11, 15), {"message_id": 9, "first_response": True}),
    ))
    assert (facts.first_response_s, facts.first_response_business_s, facts.wait_s) == \
        (35 * 60, 35 * 60, 20 * 60)
    handed_over = facts_of(timeline(
        ("received", baku(6, 10), {"message_id": 1}),
        ("routed", baku(6, 10), {"queue": "migration-registration"}),
        ("intake_handed_over", baku(6, 10, 5), {"reason": "the resident asked for an operator"}),
        ("replied", baku(6, 10, 6), {"message_id": 3, "first_response": True}),
    ))
    assert handed_over.first_response_s == 60


def test_business_time_skips_the_weekend() -> None:
    facts = facts_of(timeline(
        ("received", baku(10, 17), {}),
        ("replied", baku(13, 9, 30), {"first_response": True}),
    ))
    assert facts.first_response_s == 64 * 3600 + 1800
    assert facts.first_response_business_s == 3600 + 1800
    assert (facts.wait_s, facts.handle_s, facts.resolution_s) == (None, None, None)
    assert facts.agent_id is None and not facts.resolved


def test_day_is_the_baku_date() -> None:
    # 22:30 UTC on the 6th is 02:30 on the 7th in Baku.
    late = datetime(2025, 10, 6, 22, 30, tzinfo=UTC)
    assert facts_of(timeline(("received", late, {}))).day == date(2025, 10, 7)


def test_reopened_and_not_resolved_again_is_unresolved() -> None:
    facts = facts_of([*ORDINARY, EventRecord(id=9, type="reopened", created_at=baku(8, 9))])
    assert facts.reopened and not facts.resolved
    assert (facts.resolution_s, facts.handle_s, facts.resolution_business_s) == (None, None, None)
    assert facts.first_response_s == 9000


def test_resolution_counts_to_the_last_resolution() -> None:
    facts = facts_of([
        *ORDINARY,
        EventRecord(id=9, type="reopened", created_at=baku(8, 9)),
        EventRecord(id=10, type="resolved", created_at=baku(8, 10)),
    ])
    assert facts.resolved and facts.reopened
    assert facts.resolution_s == 50 * 3600               # Mon 08:00 -> Wed 10:00
    assert facts.resolution_business_s == 2 * 9 * 3600 + 3600
    assert facts.handle_s == 48 * 3600


def test_queue_category_and_agent_follow_the_last_change() -> None:
    facts = facts_of([
        *ORDINARY,
        EventRecord(id=9, type="transferred", created_at=baku(6, 12),
                    data={"from": "migration-registration", "to": "migration-support"}),
        EventRecord(id=10, type="reclassified", created_at=baku(6, 12),
                    data={"from": "registration", "to": "support"}),
        EventRecord(id=11, type="unassigned", created_at=baku(6, 12), data={"agent_id": 11}),
        EventRecord(id=12, type="assigned", created_at=baku(6, 13), data={"agent_id": 12}),
        EventRecord(id=13, type="sla_breached", created_at=baku(6, 14), data={}),
    ])
    assert (facts.queue, facts.category, facts.agent_id) == ("migration-support", "support", 12)
    assert facts.wait_s == 7195                          # the first assignment counts
    assert facts.breached and facts.last_event_id == 13


def test_without_events_the_conversation_row_decides() -> None:
    created = baku(6, 9)
    record = ConversationRecord(id=1, channel="sms", created_at=created, queue="triage",
                                category="inquiry")
    facts = conversation_facts(record, [], calendar=CALENDAR)
    assert (facts.queue, facts.category, facts.last_event_id) == ("triage", "inquiry", None)
    assert facts.first_response_s is None and not facts.resolved


def test_events_are_taken_in_time_order_and_naive_times_are_utc() -> None:
    created = datetime(2025, 10, 6, 5, 0)                # naive, as SQLite returns: UTC
    events = [
        EventRecord(id=5, type="replied", created_at=datetime(2025, 10, 6, 5, 10),
                    data={"first_response": True}),
        EventRecord(id=2, type="received", created_at=created),
        # A reply without the flag (e.g. written before it existed) is no first response.
        EventRecord(id=1, type="replied", created_at=datetime(2025, 10, 6, 5, 5), data={}),
    ]
    facts = facts_of(events, created=created)
    assert facts.created_at == datetime(2025, 10, 6, 5, 0, tzinfo=UTC)
    assert facts.first_response_s == 600
    assert facts.first_response_business_s == 600    # 09:00-09:10 Baku
    assert facts.last_event_id == 5


def test_durations_round_down_and_never_go_negative() -> None:
    start = baku(6, 10)
    facts = facts_of(timeline(
        ("received", start, {}),
        ("replied", start + timedelta(seconds=59, microseconds=999_999),
         {"first_response": True}),
        ("routed", start + timedelta(seconds=30), {"queue": "q"}),
        ("assigned", start + timedelta(seconds=30), {"agent_id": 1}),
        ("resolved", start - timedelta(seconds=5), {}),   # a skewed clock
    ))
    assert (facts.first_response_s, facts.wait_s) == (59, 0)
    assert facts.resolution_s == 0


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1, 2, 3, 4], 0.5, 2.5),
    ([1, 2, 3, 4], 0.9, 3.7),
    ([4, 1, 3, 2], 0.9, 3.7),
    ([10], 0.9, 10),
    ([0, 100], 0.25, 25),
    ([5, 5, 5], 0.5, 5),
    ([], 0.5, None),
])
def test_percentile_interpolates_like_percentile_cont(values, q, expected) -> None:
    assert percentile(values, q) == expected


def test_percentile_rejects_q_outside_0_1() -> None:
    with pytest.raises(ValueError, match="q must be within"):
        percentile([1], 1.5)


def test_rates() -> None:
    assert rate(1, 3) == 0.3333
    assert rate(0, 0) is None


def fact(cid: int, channel: str, first: int | None, resolution: int | None, *,
         reopened: bool = False, breached: bool = False,
         agent: int | None = 1) -> ConversationFacts:
    created = baku(6, 9) + timedelta(minutes=cid)
    return ConversationFacts(
        conversation_id=cid, created_at=created, day=created.date(), channel=channel,
        queue="call-centre-142", category="inquiry", agent_id=agent, first_response_s=first,
        first_response_business_s=first, wait_s=first and first // 2, handle_s=resolution,
        resolution_s=resolution, resolution_business_s=resolution,
        resolved=resolution is not None, reopened=reopened, breached=breached)


def test_summarize_by_channel() -> None:
    rows = summarize([
        fact(1, "sms", 60, 600),
        fact(2, "sms", 120, None, reopened=True),
        fact(3, "sms", 300, 900, breached=True),
        fact(4, "sms", None, None),
        fact(5, "voice", 30, 3000, agent=None),
    ], "channel")
    assert rows == [
        {"key": "sms", "conversations": 4, "answered": 3,
         "first_response_p50_s": 120, "first_response_p90_s": 264,
         "first_response_business_p50_s": 120, "first_response_business_p90_s": 264,
         "wait_p50_s": 60, "handle_p50_s": 750, "resolution_p50_s": 750,
         "resolution_p90_s": 870, "resolved": 2, "reopened": 1, "sla_breached": 1,
         "reopen_rate": 0.3333, "sla_breach_rate": 0.25},
        {"key": "voice", "conversations": 1, "answered": 1,
         "first_response_p50_s": 30, "first_response_p90_s": 30,
         "first_response_business_p50_s": 30, "first_response_business_p90_s": 30,
         "wait_p50_s": 15, "handle_p50_s": 3000, "resolution_p50_s": 3000,
         "resolution_p90_s": 3000, "resolved": 1, "reopened": 0, "sla_breached": 0,
         "reopen_rate": 0.0, "sla_breach_rate": 0.0},
    ]


def test_summarize_by_agent_puts_unassigned_last() -> None:
    rows = summarize([fact(1, "sms", 60, None, agent=None), fact(2, "sms", 60, None, agent=3)],
                     "agent")
    assert [r["key"] for r in rows] == [3, None]


def test_summarize_rejects_unknown_grouping() -> None:
    with pytest.raises(ValueError, match="group_by must be one of channel, queue, agent"):
        summarize([], "language")


def test_period_start() -> None:
    wednesday = date(2025, 10, 8)
    assert period_start(wednesday, "day") == wednesday
    assert period_start(wednesday, "week") == date(2025, 10, 6)
    assert period_start(wednesday, "month") == date(2025, 10, 1)
    with pytest.raises(ValueError, match="period must be one of day, week, month"):
        period_start(wednesday, "year")


def test_fold_volumes_into_weeks() -> None:
    daily = [
        DailyVolume(date(2025, 10, 5), "sms", 2, 4, 2, 1),     # Sunday: the week before
        DailyVolume(date(2025, 10, 6), "sms", 3, 6, 3, 3),
        DailyVolume(date(2025, 10, 12), "sms", 1, 1, 0, 0),
        DailyVolume(date(2025, 10, 6), "voice", 5, 5, 5, 5),
    ]
    assert fold_volumes(daily, "week", grouped=True) == [
        {"period": "2025-09-29", "key": "sms", "conversations": 2, "messages_in": 4,
         "messages_out": 2, "resolved": 1},
        {"period": "2025-10-06", "key": "sms", "conversations": 4, "messages_in": 7,
         "messages_out": 3, "resolved": 3},
        {"period": "2025-10-06", "key": "voice", "conversations": 5, "messages_in": 5,
         "messages_out": 5, "resolved": 5},
    ]
    assert fold_volumes(daily, "month", grouped=False) == [
        {"period": "2025-10-01", "conversations": 11, "messages_in": 16, "messages_out": 10,
         "resolved": 9},
    ]
