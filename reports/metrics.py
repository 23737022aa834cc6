"""Metric definitions: plain functions over plain event and conversation records.

Everything a report shows is defined here once, in words and in code; the SQL in
`reports.queries` only aggregates the per-conversation facts these functions produce, so a
figure on a dashboard can be re-derived from a conversation's events by hand.

Per conversation (`conversation_facts`), all durations in whole seconds, rounded down, never
negative; "business" variants count only open hours of the `BusinessCalendar` (weekdays
09:00-18:00 Asia/Baku minus public holidays). Events are taken in time order (ties in id
order); "first"/"last" below mean the earliest/latest such event.

- **first response time**: the first `replied` event whose data has `first_response: true`,
  minus the first `received` event (the conversation's `created_at` if it has none). None
  while unanswered. Automatic acknowledgements are not replies and do not count.
- **wait time**: the first `assigned` event at or after the first `routed` event, minus that
  `routed` event: how long the conversation waited in a queue for its first agent. None when
  never routed or never assigned.
- A conversation the guided intake held (`intake_completed` or `intake_handed_over`, the
  last of them) entered its queue when the intake ended: both clocks above start there, as
  its SLA clock did; the bot's questions are not time the resident waited for an agent.
- **handle time**: the last `resolved` event minus the first `assigned` event; only for a
  resolved conversation that was assigned.
- **resolution time**: the last `resolved` event minus the conversation's `created_at`; only
  for a conversation that is resolved, i.e. has a `resolved` event later than its last
  `reopened` event (a reopened conversation is unresolved until resolved again).
- **resolved**: as just said; **reopened**: has at least one `reopened` event;
  **breached**: has at least one `sla_breached` event.
- **queue**: the last `routed` (data `queue`) or `transferred` (data `to`) event's queue,
  else the conversation's `queue`. **category**: the last `classified` (data `category`) or
  `reclassified` (data `to`), else the conversation's `category`. **agent**: the `agent_id`
  of the last `assigned` event (the agent who held it last), None if never assigned.
- **day**: the date of `created_at` in the calendar's time zone (Asia/Baku): a report for a
  period covers the conversations created in it.
- **messages in / out**: the conversation's inbound messages and outbound messages (agent
  replies and automatic ones; internal notes excluded).

Over a group of conversations (`summarize`):

- **p50 / p90** of a duration: the continuous percentile (linear interpolation between
  the two nearest ranks, PostgreSQL's `percentile_cont`, numpy's default) over the
  conversations that have that duration; None when none has. Rounded to 0.01 s.
- **reopen rate**: reopened conversations / conversations ever resolved (resolved now, or
  reopened, which implies an earlier resolution).
- **SLA breach rate**: breached conversations / conversations.
- **volumes**: conversations created per Asia/Baku day, ISO week (from Monday) or calendar
  month, with their messages in and out and how many are resolved; a conversation's
  messages count in the period the conversation was created.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from inbox.events import EventType
from routing.sla import BusinessCalendar

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")

# group_by name -> the facts attribute (and column) it groups on.
GROUP_COLUMNS: Mapping[str, str] = {
    "channel": "channel",
    "queue": "queue",
    "agent": "agent_id",
    "category": "category",
}

PERCENTILE_DIGITS = 2
RATE_DIGITS = 4


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; SQLite hands back naive ones, and everything stored is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class EventRecord:
    id: int
    type: str
    created_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    actor_id: int | None = None


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    channel: str
    created_at: datetime
    queue: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ConversationFacts:
    conversation_id: int
    created_at: datetime
    day: date
    channel: str
    queue: str | None
    category: str | None
    agent_id: int | None
    first_response_s: int | None
    first_response_business_s: int | None
    wait_s: int | None
    handle_s: int | None
    resolution_s: int | None
    resolution_business_s: int | None
    resolved: bool
    reopened: bool
    breached: bool
    messages_in: int = 0
    messages_out: int = 0
    last_event_id: int | None = None


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, math.floor((end - start).total_seconds()))


def _first(events: Sequence[EventRecord], *types: EventType,
           where: Callable[[EventRecord], bool] = lambda _e: True) -> EventRecord | None:
    return next((e for e in events if e.type in types and where(e)), None)


def _last(events: Sequence[EventRecord], *types: EventType) -> EventRecord | None:
    return next((e for e in reversed(events) if e.type in types), None)


def conversation_facts(conversation: ConversationRecord, events: Iterable[EventRecord], *,
                       calendar: BusinessCalendar, messages_in: int = 0,
                       messages_out: int = 0) -> ConversationFacts:
    """The facts of one conversation from its events (see the module's definitions)."""
    timeline = sorted((EventRecord(e.id, e.type, as_utc(e.created_at), e.data, e.actor_id)
                       for e in events), key=lambda e: (e.created_at, e.id))
    created = as_utc(conversation.created_at)

    received = _first(timeline, EventType.RECEIVED)
    started = received.created_at if received is not None else created
    held_until = _last(timeline, EventType.INTAKE_COMPLETED, EventType.INTAKE_HANDED_OVER)
    if held_until is not None:
        started = held_until.created_at
    answer = _first(timeline, EventType.REPLIED,
                    where=lambda e: e.data.get("first_response") is True)
    routed = _first(timeline, EventType.ROUTED)
    first_assigned = _first(timeline, EventType.ASSIGNED)
    assigned_from_queue = None
    queued = held_until or routed
    if routed is not None:
        assigned_from_queue = _first(timeline, EventType.ASSIGNED,
                                     where=lambda e: e.created_at >= queued.created_at)

    last_resolved = _last(timeline, EventType.RESOLVED)
    last_reopened = _last(timeline, EventType.REOPENED)
    resolved = last_resolved is not None and (
        last_reopened is None
        or (last_resolved.created_at, last_resolved.id)
        > (last_reopened.created_at, last_reopened.id))
    resolved_at = last_resolved.created_at if resolved and last_resolved else None

    placed = _last(timeline, EventType.ROUTED, EventType.TRANSFERRED)
    queue = conversation.queue
    if placed is not None:
        queue = placed.data.get("queue" if placed.type == EventType.ROUTED else "to", queue)
    classified = _last(timeline, EventType.CLASSIFIED, EventType.RECLASSIFIED)
    category = conversation.category
    if classified is not None:
        category = classified.data.get(
            "category" if classified.type == EventType.CLASSIFIED else "to", category)
    last_assigned = _last(timeline, EventType.ASSIGNED)

    return ConversationFacts(
        conversation_id=conversation.id,
        created_at=created,
        day=created.astimezone(ZoneInfo(calendar.tz)).date(),
        channel=conversation.channel,
        queue=queue,
        category=category,
        agent_id=last_assigned.data.get("agent_id") if last_assigned is not None else None,
        first_response_s=_seconds(started, answer.created_at) if answer else None,
        first_response_business_s=(calendar.business_seconds_between(started, answer.created_at)
                                   if answer else None),
        wait_s=(_seconds(queued.created_at, assigned_from_queue.created_at)
                if routed is not None and assigned_from_queue is not None else None),
        handle_s=(_seconds(first_assigned.created_at, resolved_at)
                  if resolved_at is not None and first_assigned is not None else None),
        resolution_s=_seconds(created, resolved_at) if resolved_at is not None else None,
        resolution_business_s=(calendar.business_seconds_between(created, resolved_at)
                               if resolved_at is not None else None),
        resolved=resolved,
        reopened=last_reopened is not None,
        breached=_first(timeline, EventType.SLA_BREACHED) is not None,
        messages_in=messages_in,
        messages_out=messages_out,
        last_event_id=max((e.id for e in timeline), default=None),
    )


def percentile(values: Iterable[float], q: float) -> float | None:
    """The continuous q-percentile (0 <= q <= 1) by linear interpolation; None if no values.

    The same arithmetic as PostgreSQL's percentile_cont, so both databases agree exactly.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within [0, 1], got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    low, high = ordered[lower], ordered[upper]
    return round(low + (high - low) * (position - lower), PERCENTILE_DIGITS)


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


def group_column(group_by: str) -> str:
    """The facts column behind a group_by name; ValueError for an unknown one."""
    try:
        return GROUP_COLUMNS[group_by]
    except KeyError:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_COLUMNS)}, "
                         f"got {group_by!r}") from None


def summary_row(key: Any, facts: Sequence[ConversationFacts]) -> dict[str, Any]:
    """One summary row over a group of conversations' facts."""
    def durations(name: str) -> list[int]:
        return [v for f in facts if (v := getattr(f, name)) is not None]

    first_response = durations("first_response_s")
    business = durations("first_response_business_s")
    resolution = durations("resolution_s")
    resolved = sum(f.resolved for f in facts)
    reopened = sum(f.reopened for f in facts)
    breached = sum(f.breached for f in facts)
    return finish_row({
        "key": key,
        "conversations": len(facts),
        "answered": len(first_response),
        "first_response_p50_s": percentile(first_response, 0.5),
        "first_response_p90_s": percentile(first_response, 0.9),
        "first_response_business_p50_s": percentile(business, 0.5),
        "first_response_business_p90_s": percentile(business, 0.9),
        "wait_p50_s": percentile(durations("wait_s"), 0.5),
        "handle_p50_s": percentile(durations("handle_s"), 0.5),
        "resolution_p50_s": percentile(resolution, 0.5),
        "resolution_p90_s": percentile(resolution, 0.9),
        "resolved": resolved,
        "reopened": reopened,
        "ever_resolved": sum(f.resolved or f.reopened for f in facts),
        "sla_breached": breached,
    })


def finish_row(row: dict[str, Any]) -> dict[str, Any]:
    """Add the rates to a row of counts (shared by the pure and the SQL paths)."""
    ever_resolved = row.pop("ever_resolved")
    row["reopen_rate"] = rate(row["reopened"], ever_resolved)
    row["sla_breach_rate"] = rate(row["sla_breached"], row["conversations"])
    return row


def order_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Busiest group first; ties by key, the no-key group (e.g. unassigned) last."""
    return sorted(rows, key=lambda r: (-r["conversations"], r["key"] is None, str(r["key"])))


def summarize(facts: Iterable[ConversationFacts], group_by: str) -> list[dict[str, Any]]:
    """Summary rows of `facts` grouped by channel, queue, agent or category."""
    column = group_column(group_by)
    groups: dict[Any, list[ConversationFacts]] = {}
    for fact in facts:
        groups.setdefault(getattr(fact, column), []).append(fact)
    return order_rows(summary_row(key, group) for key, group in groups.items())


# Grouping by tag: a conversation counts under each of its tags (and untagged ones under
# none), so a tag report's rows may add up to more conversations than there are.
TAG = "tag"


def summarize_by_tag(tagged: Iterable[tuple[ConversationFacts, Sequence[str]]]
                     ) -> list[dict[str, Any]]:
    """Summary rows of each conversation's facts under every tag it carries."""
    groups: dict[str | None, list[ConversationFacts]] = {}
    for fact, tags in tagged:
        for tag in dict.fromkeys(tags or (None,)):
            groups.setdefault(tag, []).append(fact)
    return order_rows(summary_row(key, group) for key, group in groups.items())


def period_start(day: date, period: Period) -> date:
    """The first day of the day/ISO week/month that `day` falls in."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


@dataclass(frozen=True)
class DailyVolume:
    """Counts of the conversations created on one day (in one group)."""

    day: date
    key: Any
    conversations: int
    messages_in: int
    messages_out: int
    resolved: int


def fold_volumes(daily: Iterable[DailyVolume], period: Period,
                 grouped: bool) -> list[dict[str, Any]]:
    """Per-day counts summed into periods, oldest period first."""
    totals: dict[tuple[date, Any], dict[str, Any]] = {}
    for volume in daily:
        start = period_start(volume.day, period)
        key = volume.key if grouped else None
        row = totals.setdefault((start, key), {
            "period": start.isoformat(), **({"key": key} if grouped else {}),
            "conversations": 0, "messages_in": 0, "messages_out": 0, "resolved": 0})
        for name in ("conversations", "messages_in", "messages_out", "resolved"):
            row[name] += getattr(volume, name)
    return [totals[k] for k in sorted(totals, key=lambda k: (k[0], k[1] is None, str(k[1])))]
