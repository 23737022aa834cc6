import random

from routing.assignment import (
    AgentState,
    AssignDecision,
    AssignedConversation,
    QueuePolicy,
    WaitingConversation,
    WaitingIndex,
    choose_agent,
    handback,
    next_for_agent,
    offer_expired,
    returns_on_message,
)

ROUND_ROBIN = QueuePolicy("migration", "round_robin", ("az", "ru"))
LEAST_BUSY = QueuePolicy("migration", "least_busy", ("az", "ru"))
MANUAL = QueuePolicy("dost-baku-1", "manual", ("az",))
POLICIES = {"migration": ROUND_ROBIN, "dost-baku-1": MANUAL}


def agent(
    agent_id: str,
    *,
    queues: tuple[str, ...] = ("migration",),
    languages: tuple[str, ...] = ("az",),
    presence: str = "online",
    chat: tuple[int, int] = (0, 3),
    email: tuple[int, int] = (0, 10),
    last_assigned_at: float | None = 100.0,
) -> AgentState:
    return AgentState(
        id=agent_id,
        queues=frozenset(queues),
        languages=frozenset(languages),
        presence=presence,
        capacity={"chat": chat[1], "email": email[1]},
        load={"chat": chat[0], "email": email[0]},
        last_assigned_at=last_assigned_at,
    )


def conversation(
    conv_id: str = "c1",
    *,
    queue: str = "migration",
    kind: str = "chat",
    language: str = "az",
    priority: int = 0,
    waiting_since: float = 1000.0,
    preferred_agent: str | None = None,
) -> WaitingConversation:
    return WaitingConversation(
        conv_id, queue, kind, language, priority, waiting_since, preferred_agent
    )


def test_round_robin_picks_the_agent_assigned_longest_ago():
    agents = [agent("a1", last_assigned_at=300.0), agent("a2", last_assigned_at=200.0)]
    assert choose_agent(conversation(), ROUND_ROBIN, agents) == AssignDecision(
        "a2", "round_robin: assigned longest ago; speaks az"
    )


def test_round_robin_prefers_an_agent_never_assigned():
    agents = [agent("a1", last_assigned_at=1.0), agent("a2", last_assigned_at=None)]
    assert choose_agent(conversation(), ROUND_ROBIN, agents) == AssignDecision(
        "a2", "round_robin: never assigned; speaks az"
    )


def test_only_online_agents_of_the_queue_with_room_for_the_channel_kind():
    agents = [
        agent("away", presence="away", last_assigned_at=None),
        agent("offline", presence="offline", last_assigned_at=None),
        agent("other-queue", queues=("dost-baku-1",), last_assigned_at=None),
        agent("chats-full", chat=(3, 3), last_assigned_at=None),
        agent("free", last_assigned_at=500.0),
    ]
    assert choose_agent(conversation(), ROUND_ROBIN, agents).agent_id == "free"
    # An e-mail counts against the e-mail capacity, which chats-full still has.
    assert choose_agent(conversation(kind="email"), ROUND_ROBIN, agents).agent_id == "chats-full"


def test_nobody_eligible_gives_none():
    agents = [agent("a1", chat=(3, 3)), agent("a2", presence="away")]
    assert choose_agent(conversation(), ROUND_ROBIN, agents) is None


def test_manual_queue_never_pushes():
    assert choose_agent(conversation(queue="dost-baku-1"), MANUAL, [agent("a1")]) is None


def test_language_speakers_come_first():
    agents = [
        agent("az-only", languages=("az",), last_assigned_at=None),
        agent("ru", languages=("az", "ru"), last_assigned_at=900.0),
    ]
    assert choose_agent(conversation(language="ru"), ROUND_ROBIN, agents) == AssignDecision(
        "ru", "round_robin: assigned longest ago; speaks ru"
    )


def test_language_falls_back_to_the_queue_languages_in_order_then_anyone():
    agents = [
        agent("ru", languages=("ru",), last_assigned_at=None),
        agent("az", languages=("az",), last_assigned_at=900.0),
    ]
    decision = choose_agent(conversation(language="en"), ROUND_ROBIN, agents)
    assert decision == AssignDecision(
        "az", "round_robin: assigned longest ago; no eligible agent speaks en, fell back to az"
    )
    only_ru = QueuePolicy("migration", "round_robin", ())
    decision = choose_agent(conversation(language="en"), only_ru, agents)
    assert decision == AssignDecision(
        "ru", "round_robin: never assigned; no eligible agent speaks en, fell back to any"
    )


def test_preferred_agent_first_when_eligible():
    agents = [agent("a1", last_assigned_at=None), agent("a2", last_assigned_at=999.0)]
    decision = choose_agent(conversation(preferred_agent="a2"), ROUND_ROBIN, agents)
    assert decision == AssignDecision(
        "a2", "preferred agent (handled this resident last); speaks az"
    )


def test_preferred_agent_skipped_when_full_or_away_or_not_speaking():
    agents = [agent("a1"), agent("full", chat=(3, 3)), agent("away", presence="away")]
    for preferred in ("full", "away", "missing"):
        decision = choose_agent(conversation(preferred_agent=preferred), ROUND_ROBIN, agents)
        assert decision.agent_id == "a1"
    agents = [agent("az", languages=("az",)), agent("ru", languages=("ru",))]
    decision = choose_agent(conversation(language="ru", preferred_agent="az"), ROUND_ROBIN, agents)
    assert decision.agent_id == "ru"


def test_least_busy_takes_the_lowest_load_ratio_then_longest_idle():
    agents = [
        agent("half", chat=(1, 2), last_assigned_at=1.0),
        agent("third-a", chat=(1, 3), last_assigned_at=50.0),
        agent("third-b", chat=(2, 6), last_assigned_at=20.0),
    ]
    assert choose_agent(conversation(), LEAST_BUSY, agents) == AssignDecision(
        "third-b", "least_busy: chat load 2/6; speaks az"
    )


def test_next_for_agent_orders_by_priority_then_age():
    waiting = [
        conversation("old-low", priority=0, waiting_since=10.0),
        conversation("new-high", priority=5, waiting_since=900.0),
        conversation("old-high", priority=5, waiting_since=500.0),
    ]
    assert next_for_agent(agent("a1"), waiting, POLICIES).id == "old-high"


def test_next_for_agent_only_its_queues_and_kinds_with_room():
    waiting = [
        conversation("other-queue", queue="call-centre-142", priority=9),
        conversation("chat", kind="chat", priority=5),
        conversation("mail", kind="email", priority=0),
    ]
    assert next_for_agent(agent("a1"), waiting, POLICIES).id == "chat"
    assert next_for_agent(agent("a1", chat=(3, 3)), waiting, POLICIES).id == "mail"
    full = agent("a1", chat=(3, 3), email=(10, 10))
    assert next_for_agent(full, waiting, POLICIES) is None


def test_next_for_agent_prefers_its_languages_then_falls_back():
    waiting = [
        conversation("ru-urgent", language="ru", priority=9),
        conversation("az", language="az", priority=0),
    ]
    assert next_for_agent(agent("a1", languages=("az",)), waiting, POLICIES).id == "az"
    assert next_for_agent(agent("a1", languages=("en",)), waiting, POLICIES).id == "ru-urgent"


def test_manual_queues_count_when_pulled_but_not_on_automatic_triggers():
    waiting = [conversation("box", queue="dost-baku-1")]
    clerk = agent("a1", queues=("dost-baku-1",))
    assert next_for_agent(clerk, waiting, POLICIES).id == "box"
    assert next_for_agent(clerk, waiting, POLICIES, pulled=False) is None


def test_next_for_agent_skips_queues_without_policy_and_agents_not_online():
    waiting = [conversation("gone", queue="closed-queue"), conversation("c1")]
    assert next_for_agent(agent("a1", queues=("closed-queue",)), waiting, POLICIES) is None
    assert next_for_agent(agent("a1", presence="away"), waiting, POLICIES) is None


def test_waiting_index_keeps_order_through_adds_and_removals():
    index = WaitingIndex(
        [conversation("a", waiting_since=1.0), conversation("b", waiting_since=2.0)]
    )
    assert len(index) == 2
    assert next_for_agent(agent("x"), index, POLICIES).id == "a"
    assert index.discard("a").id == "a"
    assert index.discard("a") is None
    assert "a" not in index
    assert next_for_agent(agent("x"), index, POLICIES).id == "b"
    # Re-adding an id replaces it: "b" raised in priority is still one entry.
    index.add(conversation("b", priority=3, waiting_since=2.0))
    index.add(conversation("c", priority=1, waiting_since=0.5))
    assert len(index) == 2
    assert next_for_agent(agent("x"), index, POLICIES).id == "b"
    index.discard("b")
    index.discard("c")
    assert len(index) == 0
    assert next_for_agent(agent("x"), index, POLICIES) is None


def _naive_next(agent_state, waiting):
    """The obvious answer: sort everything, take the first the agent may have."""
    may_take = [
        c for c in waiting
        if c.queue in agent_state.queues and agent_state.has_room(c.kind)
    ]  # fmt: skip
    ordered = sorted(may_take, key=lambda c: (-c.priority, c.waiting_since, c.id))
    own = [c for c in ordered if c.language in agent_state.languages]
    return (own or ordered or [None])[0]


def test_waiting_index_agrees_with_sorting_everything():
    rng = random.Random(7)
    queues = ("migration", "dost-baku-1")
    kinds = ("chat", "email", "chat")
    languages = ("az", "ru", "en")
    waiting = [
        conversation(
            f"c{i}",
            queue=rng.choice(queues),
            kind=rng.choice(kinds),
            language=rng.choice(languages),
            priority=rng.randint(0, 2),
            waiting_since=float(rng.randint(0, 50)),
        )
        for i in range(400)
    ]
    index = WaitingIndex(waiting)
    for i in range(0, 400, 3):
        index.discard(f"c{i}")
    remaining = [c for c in waiting if c.id in index]
    for _ in range(200):
        someone = agent(
            "x",
            queues=tuple(rng.sample(queues, rng.randint(1, 2))),
            languages=tuple(rng.sample(languages, rng.randint(1, 2))),
            chat=(rng.randint(2, 3), 3),
            email=(rng.randint(9, 10), 10),
        )
        assert next_for_agent(someone, index, POLICIES) == _naive_next(someone, remaining)


def test_offer_expired():
    assert offer_expired(100.0, False, 160.0, 60) is True
    assert offer_expired(100.0, False, 159.9, 60) is False
    assert offer_expired(100.0, True, 10_000.0, 60) is False


def test_handback_returns_unanswered_conversations_when_leaving():
    assigned = [AssignedConversation("c1", True), AssignedConversation("c2", False),
                AssignedConversation("c3", False)]  # fmt: skip
    assert handback("offline", assigned) == ("c2", "c3")
    assert handback("away", assigned) == ("c2", "c3")
    assert handback("online", assigned) == ()


def test_a_resident_message_takes_the_conversation_from_an_absent_agent_only():
    assert returns_on_message("offline") and returns_on_message("away")
    assert not returns_on_message("online")
    assert not returns_on_message(None)   # nobody has it: it is waiting already


def test_the_reason_comes_with_its_facts_for_a_console_to_say_in_its_language():
    agents = [agent("a1", languages=("az",), last_assigned_at=None),
              agent("a2", languages=("ru",))]
    decision = choose_agent(conversation(language="az"), ROUND_ROBIN, agents)
    assert decision.why == {"strategy": "round_robin", "idle": "never",
                            "language": {"wanted": "az", "fallback": None}}
    decision = choose_agent(conversation(language="en"), ROUND_ROBIN, agents)
    assert decision.why["language"] == {"wanted": "en", "fallback": "az"}
    decision = choose_agent(conversation(language="ru", preferred_agent="a2"), ROUND_ROBIN,
                            agents)
    assert decision.why == {"preferred": True, "language": {"wanted": "ru", "fallback": None}}
    decision = choose_agent(conversation(), LEAST_BUSY, [agent("a1", chat=(1, 3))])
    assert decision.why == {"strategy": "least_busy", "kind": "chat", "load": 1, "capacity": 3,
                            "language": {"wanted": "az", "fallback": None}}
