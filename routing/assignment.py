"""Agent assignment: who takes a waiting conversation, and what an agent takes next.

Pure decisions over plain data. The inbox loads agents and waiting conversations,
asks here, and applies the answer with the store's atomic claim, which is what
keeps two app instances from assigning the same conversation or overfilling an
agent; a decision here may therefore lose that race and simply be asked again.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Presence = Literal["online", "away", "offline"]
Strategy = Literal["round_robin", "least_busy", "manual"]
CapacityKind = Literal["chat", "email"]

# Capacity is counted per kind of work: an agent can hold a few live chats (phone, SMS and
# messengers all need a quick answer) but many more e-mails. Each channel declares its kind.
CAPACITY_KINDS: tuple[CapacityKind, ...] = ("chat", "email")
# What an agent holds at once when their account sets no capacity of their own.
DEFAULT_CAPACITY: Mapping[CapacityKind, int] = {"chat": 3, "email": 10}


@dataclass(frozen=True)
class AgentState:
    id: str
    queues: frozenset[str]
    languages: frozenset[str]
    presence: Presence
    capacity: Mapping[str, int]  # per channel kind, e.g. {"chat": 3, "email": 10}
    load: Mapping[str, int]  # open conversations assigned now, per channel kind
    last_assigned_at: float | None  # epoch seconds; None = never assigned

    def has_room(self, kind: str) -> bool:
        return self.load.get(kind, 0) < self.capacity.get(kind, 0)


@dataclass(frozen=True)
class QueuePolicy:
    id: str
    strategy: Strategy
    # The languages the queue is staffed for, most common first: when no
    # eligible agent speaks the resident's language, agents speaking these,
    # in this order, are the next best choice.
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaitingConversation:
    id: str
    queue: str
    kind: CapacityKind  # the kind of work its channel is
    language: str
    priority: int  # higher is served first
    waiting_since: float  # epoch seconds
    preferred_agent: str | None  # who handled this resident last


@dataclass(frozen=True)
class AssignDecision:
    agent_id: str
    reason: str
    # The reason's facts for a console to word in its agent's language (stored in the
    # `assigned` event): {"preferred": true} or {"strategy": "round_robin", "idle": "never"|
    # "longest"} or {"strategy": "least_busy", "kind", "load", "capacity"}, and "language":
    # {"wanted", "fallback": a language, "any" or null when an agent speaks the wanted one}.
    why: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AssignedConversation:
    id: str
    answered: bool


def _never_assigned_first(agent: AgentState) -> tuple[bool, float]:
    return (agent.last_assigned_at is not None, agent.last_assigned_at or 0.0)


Note = tuple[str, dict[str, Any]]   # the English text and its facts


def _round_robin(pool: Sequence[AgentState], kind: str) -> tuple[AgentState, Note]:
    agent = min(pool, key=lambda a: (*_never_assigned_first(a), a.id))
    never = agent.last_assigned_at is None
    idle = "never assigned" if never else "assigned longest ago"
    return agent, (f"round_robin: {idle}",
                   {"strategy": "round_robin", "idle": "never" if never else "longest"})


def _least_busy(pool: Sequence[AgentState], kind: str) -> tuple[AgentState, Note]:
    # Candidates all have room, so capacity[kind] > 0 and the ratio is defined.
    agent = min(
        pool,
        key=lambda a: (a.load.get(kind, 0) / a.capacity[kind], *_never_assigned_first(a), a.id),
    )
    load, capacity = agent.load.get(kind, 0), agent.capacity[kind]
    return agent, (f"least_busy: {kind} load {load}/{capacity}",
                   {"strategy": "least_busy", "kind": kind, "load": load, "capacity": capacity})


_STRATEGIES: Mapping[str, Callable[[Sequence[AgentState], str], tuple[AgentState, Note]]] = {
    "round_robin": _round_robin,
    "least_busy": _least_busy,
}


def _language_pool(
    eligible: Sequence[AgentState], language: str, fallbacks: Iterable[str]
) -> tuple[Sequence[AgentState], Note]:
    speakers = [a for a in eligible if language in a.languages]
    if speakers:
        return speakers, (f"speaks {language}", {"wanted": language, "fallback": None})
    for fallback in fallbacks:
        speakers = [a for a in eligible if fallback in a.languages]
        if speakers:
            return speakers, (f"no eligible agent speaks {language}, fell back to {fallback}",
                              {"wanted": language, "fallback": fallback})
    return eligible, (f"no eligible agent speaks {language}, fell back to any",
                      {"wanted": language, "fallback": "any"})


def choose_agent(
    conv: WaitingConversation, policy: QueuePolicy, agents: Sequence[AgentState]
) -> AssignDecision | None:
    """The agent to push `conv` to, or None (manual queue, or nobody free). O(agents)."""
    if policy.strategy == "manual":
        return None
    kind = conv.kind
    eligible = [
        a for a in agents if a.presence == "online" and conv.queue in a.queues and a.has_room(kind)
    ]
    if not eligible:
        return None
    pool, (language_note, language_why) = _language_pool(eligible, conv.language,
                                                         policy.languages)
    # Continuity matters to a resident, but not more than being understood:
    # the preferred agent must be in the language pool too.
    for agent in pool:
        if agent.id == conv.preferred_agent:
            return AssignDecision(
                agent.id, f"preferred agent (handled this resident last); {language_note}",
                {"preferred": True, "language": language_why})
    agent, (strategy_note, strategy_why) = _STRATEGIES[policy.strategy](pool, kind)
    return AssignDecision(agent.id, f"{strategy_note}; {language_note}",
                          {**strategy_why, "language": language_why})


_Order = tuple[int, float, str]  # (-priority, waiting_since, id): ascending = served first


def _order(conv: WaitingConversation) -> _Order:
    return (-conv.priority, conv.waiting_since, conv.id)


class WaitingIndex:
    """Waiting conversations bucketed by (queue, channel kind, language), each bucket kept sorted.

    The head of each bucket is the one to serve first, so `next_for_agent` looks
    at a handful of bucket heads instead of sorting every waiting conversation.
    Adding or removing one conversation is a bisect into one bucket.
    """

    __slots__ = ("_buckets", "_by_id")

    def __init__(self, conversations: Iterable[WaitingConversation] = ()) -> None:
        self._by_id: dict[str, WaitingConversation] = {}
        self._buckets: dict[tuple[str, str], dict[str, list[_Order]]] = {}
        for conv in conversations:
            self.add(conv)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._by_id

    def add(self, conv: WaitingConversation) -> None:
        """Adds or replaces (same id) a waiting conversation."""
        self.discard(conv.id)
        self._by_id[conv.id] = conv
        by_language = self._buckets.setdefault((conv.queue, conv.kind), {})
        bisect.insort(by_language.setdefault(conv.language, []), _order(conv))

    def discard(self, conversation_id: str) -> WaitingConversation | None:
        """Removes a conversation (assigned, resolved, moved); None if it was not waiting."""
        conv = self._by_id.pop(conversation_id, None)
        if conv is None:
            return None
        key = (conv.queue, conv.kind)
        by_language = self._buckets[key]
        bucket = by_language[conv.language]
        del bucket[bisect.bisect_left(bucket, _order(conv))]
        if not bucket:
            del by_language[conv.language]
            if not by_language:
                del self._buckets[key]
        return conv

    def first(
        self, queues: Iterable[str], kinds: Iterable[str], languages: Iterable[str] | None
    ) -> WaitingConversation | None:
        """The first to serve among the given queues and kinds; languages None = any."""
        best: _Order | None = None
        for queue in queues:
            for kind in kinds:
                by_language = self._buckets.get((queue, kind))
                if not by_language:
                    continue
                heads = (
                    by_language.values()
                    if languages is None
                    else (by_language[lang] for lang in languages if lang in by_language)
                )
                for bucket in heads:
                    if best is None or bucket[0] < best:
                        best = bucket[0]
        return None if best is None else self._by_id[best[2]]


def next_for_agent(
    agent: AgentState,
    waiting: WaitingIndex | Sequence[WaitingConversation],
    policies: Mapping[str, QueuePolicy],
    *,
    pulled: bool = True,
) -> WaitingConversation | None:
    """What the agent takes next: highest priority, then oldest, in a language they speak if any.

    `pulled` is True for `POST /queue/next`, where manual queues count (that is
    the pull). An automatic trigger (capacity freed, agent came online) passes
    False: manual queues wait for the agent to ask, as `choose_agent` never
    pushes from them either. Queues without a policy (gone from config) are skipped,
    and an agent who is not online gets nothing (the console sets presence first).
    Pass a WaitingIndex kept up to date; a plain sequence is indexed on every call.
    """
    if agent.presence != "online":
        return None
    index = waiting if isinstance(waiting, WaitingIndex) else WaitingIndex(waiting)
    queues = [
        q for q in agent.queues if q in policies and (pulled or policies[q].strategy != "manual")
    ]
    kinds = [kind for kind in CAPACITY_KINDS if agent.has_room(kind)]
    if not queues or not kinds:
        return None
    return index.first(queues, kinds, agent.languages) or index.first(queues, kinds, None)


def offer_expired(
    assigned_at: float, opened_or_answered: bool, now: float, offer_timeout_s: float
) -> bool:
    """True when an assignment the agent never opened should go back to the queue."""
    return not opened_or_answered and now - assigned_at >= offer_timeout_s


def returns_on_message(assignee_presence: Presence | None) -> bool:
    """True when a resident's new message should take the conversation back from its agent:
    they are away or offline. The answered conversations an agent keeps on leaving
    (`handback`) would otherwise wait, unseen, until the agent is back."""
    return assignee_presence is not None and assignee_presence != "online"


def handback(presence: Presence, assigned: Iterable[AssignedConversation]) -> tuple[str, ...]:
    """Ids to return to their queues after an agent's presence changed to `presence`.

    Away or offline agents keep the conversations they already answered (the
    resident has a person on it who will be back) and give up the unanswered
    ones, which would otherwise wait on nobody.
    """
    if presence == "online":
        return ()
    return tuple(conv.id for conv in assigned if not conv.answered)
