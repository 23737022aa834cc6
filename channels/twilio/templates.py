"""WhatsApp's approved templates, as Twilio Content sends them.

WhatsApp allows a business free-form messages only within 24 hours of the resident's last
message (the channel's free-text window); after that only a template approved in Twilio
Content may be sent: its Content SID and variables in config
`channels.twilio.whatsapp_templates`, numbered {{1}}, {{2}}... by Twilio. The inbox knows a
template by name and named variables only (`inbox.channel_traits.MessageTemplate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from inbox.channel_traits import MessageTemplate, TemplateSend
from settings import Config


def whatsapp_templates(twilio: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The approved templates of config `channels.twilio.whatsapp_templates`."""
    return dict((twilio or {}).get("whatsapp_templates") or {})


def template_extra(template: Mapping[str, Any], name: str,
                   values: Mapping[str, str]) -> dict[str, str]:
    """The send options that make Twilio send template `name` with these values (named as
    the template's `variables`, numbered {{1}}, {{2}}... by Twilio); ValueError if one is
    missing."""
    names = list(template.get("variables") or [])
    missing = [v for v in names if not str(values.get(v, "")).strip()]
    if missing:
        raise ValueError(f"template {name!r} needs {', '.join(missing)}")
    numbered = {str(i): str(values[v]) for i, v in enumerate(names, start=1)}
    return {"content_sid": str(template["content_sid"]),
            "content_variables": json.dumps(numbered, ensure_ascii=False)}


class WhatsAppTemplates:
    """The templates WhatsApp accepts outside its window (`ChannelTraits.templates`)."""

    def approved(self, config: Config) -> dict[str, MessageTemplate]:
        return {name: MessageTemplate(name, tuple(spec.get("variables") or ()),
                                      spec.get("preview"))
                for name, spec in whatsapp_templates(config.channels.section("twilio")).items()}

    def prepare(self, config: Config, name: str, values: Mapping[str, str]) -> TemplateSend:
        spec = whatsapp_templates(config.channels.section("twilio"))[name]
        extra = template_extra(spec, name, values)
        numbered = json.loads(extra["content_variables"])
        preview = str(spec.get("preview") or f"[{name}] " + " · ".join(numbered.values()))
        for number, value in numbered.items():
            preview = preview.replace("{{" + number + "}}", value)
        return TemplateSend(body=preview, extra=extra)
