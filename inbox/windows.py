"""Reply windows: how long after a resident's last message a channel still accepts free text.

WhatsApp allows a business free-form messages only within 24 hours of the resident's last
message; after that only an approved template may be sent. Channels without an entry have
no window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FREE_TEXT_WINDOWS: dict[str, timedelta] = {"whatsapp": timedelta(hours=24)}


def free_text_allowed(channel: str, last_inbound_at: datetime | None, now: datetime) -> bool:
    window = FREE_TEXT_WINDOWS.get(channel)
    if window is None:
        return True
    return last_inbound_at is not None and now - last_inbound_at < window
