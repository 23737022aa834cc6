"""The processes of the assignment race test: each ingests residents' messages and pulls work
for agents as fast as it can, from a common start time.

    python -m tests.inbox.race_client NAME[,NAME...] COUNT START_AT AGENT_IDS

One process per name, forked from this one once it has imported the inbox and loaded the
classifier, so the seconds that costs are spent once rather than by every racer; each racer
opens its own connections after the fork. The exit status is 1 if any racer failed."""

import asyncio
import os
import random
import sys
import time
import traceback
from datetime import UTC, datetime

from channels.registry import channel_book
from inbox import assignment
from inbox.context import open_context
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from routing.model import shared_model


async def main(name: str, count: int, start_at: float, agent_ids: list[int]) -> None:
    ctx = open_context(channels=channel_book())   # as app.py hands them in
    await asyncio.sleep(max(0.0, start_at - time.time()))
    for n in range(count):
        await ingest(ctx, InboundMessage(
            channel="webchat", external_id=f"{name}-{n}:1", address=f"{name}-{n}",
            text="Salam, reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm",
            received_at=datetime.now(UTC), language="az"))
        await assignment.fill_agent(ctx, random.choice(agent_ids), pulled=True, limit=1)
    await ctx.close()


def race(names: list[str], count: int, start_at: float, agent_ids: list[int]) -> int:
    shared_model()   # loaded before the fork: every racer classifies with it
    racers = []
    for name in names:
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                asyncio.run(main(name, count, start_at, agent_ids))
            except BaseException:
                traceback.print_exc()
                status = 1
            sys.stderr.flush()
            os._exit(status)
        racers.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in racers]
    return 0 if all(status == 0 for status in statuses) else 1


if __name__ == "__main__":
    sys.exit(race(sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3]),
                  [int(a) for a in sys.argv[4].split(",")]))
