"""The worker's job deleting at the providers what they keep of erased residents' messages
(`inbox.provider_erasures` works off the list; each channel whose provider keeps its
messages, `ChannelTraits.kept_by_provider`, deletes its own with `forget`). It runs right
after an erasure and periodically (each such channel's `scheduled_jobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from channels.registry import channel_book, channel_for
from inbox.context import InboxContext, run_in_job_context
from inbox.port import ChannelPort


class KeepsRecords(Protocol):
    """A channel whose provider keeps its messages and lets us delete them."""

    async def forget(self, ctx: InboxContext, external_ids: Sequence[str]
                     ) -> dict[str, str | None]:
        """Delete these messages at the provider: by id, None once gone (deleted now, or
        not found: deleted before), else why not, to try again later."""


async def forget_due(ctx: InboxContext, now: datetime | None = None) -> tuple[int, int]:
    """Delete what is due at the providers; (deleted, failed)."""
    async def forget(channel: str, external_ids: list[str]) -> dict[str, str | None]:
        keeper: KeepsRecords = channel_for(channel)     # type: ignore[assignment]
        return await keeper.forget(ctx, external_ids)
    return await ChannelPort(ctx).forget_at_providers(forget, now)


def forget_job() -> tuple[int, int]:
    """The worker's job: after an erasure, and periodically."""
    return run_in_job_context(forget_due, channels=channel_book())
