"""Routing and assignment latency at pilot-plus scale: 200 agents, 10,000 waiting conversations.

Run from the repository root: `python -m bench.bench_routing [--ops N] [--seed S]`.
Prints figures only. Each measured path is paired with the naive approach in
the same run (rules compiled per message, every waiting conversation sorted per
pull), so the numbers are read against a baseline on the same machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

from routing.assignment import (
    AgentState,
    QueuePolicy,
    WaitingConversation,
    WaitingIndex,
    choose_agent,
    next_for_agent,
)
from routing.rules import RoutingFacts, RoutingRule, RuleSet, choose_queue

QUEUES = (
    "migration-registration",
    "migration-citizenship",
    "migration-readmission",
    "dost-baku-1",
    "dost-baku-2",
    "dost-ganja",
    "dost-pensions",
    "call-centre-142",
)
CHANNELS = ("webchat", "whatsapp", "sms", "telegram", "voice", "email")
KINDS = ("chat", "chat", "chat", "chat", "chat", "email")   # the kinds of work of CHANNELS
LANGUAGES = ("az", "ru", "en")
TEXTS = (
    "Salam, vətəndaşlıq almaq üçün hansı sənədlər lazımdır?",
    "salam pensiya kartim itib ne etmeliyem",
    "Здравствуйте, как продлить вид на жительство?",
    "Hello, I returned from Germany and need reintegration support",
    "Əlillik dərəcəsi barədə məlumat istəyirəm. " * 20,
    "qeydiyyat",
)
RULES = (
    *(RoutingRule(queue=q, queue_hint=q) for q in QUEUES if q.startswith("dost-")),
    RoutingRule(queue="migration-citizenship", keywords=("vətəndaşlıq", "гражданство")),
    RoutingRule(queue="migration-readmission", keywords=("reintegration", "reinteqrasiya")),
    RoutingRule(queue="dost-pensions", keywords=("pensiya", "пенсия", "əlillik dərəcəsi")),
    RoutingRule(queue="migration-registration", category="registration"),
    RoutingRule(queue="migration-registration", category="inquiry", keywords=("yaşayış icazəsi",)),
    RoutingRule(queue="call-centre-142", channel="voice"),
    RoutingRule(queue="call-centre-142", category="support", language="ru"),
)


def build_agents(rng: random.Random, count: int) -> list[AgentState]:
    agents = []
    for i in range(count):
        load_chat, load_email = rng.randint(0, 3), rng.randint(0, 10)
        agents.append(
            AgentState(
                id=f"agent-{i}",
                queues=frozenset(rng.sample(QUEUES, rng.randint(1, 3))),
                languages=frozenset({"az", *rng.sample(LANGUAGES, rng.randint(0, 2))}),
                presence=rng.choices(("online", "away", "offline"), (6, 1, 2))[0],
                capacity={"chat": 3, "email": 10},
                load={"chat": load_chat, "email": load_email},
                last_assigned_at=rng.choice((None, rng.uniform(0, 10_000))),
            )
        )
    return agents


def build_waiting(rng: random.Random, count: int, prefix: str) -> list[WaitingConversation]:
    return [
        WaitingConversation(
            id=f"{prefix}-{i}",
            queue=rng.choice(QUEUES),
            kind=rng.choice(KINDS),
            language=rng.choices(LANGUAGES, (7, 2, 1))[0],
            priority=rng.choices((0, 1, 2), (90, 9, 1))[0],
            waiting_since=rng.uniform(0, 10_000),
            preferred_agent=rng.choice((None, f"agent-{rng.randrange(200)}")),
        )
        for i in range(count)
    ]


def build_facts(rng: random.Random) -> RoutingFacts:
    return RoutingFacts(
        category=rng.choice(("inquiry", "registration", "support")),
        confidence=rng.uniform(0.3, 1.0),
        channel=rng.choice(CHANNELS),
        language=rng.choice(LANGUAGES),
        text=rng.choice(TEXTS),
        queue_hint=rng.choice((None, None, None, "dost-baku-1")),
    )


def naive_next(agent: AgentState, waiting: list[WaitingConversation]) -> WaitingConversation | None:
    """The obvious implementation: filter and sort everything on every pull."""
    candidates = sorted(
        (c for c in waiting if c.queue in agent.queues and agent.has_room(c.kind)),
        key=lambda c: (-c.priority, c.waiting_since, c.id),
    )
    own = next((c for c in candidates if c.language in agent.languages), None)
    return own or (candidates[0] if candidates else None)


def measure(name: str, ops: int, step: Callable[[int], object]) -> None:
    latencies = []
    for i in range(ops):
        started = time.perf_counter_ns()
        step(i)
        latencies.append(time.perf_counter_ns() - started)
    latencies.sort()
    total_s = sum(latencies) / 1e9
    p50 = statistics.median(latencies) / 1e3
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e3
    print(f"{name:<46} {ops / total_s:>11,.0f} ops/s  p50 {p50:>9.1f} µs  p99 {p99:>9.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5_000, help="decisions per measurement")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    agents = build_agents(rng, args.agents)
    waiting = build_waiting(rng, args.waiting, "waiting")
    policies = {
        q: QueuePolicy(
            q,
            "manual" if q == "dost-ganja" else rng.choice(("round_robin", "least_busy")),
            ("az", "ru"),
        )
        for q in QUEUES
    }
    facts = [build_facts(rng) for _ in range(args.ops)]
    pullers = [rng.choice([a for a in agents if a.presence == "online"]) for _ in range(args.ops)]
    rule_set = RuleSet(RULES)
    fresh = build_waiting(random.Random(args.seed + 1), args.ops, "arriving")
    index = WaitingIndex(waiting)

    print(
        f"{len(agents)} agents, {len(waiting)} waiting, {len(RULES)} rules, "
        f"{len(QUEUES)} queues, {args.ops} ops each"
    )

    def route_and_assign(i: int, rules: RuleSet | tuple[RoutingRule, ...]) -> None:
        decision = choose_queue(
            facts[i], rules, default_queue="call-centre-142", triage_queue="triage",
            min_confidence=0.6,
        )  # fmt: skip
        conv = replace(
            waiting[i % len(waiting)],
            queue=decision.queue if decision.queue in policies else QUEUES[0],
        )
        choose_agent(conv, policies[conv.queue], agents)

    measure(
        "choose_queue + choose_agent (RuleSet)", args.ops, lambda i: route_and_assign(i, rule_set)
    )
    measure(
        "  baseline: rules compiled per message",
        args.ops,
        lambda i: route_and_assign(i, RuleSet(RULES)),
    )

    def pull_with_index(i: int) -> None:
        # A full claim cycle: pick, remove it from the index, and a new message arrives.
        taken = next_for_agent(pullers[i], index, policies)
        if taken is not None:
            index.discard(taken.id)
        index.add(fresh[i])

    measure("next_for_agent + claim + enqueue (WaitingIndex)", args.ops, pull_with_index)
    naive_ops = max(1, args.ops // 10)  # each naive call sorts ~10,000 items
    measure(
        "  baseline: sort all waiting per pull",
        naive_ops,
        lambda i: naive_next(pullers[i], waiting),
    )


if __name__ == "__main__":
    main()
