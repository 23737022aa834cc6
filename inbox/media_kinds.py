"""What kind of file a body is, read from its first bytes: an agent's upload is judged by its
content, never by the name or type the browser gave it (a program renamed `letter.pdf` is not
a PDF)."""

from __future__ import annotations

import fnmatch
import mimetypes

SNIFF_BYTES = 16   # enough for every signature below

# First bytes of each kind, checked in order.
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)
# RIFF containers name their kind at bytes 8-12; ISO media ("ftyp") its brand at 8-12.
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav"}
_FTYP = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif",
         b"M4A ": "audio/mp4", b"qt  ": "video/quicktime"}


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or None when they show none this
    knows."""
    for prefix, content_type in _PREFIXES:
        if head.startswith(prefix):
            return content_type
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12])
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4")
    return None


def extension_for(content_type: str) -> str:
    return mimetypes.guess_extension(content_type) or ".bin"


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    """Whether `content_type` matches one of the `media.allowed_types` patterns."""
    return any(fnmatch.fnmatch(content_type.lower(), pattern) for pattern in allowed)
