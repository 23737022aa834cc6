"""The inbox's clock: aware UTC times, as everything is stored and compared."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
