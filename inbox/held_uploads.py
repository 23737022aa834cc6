"""Files held for a message not yet sent (a resident's chat upload, an agent's file): one
folder per holder under a root, a file and its `.json` description each. What nobody claimed
within the hold is removed by a sweep, and folders left empty with it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def sweep(root: Path, hold_s: float, now: float | None = None) -> int:
    """Remove held files under `root` older than `hold_s`; how many (descriptions aside)."""
    now = time.time() if now is None else now
    removed = 0
    for folder in root.glob("*") if root.is_dir() else ():
        for path in folder.glob("*"):
            if path.stat().st_mtime < now - hold_s:
                path.unlink(missing_ok=True)
                removed += path.suffix != ".json"
        if not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
    return removed
