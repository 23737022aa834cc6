"""Raw mails kept that no message names: removed once no poll can still claim them.

A poll keeps a chunk's raw mails (a pack, or a file of its own, `inbound`) before it stores
the chunk, and only those it could read (a mail that cannot be parsed, or names no sender,
is counted as a failed attempt, and ends as a dead letter, which keeps its own bytes). A
poll killed between the two, or whose chunk then failed to store and was never read the
same way again, leaves a file no message names; a write that died, a half-written file.
Mail is personal data: such a file is removed once it was last written `ORPHAN_AGE` ago,
far beyond any poll's run (a poll that finds its file kept already touches it, so a file in
use is never that old).

Each sweep looks only at the files last written since the previous sweep's horizon, which it
keeps beside them (`HORIZON_FILE`), so a file's references are looked up once, not daily.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from channels.email.inbound import CHANNEL
from inbox.context import InboxContext, run_in_job_context
from inbox.port import ChannelPort

log = logging.getLogger(__name__)

ORPHAN_AGE = timedelta(days=1)
SWEEP_JOB = "channels.email.kept_sweep.sweep_job"
SWEEP_INTERVAL_S = 3600
HORIZON_FILE = ".swept-until"


def kept_files(media_dir: Path, after: float, until: float) -> dict[str, Path]:
    """The raw-mail files under `media_dir` last written in (`after`, `until`] (seconds of
    the epoch), by the path a message names them with (`inbound.kept_at`)."""
    found = {}
    for path in (media_dir / "email").glob("*/*/*"):
        try:
            written = path.stat().st_mtime
        except FileNotFoundError:   # removed meanwhile
            continue
        if after < written <= until and path.is_file():
            found[str(PurePosixPath(*path.parts[-4:]))] = path
    return found


def _horizon(media_dir: Path) -> float:
    try:
        return float((media_dir / "email" / HORIZON_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return 0.0


def _keep_horizon(media_dir: Path, horizon: float) -> None:
    path = media_dir / "email" / HORIZON_FILE
    partial = path.with_name(f"{HORIZON_FILE}.{os.getpid()}")
    partial.write_text(repr(horizon))
    os.replace(partial, path)


async def sweep(ctx: InboxContext, now: datetime | None = None) -> int:
    """Remove the raw-mail files last written between the previous sweep's horizon and
    `ORPHAN_AGE` before `now` that no message names; how many."""
    if not (ctx.media_dir / "email").is_dir():
        return 0
    after = _horizon(ctx.media_dir)
    until = ((now or datetime.now(UTC)) - ORPHAN_AGE).timestamp()
    if until <= after:
        return 0
    files = kept_files(ctx.media_dir, after, until)
    # A message names its file when its poll stores it, within a poll's run of the write.
    since = datetime.fromtimestamp(after, UTC) - ORPHAN_AGE
    named = await ChannelPort(ctx).kept_mail_named(CHANNEL, sorted(files), since) \
        if files else set()
    removed = 0
    for relative, path in files.items():
        if relative in named:
            continue
        try:
            if path.stat().st_mtime > until:   # a poll took it up again meanwhile
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    _keep_horizon(ctx.media_dir, until)
    if removed:
        log.info("removed %d kept mail files no message names (of %d looked at)", removed,
                 len(files))
    return removed


def sweep_job() -> int:
    """The worker's hourly job, declared by the channel when it has mailboxes."""
    return run_in_job_context(sweep)
