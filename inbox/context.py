"""What inbox operations need, bundled once per process: store, config, Redis, jobs, calendar,
and the traits of the channels the process was started with."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from inbox.channel_traits import ChannelBook, installed
from inbox.jobs import Jobs
from inbox.keys import derived_key
from inbox.outage import OutageLog
from inbox.storage import Store
from inbox.storage.db import ROOT, database_url, make_engine
from routing.classify import KeywordRule
from routing.rules import RuleSet
from routing.sla import BusinessCalendar
from settings import Config, load_config

if TYPE_CHECKING:
    from inbox.ingest import IngestResult
    from inbox.messages import InboundMessage


@dataclass
class InboxContext:
    config: Config
    store: Store
    redis: aioredis.Redis
    jobs: Jobs
    # What the inbox needs to know of each channel (handed in by app.py / worker.py).
    channels: ChannelBook = field(default_factory=installed)
    # Redis's outages as this process meets them: logged once, counted, and their end.
    redis_outage: OutageLog = field(default_factory=lambda: OutageLog("Redis"))
    # Where channels' messages are taken in: in the app, its intake drainer's batches
    # (`Intake.take_in`); None elsewhere (the worker, scripts), each message a batch of one.
    take_in: Callable[[InboundMessage], Awaitable[IngestResult]] | None = None

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    @cached_property
    def media_dir(self) -> Path:
        """Where attachments residents sent are kept (config `media.directory`)."""
        return media_directory(self.config)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        hours = self.config.business_hours
        return BusinessCalendar(
            tz=self.config.timezone, days=frozenset(hours.days), open=hours.open,
            close=hours.close, holidays=hours.holidays,
            extra_closed_days=frozenset(hours.extra_closed_days),
            extra_open_days=frozenset(hours.extra_open_days),
        )

    @cached_property
    def claim_key(self) -> bytes:
        """Keys the digests of identifiers residents typed (`inbox.matching`)."""
        return derived_key("contact-claims")

    @cached_property
    def service_identifiers(self) -> frozenset[tuple[str, str]]:
        """The deployment's own addresses (its mailboxes), as (kind, value): a resident who
        types one names the service, not themselves, and two who do are not one person."""
        email = self.config.channels.email
        return frozenset(("email", mailbox.address.strip().lower())
                         for mailbox in (email.mailboxes if email else ()))

    @cached_property
    def rules(self) -> RuleSet:
        return RuleSet(self.config.routing.rules)

    @cached_property
    def category_keywords(self) -> tuple[KeywordRule, ...]:
        return self.config.routing.category_keywords

    async def close(self) -> None:
        await self.store.close()
        await self.redis_outage.close()
        await self.redis.aclose()
        self.jobs.close()


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def media_directory(config: Config) -> Path:
    """Config `media.directory`, a relative one under the project's root."""
    directory = Path(config.media.directory)
    return directory if directory.is_absolute() else ROOT / directory


def redis_url(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("REDIS_URL") or DEFAULT_REDIS_URL


def open_context(config: Config | None = None, *, pool: bool = True,
                 channels: ChannelBook | None = None,
                 upkeep: bool = False) -> InboxContext:
    """The context from the environment (CC_CONFIG, DATABASE_URL, REDIS_URL).
    `pool=False` for a job's short life: no connections left behind in a dead event loop.
    `channels`: the registry's traits; by default those the process installed at start-up.
    `upkeep`: the serving process's (see `Store`)."""
    url = redis_url()
    redis = aioredis.Redis.from_url(url)
    config = config or load_config()
    return InboxContext(
        config=config,
        store=Store(make_engine(database_url(), pool=pool), upkeep=upkeep),
        redis=redis,
        jobs=Jobs(url, send_lease_s=config.outbox.lease_s),
        channels=channels if channels is not None else installed(),
        redis_outage=OutageLog("Redis", probe=redis.ping),
    )


T = TypeVar("T")


def run_in_job_context(work: Callable[[InboxContext], Awaitable[T]], *,
                       channels: ChannelBook | None = None) -> T:
    """A worker job's life: `work` run on a loop of its own with a context opened for it
    (no pool: no connections left behind in a dead loop) and closed whatever happens.
    `channels` as `open_context`'s."""
    async def run() -> T:
        ctx = open_context(pool=False, channels=channels)
        try:
            return await work(ctx)
        finally:
            await ctx.close()
    return asyncio.run(run())
