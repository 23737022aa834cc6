"""The worker's job deleting at the providers what they keep of erased residents' messages
(`inbox.provider_erasures` works off the list; each channel whose provider keeps its
messages, `ChannelTraits.kept_by_provider`, deletes its own with `forget`). It runs right
after an erasure and periodically (each such channel's `scheduled_jobs`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from channels.registry import channel_book, channel_for
from inbox.context import InboxContext, run_in_job_context
from inbox.port import ChannelPort


class KeepsRecords(Protocol):
    """A channel whose provider keeps its messages and lets us delete them."""

    async def forget(self, ctx: InboxContext, records: Mapping[str, str | None]
                     ) -> dict[str, str | None]:
        """Delete these messages at the provider (their external ids, each with its locator
        when the channel's traits give one): by id, None once gone (deleted now, or not
        found: deleted before), else why not, to try again later."""


async def forget_due(ctx: InboxContext, now: datetime | None = None) -> tuple[int, int]:
    """Delete what is due at the providers; (deleted, failed)."""
    async def forget(channel: str, records: dict[str, str | None]) -> dict[str, str | None]:
        keeper: KeepsRecords = channel_for(channel)     # type: ignore[assignment]
        return await keeper.forget(ctx, records)
    return await ChannelPort(ctx).forget_at_providers(forget, now)


def forget_job() -> tuple[int, int]:
    """The worker's job: after an erasure, and periodically."""
    return run_in_job_context(forget_due, channels=channel_book())
