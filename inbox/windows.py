"""Reply windows: how long after a resident's last message a channel still accepts free text,
and the approved templates that may be sent after it.

WhatsApp allows a business free-form messages only within 24 hours of the resident's last
message; after that only an approved template may be sent (its Content SID and variables in
config `channels.twilio.whatsapp_templates`). Channels without an entry have no window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

FREE_TEXT_WINDOWS: dict[str, timedelta] = {"whatsapp": timedelta(hours=24)}


def free_text_allowed(channel: str, last_inbound_at: datetime | None, now: datetime) -> bool:
    window = FREE_TEXT_WINDOWS.get(channel)
    if window is None:
        return True
    return last_inbound_at is not None and now - last_inbound_at < window


def whatsapp_templates(twilio: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The approved templates of config `channels.twilio.whatsapp_templates`."""
    return dict((twilio or {}).get("whatsapp_templates") or {})


def template_extra(template: Mapping[str, Any], name: str,
                   values: Mapping[str, str]) -> dict[str, str]:
    """The send options that make the channel send template `name` with these values (named
    as the template's `variables`, numbered {{1}}, {{2}}... by Twilio); ValueError if one is
    missing."""
    names = list(template.get("variables") or [])
    missing = [v for v in names if not str(values.get(v, "")).strip()]
    if missing:
        raise ValueError(f"template {name!r} needs {', '.join(missing)}")
    numbered = {str(i): str(values[v]) for i, v in enumerate(names, start=1)}
    return {"content_sid": str(template["content_sid"]),
            "content_variables": json.dumps(numbered, ensure_ascii=False)}
