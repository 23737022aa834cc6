"""One of the processes the assignment race test starts: ingests residents' messages and pulls
work for agents as fast as it can, from a common start time."""

import asyncio
import random
import sys
import time
from datetime import UTC, datetime

from channels.registry import channel_book
from inbox import assignment
from inbox.context import open_context
from inbox.ingest import ingest
from inbox.messages import InboundMessage


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


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
                     [int(a) for a in sys.argv[4].split(",")]))
