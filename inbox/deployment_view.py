"""The deployment as admins read it on the admin screen (read-only): its queues, routing
rules, business hours and public holidays, from the loaded config.

Built field by field from what is named here, never by dumping the config: channel sections,
mailboxes and anything read from the environment (tokens, passwords, API keys, DSNs) have no
way into it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from inbox import holiday_names
from routing.sla import BusinessCalendar
from settings import Config

# The holidays library's code for each console language it writes holiday names in. It
# has no Russian: other readers get its English names named again from our catalogue
# (holiday_names).
HOLIDAY_NAME_LANGUAGES = {"az": "az", "en": "en_US"}


def _queue(queue: Any) -> dict[str, Any]:
    return {"id": queue.id, "name": queue.name, "names": dict(queue.names), "kind": queue.kind,
            "email": queue.email,
            "languages": list(queue.languages),
            "sla": {"first_response": queue.sla.first_response,
                    "resolution": queue.sla.resolution},
            "strategy": queue.strategy, "offer_timeout_s": queue.offer_timeout_s,
            "escalation_queue": queue.escalation_queue,
            "wrap_up_required": queue.wrap_up_required}


def _rule(rule: Any) -> dict[str, Any]:
    conditions = {key: value for key, value in asdict(rule).items()
                  if key != "queue" and value not in (None, (), [])}
    if "keywords" in conditions:
        conditions["keywords"] = list(conditions["keywords"])
    return {"if": conditions, "queue": rule.queue}


def deployment_view(config: Config, calendar: BusinessCalendar, language: str,
                    today: date) -> dict[str, Any]:
    """What the Configuration tab shows; holidays of this year and the next, named in the
    reader's language where the calendar has it."""
    hours = config.business_hours
    written = HOLIDAY_NAME_LANGUAGES.get(language)
    holidays = [{"date": day.isoformat(),
                 "name": name if written else holiday_names.named(name, language)}
                for year in (today.year, today.year + 1)
                for day, name in calendar.named_public_holidays(year, (written or "en_US",))]
    return {
        "timezone": config.timezone,
        "queues": [_queue(queue) for queue in config.queues],
        "routing": {
            "rules": [_rule(rule) for rule in config.routing.rules],
            "default_queue": config.routing.default_queue,
            "triage_queue": config.routing.triage_queue,
            "min_confidence": config.routing.min_confidence,
        },
        "business_hours": {
            "days": list(hours.days), "open": hours.open.strftime("%H:%M"),
            "close": hours.close.strftime("%H:%M"), "holidays": hours.holidays,
            "extra_closed_days": sorted(day.isoformat() for day in hours.extra_closed_days),
            "extra_open_days": sorted(day.isoformat() for day in hours.extra_open_days),
        },
        "public_holidays": holidays,
    }
