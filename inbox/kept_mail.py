"""Where a received mail's raw bytes were kept, and reading them back (the e-mail channel's
convention, `extra["email"]`): a file of its own (`raw`, its path under the media
directory), or its place in a pack, a file holding the mails a poll read together one after
another (`raw_pack`, and `raw_span`: the offset and length of its bytes). A pack is written
once, whole, and never changed, so a span stays true. Shared by the channel (which writes
the facts, and reads attachments back) and the web layer (the mail as it came).

A pack is named under a key of its own, not `raw`: a process of an earlier version, which
knows only `raw`, then finds no kept mail, instead of serving the whole pack (other
residents' mails with it) as this one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Span = tuple[int, int]   # (offset, length) in a pack
# The `extra["email"]` keys that name a kept file: a mail's own, or a pack.
NAMING_KEYS = ("raw", "raw_pack")


class KeptMailGone(LookupError):
    """The kept mail is not where the message says: its file is missing or too short, or the
    place named is not a mail's."""


def kept_facts(relative: str, span: Span | None) -> dict[str, Any]:
    """The `extra["email"]` keys that name a mail kept at `relative` (a pack when `span`)."""
    if span is None:
        return {"raw": relative}
    return {"raw_pack": relative, "raw_span": [span[0], span[1]]}


def place_of(email: dict[str, Any]) -> tuple[str, Span | None] | None:
    """Where a message's `extra["email"]` says its raw bytes are: (the path under the media
    directory, the span in a pack or None for a file of its own); None when it names none.
    KeptMailGone for a pack whose span is not an offset and a length above zero."""
    if isinstance(raw := email.get("raw"), str) and raw:
        return raw, None
    if isinstance(pack := email.get("raw_pack"), str) and pack:
        span = email.get("raw_span")
        if (not isinstance(span, list) or len(span) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in span)
                or span[0] < 0 or span[1] < 1):
            raise KeptMailGone("the kept mail's place is not an offset and a length")
        return pack, (span[0], span[1])
    return None


def read_kept(path: Path, span: Span | None) -> bytes:
    """The mail's bytes: the whole file, or `span` of it. KeptMailGone when they cannot all be
    read."""
    try:
        if span is None:
            return path.read_bytes()
        offset, length = span
        with path.open("rb") as kept:
            kept.seek(offset)
            raw = kept.read(length)
    except OSError as exc:
        raise KeptMailGone(f"the kept mail cannot be read ({type(exc).__name__})") from exc
    if len(raw) != length:
        raise KeptMailGone("the kept mail is shorter than its place says")
    return raw
