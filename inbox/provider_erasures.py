"""Deleting at the providers what they keep of erased residents' messages: working off
`provider_erasures` (listed by `inbox.erasure` in the erasure's own transaction).

The channel whose provider keeps the messages deletes them (`Forget`: by provider id, None
once gone, else why not; the channels' job hands it in, `channels.provider_records`). A
record's locator, when its channel needs one to find it (a mail's Message-ID), is cleared
once it is gone. One that is not gone is tried again after a growing pause, and again for
as long as it takes: the provider may be down, or the account's credentials wrong for a
while, and the deletion is owed."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from inbox.context import InboxContext
from inbox.storage.records import Row, utcnow

log = logging.getLogger(__name__)

# Deletes a channel's records at its provider: (channel, {provider id: its locator}) -> by
# id, None once gone, else why not.
Forget = Callable[[str, dict[str, str | None]], Awaitable[dict[str, str | None]]]

# The pause after the n-th failed attempt, the last repeated: the provider answers within
# minutes once it is back, a wrong credential waits for an operator.
RETRY_PAUSES_S: Sequence[int] = (60, 300, 900, 3600, 6 * 3600, 24 * 3600)
BATCH = 100
# A run stops taking batches after this: it shares the worker's default queue with the
# sweeps that route and assign. The rest is the next run's.
BUDGET_S = 20.0


def pause_after(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1 for the first)."""
    return timedelta(seconds=RETRY_PAUSES_S[min(attempts, len(RETRY_PAUSES_S)) - 1])


async def forget_due(ctx: InboxContext, forget: Forget, now: datetime | None = None,
                     budget_s: float = BUDGET_S) -> tuple[int, int]:
    """Delete at the providers what is due; (deleted, failed) in this run."""
    until = time.monotonic() + budget_s
    deleted = failed = 0
    while time.monotonic() < until:
        at = now or utcnow()
        async with ctx.store.read() as tx:
            due = await tx.provider_erasures.due(at, BATCH)
        if not due:
            break
        done, failures = await _attempt(forget, due, at)
        async with ctx.store.transaction() as tx:
            await tx.provider_erasures.done(done, at)
            for record_id, error, next_at in failures:
                await tx.provider_erasures.failed(record_id, error, next_at)
        deleted, failed = deleted + len(done), failed + len(failures)
        if not done:     # all failed: the provider is away; the rest can wait too
            break
    if deleted or failed:
        # Counts only: the provider ids name no one, but nobody needs them here.
        log.info("deleted %d erased residents' messages at the providers, %d to retry",
                 deleted, failed)
    return deleted, failed


async def _attempt(forget: Forget, due: list[Row], at: datetime
                   ) -> tuple[list[int], list[tuple[int, str, datetime]]]:
    """Each channel's share of `due` deleted: the ids done, and those failed with why and
    when to try again."""
    by_channel: dict[str, list[Row]] = defaultdict(list)
    for row in due:
        by_channel[row["channel"]].append(row)
    done: list[int] = []
    failures: list[tuple[int, str, datetime]] = []
    for channel, rows in by_channel.items():
        try:
            outcome = await forget(channel, {row["external_id"]: row["locator"]
                                             for row in rows})
        except Exception as exc:     # a channel gone from the registry, a bug: retried
            outcome = {row["external_id"]: type(exc).__name__ for row in rows}
        for row in rows:
            error = outcome.get(row["external_id"], "no answer")
            if error is None:
                done.append(row["id"])
            else:
                failures.append((row["id"], error[:500], at + pause_after(row["attempts"] + 1)))
    return done, failures
