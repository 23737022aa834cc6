"""Periodic repairs the worker's scheduler runs: re-drive lost sends, ingest and route what a
crash left, give voicemails whose transcription never reported its stop their text."""

from __future__ import annotations

import logging
from datetime import timedelta

from inbox import assignment, calls, dispatch, intake, outbox, presence, sla
from inbox.context import InboxContext, run_in_job_context
from inbox.guided_intake import reminders

log = logging.getLogger(__name__)

SWEEP_JOB = "inbox.sweeps.sweep"


def sweep() -> dict[str, int]:
    return run_in_job_context(_sweep)


async def _sweep(ctx: InboxContext) -> dict[str, int]:
    redriven = await outbox.redrive_stale(ctx)
    recovered = await intake.recover(
        ctx, timedelta(seconds=ctx.config.intake.recover_after_s))
    routed = await dispatch.route_unrouted(ctx)
    # After routing: a transcript classifies only a routed conversation (`reclassify`).
    finalised = await calls.finish_overdue_transcripts(ctx)
    absent = await presence.expire_absent_agents(ctx)
    reoffered = await assignment.reoffer_expired(ctx)
    caught_up = await assignment.assign_backlog(ctx)
    clocks = await sla.sweep(ctx)
    intakes = await reminders.sweep(ctx)
    return {"redriven": len(redriven), "recovered": len(recovered), "routed": len(routed),
            "voicemails_finalised": len(finalised), "offline": len(absent),
            "reoffered": len(reoffered), "assigned": len(caught_up),
            "at_risk": len(clocks["at_risk"]), "breached": len(clocks["breached"]),
            "intakes_reminded": len(intakes["reminded"]),
            "intakes_handed_over": len(intakes["handed_over"])}
