"""Files held for a message not yet sent (a resident's chat upload, an agent's file): one
folder per holder under a root, a file and its `.json` description each. What nobody claimed
within the hold is removed by a sweep, and folders left empty with it."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class Held:
    upload_id: str
    content_type: str
    filename: str
    size: int
    path: Path

    def view(self) -> dict[str, Any]:
        return {"upload": self.upload_id, "content_type": self.content_type,
                "filename": self.filename, "size": self.size}


def valid_id(upload_id: Any) -> bool:
    """An id `keep` could have made: no path can be smuggled in through it."""
    return isinstance(upload_id, str) and 0 < len(upload_id) <= 64 and all(
        c.isalnum() or c in "-_" for c in upload_id)


async def keep(folder: Path, body: bytes, content_type: str, filename: str,
               **about: Any) -> Held:
    """Hold `body` in `folder` under a new id, described (with `about`: who may claim it)."""
    upload_id = secrets.token_urlsafe(16)
    path = folder / upload_id
    meta = {**about, "content_type": content_type, "filename": filename, "size": len(body)}

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")

    await asyncio.to_thread(write)
    return Held(upload_id, content_type, filename, len(body), path)


def find(folder: Path, upload_id: Any) -> tuple[Held, dict[str, Any]] | None:
    """The file held in `folder` under `upload_id` and its description; None when there is
    none (never held, expired, swept, or not a valid id)."""
    if not valid_id(upload_id):
        return None
    path = folder / upload_id
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not path.is_file():
        return None
    return Held(upload_id, meta["content_type"], meta["filename"], meta["size"], path), meta
