"""Many processes racing on PostgreSQL never assign a conversation twice nor overfill an agent."""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.inbox.test_assignment import agent

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 6
MESSAGES_EACH = 12
CAPACITY = 3


@pytest.fixture
def postgres_only(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("the race needs PostgreSQL's row locks; SQLite serializes writers anyway")
    return db_url


async def test_racing_processes_respect_capacity_and_assign_once(postgres_only, ctx,
                                                                  environment):
    agents = [await agent(ctx, f"agent{i}@example.gov.az", ["migration-registration"],
                          capacity={"chat": CAPACITY}) for i in range(5)]
    start_at = time.time() + 3
    env = {**os.environ, **environment, "LOG_LEVEL": "WARNING"}
    # One process per racer, forked by race_client once it has imported the inbox; it waits
    # for every racer before it ends, so none is left running.
    racers = subprocess.run(
        [sys.executable, "-m", "tests.inbox.race_client",
         ",".join(f"p{i}" for i in range(PROCESSES)), str(MESSAGES_EACH), str(start_at),
         ",".join(map(str, agents))], cwd=ROOT, env=env, stderr=subprocess.PIPE, timeout=180)
    assert racers.returncode == 0, racers.stderr.decode()[-2000:]

    async with ctx.store.read() as tx:
        loads = await tx.conversations.open_loads(agents)
        rows = await tx.conversations.waiting_in(["migration-registration"], limit=1000)
        assigned_events = []
        total = 0
        for conversation_id in range(1, PROCESSES * MESSAGES_EACH + 1):
            conversation = await tx.conversations.get(conversation_id)
            if conversation is None:
                continue
            total += 1
            kinds = [e["type"] for e in await tx.events.of_conversation(conversation_id)]
            assigned_events.append(kinds.count("assigned"))
    per_agent = {a: sum(loads.get(a, {}).values()) for a in agents}
    assert total == PROCESSES * MESSAGES_EACH
    assert all(load <= CAPACITY for load in per_agent.values()), per_agent
    assert sum(per_agent.values()) == len(agents) * CAPACITY
    assert len(rows) == total - len(agents) * CAPACITY
    assert Counter(assigned_events) == {1: len(agents) * CAPACITY, 0: len(rows)}
