"""Periodic repairs the worker's scheduler runs: re-drive lost sends, route what a crash left."""

from __future__ import annotations

import asyncio
import logging

from inbox import dispatch, outbox
from inbox.context import open_context

log = logging.getLogger(__name__)

SWEEP_JOB = "inbox.sweeps.sweep"


def sweep() -> dict[str, int]:
    return asyncio.run(_sweep())


async def _sweep() -> dict[str, int]:
    ctx = open_context(pool=False)
    try:
        redriven = await outbox.redrive_stale(ctx)
        routed = await dispatch.route_unrouted(ctx)
    finally:
        await ctx.close()
    return {"redriven": len(redriven), "routed": len(routed)}
