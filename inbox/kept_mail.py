"""Reading a received mail's raw bytes where the mailbox's poll kept them (the e-mail channel's
convention, `extra["email"]`): either a file of its own (`raw`, the whole file) or its place
in a pack, a file holding a backlog's mails one after another (`raw` and `raw_span`, the
offset and length of its bytes). A pack is written once, whole, and never changed, so a span
stays true. Shared by the web layer (the mail as it came) and the channel (its attachments)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class KeptMailGone(LookupError):
    """The kept mail is not where the message says: its file is missing or too short, or the
    place named is not a mail's."""


def span_of(email: dict[str, Any]) -> tuple[int, int] | None:
    """The (offset, length) a message's `extra["email"]` names, None for a file of its own;
    KeptMailGone for one that is not two whole numbers, the length above zero."""
    span = email.get("raw_span")
    if span is None:
        return None
    if (not isinstance(span, Sequence) or len(span) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in span)
            or span[0] < 0 or span[1] < 1):
        raise KeptMailGone("the kept mail's place is not an offset and a length")
    return span[0], span[1]


def read_kept(path: Path, span: tuple[int, int] | None) -> bytes:
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
