"""Reads config.yaml: `${VAR}` interpolation, then validation that names each bad key and its line.

The YAML is composed into nodes first so every value keeps the line it came from; the
environment is substituted into scalars (never into the text, so a variable's value cannot
change the document's structure); then `Section` readers build the frozen objects of
`settings.model`, collecting every problem instead of stopping at the first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml

from settings.model import (
    AFTER_READING,
    CATEGORIES,
    IMAP_SECURITY,
    LANGUAGES,
    OUTCOME_KINDS,
    QUEUE_KINDS,
    STRATEGIES,
    SURVEY_CHANNELS,
    AwayReason,
    BusinessHours,
    Channels,
    Config,
    DostCentre,
    EmailChannel,
    GuidedIntake,
    Imap,
    Intake,
    IntakeDocument,
    IntakeService,
    KeywordOverride,
    Limits,
    Mailbox,
    Media,
    Notifications,
    Outbox,
    Privacy,
    Queue,
    Rate,
    RoutingConfig,
    RuleConfig,
    Sla,
    Survey,
    Tag,
    WebchatChannel,
    WebchatLimits,
)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MISSING = object()
_RESOLVER = yaml.SafeLoader("")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(
            f"{self.source}:{p.line or '?'}: {p.path}: {p.message}" for p in self.problems
        )


def parse_seconds(text: str) -> int:
    """A wall-clock interval such as "30s", "5m", "2h", "1h30m"; a bare number means seconds.
    (SLA targets use the same grammar but count business time: see routing.sla.)"""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    match = _DURATION.fullmatch(str(text).strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 1d or 1h30m)")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _interpolate(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(substitute, value)


class _Document:
    """The composed YAML with the line of every node, and the problems found so far."""

    def __init__(self, source: str):
        self.source = source
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        # A key missing from the top level has no line of its own: point at the file's start.
        self.problems.append(Problem(path, self.lines.get(path, 1 if path == "(top)" else None),
                                     message))

    def index(self, node: yaml.Node, path: str, env: Mapping[str, str]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[str, int] = {}
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                line = key.start_mark.line + 1
                if key.value in first_seen:
                    # PyYAML would silently keep the last one.
                    self.problems.append(Problem(child, line, f"duplicate key (first at line "
                                                              f"{first_seen[key.value]})"))
                first_seen.setdefault(key.value, line)
                self.lines[child] = key.start_mark.line + 1
                self.index(value, child, env)
                self.lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, f"{path}[{i}]", env)
        elif isinstance(node, yaml.ScalarNode) and "${" in node.value:
            missing: list[str] = []
            node.value = _interpolate(node.value, env, missing)
            # The value becomes a scalar of its own type (a number stays a number), never a
            # structure; a quoted "${VAR}" stays a string.
            node.tag = "tag:yaml.org,2002:str" if node.style in ("'", '"') else \
                _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False))
            for name in missing:
                self.problem(path, f"environment variable {name} is not set and has no default")


class Section:
    """Typed access to one mapping of the document; records problems instead of raising."""

    def __init__(self, doc: _Document, data: Any, path: str):
        self.doc = doc
        self.path = path
        self.data = data if isinstance(data, dict) else {}
        self.used: set[str] = set()
        if not isinstance(data, dict) and data is not None:
            doc.problem(path or "(top)", f"expected a mapping, got {type(data).__name__}")

    def _child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = _MISSING,
        choices: tuple[Any, ...] | None = None,
        convert: Callable[[Any], Any] | None = None,
    ) -> Any:
        self.used.add(key)
        path = self._child(key)
        if key not in self.data or self.data[key] is None:
            if default is _MISSING:
                self.doc.problem(path if key in self.data else self.path or "(top)",
                                 f"missing required key {key!r}" if key not in self.data
                                 else "must not be empty")
                return None
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(
                k.__name__ for k in kind)
            self.doc.problem(path, f"expected {expected}, got {type(value).__name__} {value!r}")
            return None if default is _MISSING else default
        if convert is not None:
            try:
                value = convert(value)
            except (ValueError, TypeError) as exc:
                self.doc.problem(path, str(exc))
                return None if default is _MISSING else default
        if choices is not None:
            bad = [v for v in (value if isinstance(value, tuple) else (value,)) if v not in choices]
            if bad:
                self.doc.problem(path, f"{', '.join(map(repr, bad))} is not one of "
                                       f"{', '.join(map(str, choices))}")
        return value

    def strings(self, key: str, default: Any = _MISSING,
                choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        def to_tuple(items: list[Any]) -> tuple[str, ...]:
            if not all(isinstance(i, str) for i in items):
                raise ValueError("expected a list of strings")
            return tuple(items)

        value = self.get(key, list, default, convert=to_tuple)
        if value is None:
            return ()
        if choices is not None:
            bad = [v for v in value if v not in choices]
            if bad:
                self.doc.problem(self._child(key), f"{', '.join(map(repr, bad))} is not one of "
                                                   f"{', '.join(choices)}")
        return tuple(value)

    def section(self, key: str, required: bool = True) -> Section | None:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.doc.problem(self.path or "(top)", f"missing required key {key!r}")
            return None
        return Section(self.doc, self.data[key], self._child(key))

    def sections(self, key: str, required: bool = True) -> list[Section]:
        self.used.add(key)
        items = self.data.get(key)
        if items is None:
            if required:
                self.doc.problem(self.path or "(top)", f"missing required key {key!r}")
            return []
        if not isinstance(items, list):
            self.doc.problem(self._child(key), f"expected a list, got {type(items).__name__}")
            return []
        return [Section(self.doc, item, f"{self._child(key)}[{i}]") for i, item in enumerate(items)]

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.doc.problem(self._child(str(key)), "unknown key")


def _clock(text: Any) -> time:
    if isinstance(text, int):
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080: minutes after midnight.
        text = f"{text // 60}:{text % 60:02d}"
    try:
        hours, minutes = str(text).split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"not a time of day: {text!r} (use HH:MM)") from exc


def _sla_duration(text: str) -> str:
    parse_seconds(text)
    return text.strip()


def _positive(value: int) -> int:
    if value <= 0:
        raise ValueError(f"must be a positive number, got {value}")
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _not_negative_seconds(value: str | int) -> int:
    return _not_negative(parse_seconds(value))


def _holiday_calendar(code: str) -> str:
    if code not in holidays.list_supported_countries():
        raise ValueError(f"unknown public-holiday calendar {code!r} (a country code such as AZ)")
    return code


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _networks(items: list[Any]) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(str(item), strict=False) for item in items)
    except ValueError as exc:
        raise ValueError(f"not an IP address or network: {exc}") from exc


def _dates(section: Section, key: str) -> tuple[date, ...]:
    values = section.get(key, list, [])
    out = []
    for i, value in enumerate(values or []):
        if isinstance(value, date):
            out.append(value)
        else:
            section.doc.problem(f"{section._child(key)}[{i}]", f"not a date: {value!r}")
    return tuple(out)


def _business_hours(s: Section) -> BusinessHours:
    hours = BusinessHours(
        days=s.strings("days", ("mon", "tue", "wed", "thu", "fri"), choices=_WEEKDAYS),
        open=s.get("open", (str, int), time(9), convert=_clock),
        close=s.get("close", (str, int), time(18), convert=_clock),
        holidays=s.get("holidays", str, None, convert=_holiday_calendar),
        extra_closed_days=_dates(s, "extra_closed_days"),
        extra_open_days=_dates(s, "extra_open_days"),
    )
    if hours.open and hours.close and hours.open >= hours.close:
        s.doc.problem(s._child("close"), "must be later than open")
    s.finish()
    return hours


def _queue(s: Section) -> Queue:
    sla_section = s.section("sla")
    sla = Sla(first_response="2h", resolution="5d")
    if sla_section is not None:
        sla = Sla(
            first_response=sla_section.get("first_response", str, convert=_sla_duration),
            resolution=sla_section.get("resolution", str, convert=_sla_duration),
        )
        sla_section.finish()
    kind = s.get("kind", str, choices=QUEUE_KINDS)
    names, name = _queue_names(s)
    queue = Queue(
        id=s.get("id", str),
        name=name,
        names=names,
        kind=kind,
        email=s.get("email", str, None),
        languages=s.strings("languages", LANGUAGES, choices=LANGUAGES),
        sla=sla,
        strategy=s.get("strategy", str, "manual" if kind == "mailbox" else "least_busy",
                       choices=STRATEGIES),
        offer_timeout_s=s.get("offer_timeout", (str, int), 120, convert=parse_seconds),
        escalation_queue=s.get("escalation_queue", str, None),
        wrap_up_required=s.get("wrap_up_required", bool, False),
    )
    if kind == "mailbox" and not queue.email:
        s.doc.problem(s._child("email"), "a mailbox queue needs its address")
    s.finish()
    return queue


def _rule(s: Section) -> RuleConfig:
    condition = s.section("if")
    rule = RuleConfig(queue=s.get("queue", str))
    if condition is not None:
        rule = RuleConfig(
            queue=rule.queue,
            category=condition.get("category", str, None, choices=CATEGORIES),
            # A channel's name is the registry's: `config check` checks it (channels/).
            channel=condition.get("channel", str, None),
            language=condition.get("language", str, None, choices=LANGUAGES),
            keywords=condition.strings("keywords", ()),
            queue_hint=condition.get("queue_hint", str, None),
        )
        condition.finish()
    s.finish()
    return rule


def _routing(s: Section) -> RoutingConfig:
    overrides = []
    for o in s.sections("category_keywords", required=False):
        overrides.append(KeywordOverride(keywords=o.strings("keywords"),
                                         category=o.get("category", str, choices=CATEGORIES)))
        o.finish()
    routing = RoutingConfig(
        rules=tuple(_rule(r) for r in s.sections("rules")),
        default_queue=s.get("default_queue", str),
        triage_queue=s.get("triage_queue", str),
        min_confidence=s.get("min_confidence", float, 0.6),
        category_keywords=tuple(overrides),
    )
    if routing.min_confidence is not None and not 0 <= routing.min_confidence <= 1:
        s.doc.problem(s._child("min_confidence"), "must be between 0 and 1")
    s.finish()
    return routing


def _imap(s: Section | None) -> Imap | None:
    if s is None:
        return None
    security = s.get("security", str, Imap.security, choices=IMAP_SECURITY)
    after = s.get("after", str, Imap.after, choices=AFTER_READING)
    imap = Imap(
        host=s.get("host", str),
        user=s.get("user", str),
        password=s.get("password", str),
        port=s.get("port", int, 993 if security == "tls" else 143, convert=_positive),
        security=security,
        folders=s.strings("folders", Imap.folders),
        after=after,
        flag=s.get("flag", str, Imap.flag),
        move_to=s.get("move_to", str, None),
        timeout_s=s.get("timeout", (str, int), Imap.timeout_s,
                        convert=lambda v: _positive(parse_seconds(v))),
    )
    if not imap.folders:
        s.doc.problem(s._child("folders"), "name at least one folder")
    if after == "move" and not imap.move_to:
        s.doc.problem(s._child("after"), "`after: move` needs `move_to`, the folder to move to")
    if imap.flag is not None and (not imap.flag or " " in imap.flag):
        s.doc.problem(s._child("flag"), f"not an IMAP flag or keyword: {imap.flag!r}")
    s.finish()
    return imap


def _mailbox(s: Section, poll_interval_s: int) -> Mailbox:
    mailbox = Mailbox(
        id=s.get("id", str),
        address=s.get("address", str),
        queue=s.get("queue", str),
        imap=_imap(s.section("imap")),
        smtp=s.get("smtp", dict),
        signature=s.get("signature", dict, {}),
        poll_interval_s=s.get("poll_interval", (str, int), poll_interval_s,
                              convert=lambda v: _positive(parse_seconds(v))),
    )
    s.finish()
    return mailbox


def _rate(s: Section, key: str, default: Rate) -> Rate:
    section = s.section(key, required=False)
    if section is None:
        return default
    rate = Rate(count=section.get("count", int, default.count, convert=_positive),
                per_s=section.get("per", (str, int), default.per_s,
                                  convert=lambda v: _positive(parse_seconds(v))))
    section.finish()
    return rate


def _webchat_limits(s: Section | None) -> WebchatLimits:
    if s is None:
        return WebchatLimits()
    default = WebchatLimits()
    limits = WebchatLimits(
        messages_per_session=_rate(s, "messages_per_session", default.messages_per_session),
        messages_per_address=_rate(s, "messages_per_address", default.messages_per_address),
        conversations_per_address=_rate(s, "conversations_per_address",
                                        default.conversations_per_address),
        sockets_per_address=s.get("sockets_per_address", int, default.sockets_per_address,
                                  convert=_positive),
    )
    s.finish()
    return limits


def _channels(s: Section) -> Channels:
    webchat_section = s.section("webchat", required=False)
    webchat = WebchatChannel(allowed_origins=())
    if webchat_section is not None:
        webchat = WebchatChannel(
            allowed_origins=webchat_section.strings("allowed_origins", ()),
            max_message_chars=webchat_section.get("max_message_chars", int, 4000,
                                                  convert=_positive),
            limits=_webchat_limits(webchat_section.section("limits", required=False)),
            queue=webchat_section.get("queue", str, None),
            contact_required=webchat_section.get("contact_required", bool, False),
            privacy_url=webchat_section.get("privacy_url", str, None),
            away_after_s=webchat_section.get("away_after", (str, int),
                                             WebchatChannel.away_after_s,
                                             convert=_not_negative_seconds),
            reply_mailbox=webchat_section.get("reply_mailbox", str, None),
        )
        webchat_section.finish()
    email = None
    email_section = s.section("email", required=False)
    if email_section is not None:
        poll_interval_s = email_section.get("poll_interval", (str, int), 30,
                                            convert=lambda v: _positive(parse_seconds(v)))
        email = EmailChannel(
            poll_interval_s=poll_interval_s,
            mailboxes=tuple(_mailbox(m, poll_interval_s or 30)
                            for m in email_section.sections("mailboxes", False)),
            max_attempts=email_section.get("max_attempts", int, EmailChannel.max_attempts,
                                           convert=_positive),
            reread_window_s=email_section.get(
                "reread_window", (str, int), EmailChannel.reread_window_s,
                convert=lambda v: _positive(parse_seconds(v))),
            fetch_batch=email_section.get("fetch_batch", int, EmailChannel.fetch_batch,
                                          convert=_positive),
            reopen_within_s=email_section.get("reopen_within", (str, int),
                                              EmailChannel.reopen_within_s,
                                              convert=_not_negative_seconds),
            acknowledgements_per_day=email_section.get(
                "acknowledgements_per_day", int, EmailChannel.acknowledgements_per_day,
                convert=_not_negative),
        )
        ids = [m.id for m in email.mailboxes]
        for i, mailbox_id in enumerate(ids):
            if mailbox_id is not None and mailbox_id in ids[:i]:
                email_section.doc.problem(f"channels.email.mailboxes[{i}].id",
                                          f"duplicate mailbox id {mailbox_id!r}")
        email_section.finish()
    sections = {str(key): s.get(str(key), dict, None) for key in s.data if key not in s.used}
    channels = Channels(
        webchat=webchat,
        email=email,
        sections={key: value for key, value in sections.items() if value is not None},
    )
    s.finish()
    return channels


def _outbox(s: Section | None) -> Outbox:
    if s is None:
        return Outbox()
    outbox = Outbox(
        lease_s=s.get("lease", (str, int), 60, convert=parse_seconds),
        sweep_interval_s=s.get("sweep_interval", (str, int), 5, convert=parse_seconds),
        max_attempts=s.get("max_attempts", int, 6, convert=_positive),
    )
    s.finish()
    return outbox


_TAG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _tag_id(value: str) -> str:
    if not _TAG_ID.match(value):
        raise ValueError(f"{value!r} is not an id: lower-case letters, digits and '-', "
                         "at most 64")
    return value


def _queue_names(s: Section) -> tuple[MappingProxyType[str, str], str]:
    """A queue's `name`: `{az, ru, en}`, each required, or one string read the same in every
    language (a deployment that serves one). Its names by language, and its Azerbaijani one."""
    if isinstance(s.data.get("name"), dict):
        names = _labels(s, "name")
        return names, names.get("az", "")
    name = s.get("name", str) or ""
    return MappingProxyType(dict.fromkeys(LANGUAGES, name)), name


def _labels(s: Section, key: str = "label") -> MappingProxyType[str, str]:
    """`label: {az, ru, en}`, each required: what agents (or residents) read in their
    language."""
    labels = s.section(key)
    texts: dict[str, str] = {}
    if labels is not None:
        for language in LANGUAGES:
            text = labels.get(language, str)
            if text is not None:
                texts[language] = text.strip()
        labels.finish()
    return MappingProxyType(texts)


def _tag(s: Section) -> Tag:
    tag = Tag(id=s.get("id", str, convert=_tag_id), labels=_labels(s),
              wrap_up=s.get("wrap_up", bool, False))
    s.finish()
    return tag


def _away_reason(s: Section) -> AwayReason:
    reason = AwayReason(id=s.get("id", str, convert=_tag_id), labels=_labels(s))
    s.finish()
    return reason


def _intake_document(s: Section) -> IntakeDocument:
    document = IntakeDocument(id=s.get("id", str, convert=_tag_id), labels=_labels(s))
    s.finish()
    return document


def _intake_service(s: Section) -> IntakeService:
    service = IntakeService(id=s.get("id", str, convert=_tag_id), labels=_labels(s),
                            documents=s.strings("documents", ()))
    s.finish()
    return service


def _guided_intake(doc: _Document, s: Section | None) -> GuidedIntake:
    if s is None:
        return GuidedIntake()
    defaults = GuidedIntake()
    intake = GuidedIntake(
        enabled=s.get("enabled", bool, False),
        documents=_unique(doc, "guided_intake.documents", tuple(
            _intake_document(d) for d in s.sections("documents", required=False)), "document"),
        services=_unique(doc, "guided_intake.services", tuple(
            _intake_service(d) for d in s.sections("services", required=False)), "service"),
        remind_after_s=s.get("remind_after", (str, int), defaults.remind_after_s,
                             convert=parse_seconds),
        hand_over_after_s=s.get("hand_over_after", (str, int), defaults.hand_over_after_s,
                                convert=parse_seconds),
        max_attempts=s.get("max_attempts", int, defaults.max_attempts, convert=_positive),
    )
    s.finish()
    known = {d.id for d in intake.documents}
    for i, service in enumerate(intake.services):
        for document in service.documents:
            if document not in known:
                doc.problem(f"guided_intake.services[{i}].documents",
                            f"unknown document {document!r} (not one of "
                            "guided_intake.documents)")
    if intake.enabled and not intake.services:
        doc.problem("guided_intake.services", "the intake is enabled but offers no service")
    return intake


def _dost_centre(s: Section) -> DostCentre:
    centre = DostCentre(id=s.get("id", str, convert=_tag_id), names=_labels(s, "name"),
                        addresses=_labels(s, "address"), hours=_labels(s, "hours"))
    s.finish()
    return centre


def _notifications(s: Section | None) -> Notifications:
    if s is None:
        return Notifications()
    templates = s.section("whatsapp_templates", required=False)
    names: dict[str, str] = {}
    if templates is not None:
        for kind in templates.data:
            if kind not in OUTCOME_KINDS:
                templates.doc.problem(f"{templates.path}.{kind}", f"{kind!r} is not one of "
                                      f"{', '.join(OUTCOME_KINDS)}")
                templates.used.add(kind)
                continue
            name = templates.get(kind, str)
            if name is not None:
                names[kind] = name
        templates.finish()
    s.finish()
    return Notifications(whatsapp_templates=MappingProxyType(names))


def _survey(s: Section | None) -> Survey:
    if s is None:
        return Survey()
    survey = Survey(
        enabled=s.get("enabled", bool, Survey.enabled),
        expiry_s=s.get("expiry", (str, int), Survey.expiry_s, convert=_positive_seconds),
        channels=s.strings("channels", Survey.channels, choices=SURVEY_CHANNELS),
    )
    s.finish()
    return survey


# Shorter than a day is a slip (minutes for days): it would erase what agents still work on.
MIN_RETENTION_S = 86400


def _privacy(s: Section | None) -> Privacy:
    if s is None:
        return Privacy()
    privacy = Privacy(retention_s=s.get("retention", (str, int), None,
                                        convert=_retention))
    s.finish()
    return privacy


def _retention(value: str | int) -> int:
    seconds = parse_seconds(value) if isinstance(value, str) else value
    if seconds < MIN_RETENTION_S:
        raise ValueError("must be at least 1d")
    return seconds


def _positive_seconds(value: str | int) -> int:
    seconds = parse_seconds(value) if isinstance(value, str) else value
    if seconds <= 0:
        raise ValueError("must be more than 0 seconds")
    return seconds


def _unique(doc: _Document, key: str, items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            doc.problem(f"{key}[{i}].id", f"duplicate {what} id {item.id!r}")
        seen.add(item.id)
    return items


def _intake(s: Section | None) -> Intake:
    if s is None:
        return Intake()
    intake = Intake(
        max_lag_s=s.get("max_lag", (str, int), Intake.max_lag_s, convert=parse_seconds),
        recover_after_s=s.get("recover_after", (str, int), Intake.recover_after_s,
                              convert=parse_seconds),
    )
    s.finish()
    return intake


def _limits(s: Section | None) -> Limits:
    if s is None:
        return Limits()
    limits = Limits(max_body_bytes=s.get("max_body_bytes", int, 1_048_576, convert=_positive))
    s.finish()
    return limits


def _media(s: Section | None) -> Media:
    if s is None:
        return Media()
    media = Media(
        directory=s.get("directory", str, Media.directory),
        max_bytes=s.get("max_bytes", int, Media.max_bytes, convert=_positive),
        allowed_types=s.strings("allowed_types", Media.allowed_types),
    )
    s.finish()
    return media


def _check_references(doc: _Document, config: Config) -> None:
    """Every queue a rule, mailbox or fallback names must exist; ids are unique."""
    known = set()
    for i, queue in enumerate(config.queues):
        if queue.id in known:
            doc.problem(f"queues[{i}].id", f"duplicate queue id {queue.id!r}")
        known.add(queue.id)

    def must_exist(path: str, queue_id: str | None) -> None:
        if queue_id is not None and queue_id not in known:
            doc.problem(path, f"unknown queue {queue_id!r}")

    must_exist("routing.default_queue", config.routing.default_queue)
    must_exist("routing.triage_queue", config.routing.triage_queue)
    for i, rule in enumerate(config.routing.rules):
        must_exist(f"routing.rules[{i}].queue", rule.queue)
        must_exist(f"routing.rules[{i}].if.queue_hint", rule.queue_hint)
    for i, queue in enumerate(config.queues):
        must_exist(f"queues[{i}].escalation_queue", queue.escalation_queue)
        if queue.wrap_up_required and not any(tag.wrap_up for tag in config.tags):
            doc.problem(f"queues[{i}].wrap_up_required",
                        "requires a wrap-up code, but no tag is one (tags: wrap_up: true)")
    must_exist("channels.webchat.queue", config.channels.webchat.queue)
    if config.channels.email is not None:
        for i, mailbox in enumerate(config.channels.email.mailboxes):
            must_exist(f"channels.email.mailboxes[{i}].queue", mailbox.queue)
    approved = (config.channels.section("twilio") or {}).get("whatsapp_templates") or {}
    for kind, name in config.notifications.whatsapp_templates.items():
        if name not in approved:
            doc.problem(f"notifications.whatsapp_templates.{kind}",
                        f"unknown template {name!r} (not one of "
                        "channels.twilio.whatsapp_templates)")
    reply_mailbox = config.channels.webchat.reply_mailbox
    mailboxes = config.channels.email.mailboxes if config.channels.email else ()
    if reply_mailbox is not None and reply_mailbox not in {m.id for m in mailboxes}:
        doc.problem("channels.webchat.reply_mailbox",
                    f"unknown mailbox {reply_mailbox!r} (not one of channels.email.mailboxes)")


def load_config_text(text: str, source: str = "config.yaml",
                     env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    doc = _Document(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        # The problem ("found character '\t' that cannot start any token"), not the context.
        message = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, [Problem("(syntax)", line, message)]) from exc
    if node is None:
        raise ConfigError(source, [Problem("(top)", 1, "the file is empty")])
    doc.index(node, "", env)
    data = yaml.SafeLoader("").construct_document(node)
    top = Section(doc, data, "")
    bh = top.section("business_hours")
    outbox = top.section("outbox", required=False)
    intake = top.section("intake", required=False)
    limits = top.section("limits", required=False)
    media = top.section("media", required=False)
    guided = top.section("guided_intake", required=False)
    public_url = top.get("public_url", str)
    config = Config(
        public_url=(public_url or "").rstrip("/"),
        timezone=top.get("timezone", str, "Asia/Baku", convert=_zone),
        business_hours=_business_hours(bh) if bh else None,
        queues=tuple(_queue(q) for q in top.sections("queues")),
        routing=_routing(r) if (r := top.section("routing")) else None,
        channels=_channels(c) if (c := top.section("channels")) else Channels(WebchatChannel(())),
        outbox=_outbox(outbox),
        intake=_intake(intake),
        limits=_limits(limits),
        media=_media(media),
        tags=_unique(doc, "tags", tuple(_tag(t) for t in top.sections("tags", required=False)),
                     "tag"),
        away_reasons=_unique(doc, "away_reasons", tuple(
            _away_reason(r) for r in top.sections("away_reasons", required=False)), "reason"),
        guided_intake=_guided_intake(doc, guided),
        dost_centres=_unique(doc, "dost_centres", tuple(
            _dost_centre(c) for c in top.sections("dost_centres", required=False)), "centre"),
        notifications=_notifications(top.section("notifications", required=False)),
        survey=_survey(top.section("survey", required=False)),
        privacy=_privacy(top.section("privacy", required=False)),
        trusted_proxies=top.get("trusted_proxies", list, (), convert=_networks),
        source=source,
        lines=MappingProxyType(doc.lines),
    )
    top.finish()
    if config.routing is not None:
        _check_references(doc, config)
    if doc.problems:
        raise ConfigError(source, sorted(doc.problems, key=lambda p: (p.line or 0, p.path)))
    return config


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = Path(path or env.get("CC_CONFIG") or "config.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem("(file)", None, exc.strerror or str(exc))]) from exc
    return load_config_text(text, str(path), env)
