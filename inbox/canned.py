"""Canned responses: the variables their texts may name, the check of a text an admin saves,
the filling of a text for one conversation, and the shipped defaults
(templates/console/canned.yaml).

A text is literal characters and `{variable}` slots; `{{` and `}}` write a literal brace.
Filling replaces each slot once with its value as plain text: a value is never read as a
template again, so a resident who calls themself "{agent_name}" stays exactly that.

Where the responses live: the shipped ones are the defaults and are read from the file, not
copied into the database. The database holds only what admins changed: their own responses,
an edited default (same key, `is_default`) and a deleted default (a tombstone, `deleted`).
So a new database, or one whose rows were wiped, has every default, a default added by a
later release appears by itself, and resetting a default is deleting its row."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from inbox.actions import ActionError
from inbox.replies import REPLY_LANGUAGES, TEMPLATES_DIR

CANNED_FILE = TEMPLATES_DIR / "console" / "canned.yaml"
KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MAX_TITLE = 120
MAX_BODY = 4000
_NAME = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class Context:
    """What a text may be filled with for one conversation, the language aside."""

    contact_name: str | None
    agent_name: str
    conversation_id: int | None
    queue_name: str
    queue_email: str | None
    queue_names: Mapping[str, str] = field(default_factory=dict)   # by language


# The one list of variables: name -> its value for a conversation in a text's language.
VARIABLES: dict[str, Callable[[Context, str], str]] = {
    "contact_name": lambda c, language: c.contact_name or name_fallback()[language],
    "agent_name": lambda c, _language: c.agent_name,
    "conversation_id": lambda c, _language: str(c.conversation_id or ""),
    "queue": lambda c, language: c.queue_names.get(language) or c.queue_name,
    "queue_email": lambda c, _language: c.queue_email or "",
}


def parse(text: str) -> list[tuple[bool, str]]:
    """`text` as its parts in order: (False, literal text) and (True, variable name). An
    unknown variable or a brace that opens or closes nothing is a 400 naming where."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "{}" and text[index:index + 2] in ("{{", "}}"):
            literal.append(char)
            index += 2
            continue
        if char == "}":
            raise _broken(text, index)
        if char == "{":
            end = text.find("}", index + 1)
            opened_again = text.find("{", index + 1)
            if end < 0 or 0 <= opened_again < end:
                raise _broken(text, index)
            name = text[index + 1:end]
            if name not in VARIABLES:
                raise ActionError(f"unknown variable {{{name}}}; known: "
                                  f"{', '.join(VARIABLES)}", 400,
                                  code="canned_variable_unknown", variable=name[:40],
                                  known=", ".join(VARIABLES))
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, name))
            index = end + 1
            continue
        literal.append(char)
        index += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def _broken(text: str, index: int) -> ActionError:
    return ActionError(f"a brace at character {index + 1} opens or closes no variable (write "
                       "{{ or }} for a brace itself)", 400, code="canned_braces_broken",
                       position=index + 1)


def variables_in(text: str) -> list[str]:
    return [value for is_variable, value in parse(text) if is_variable]


def fill(text: str, context: Context, language: str) -> str:
    """`text` with each variable replaced by its value in `language`."""
    return "".join(VARIABLES[value](context, language) if is_variable else value
                   for is_variable, value in parse(text))


# --- what an admin saves ------------------------------------------------------------------------

def checked_key(value: Any) -> str:
    if not isinstance(value, str) or not KEY.fullmatch(value):
        raise ActionError("key must be 1 to 40 lower-case letters, digits or hyphens, "
                          "starting with a letter or digit", 400, code="canned_key_invalid")
    return value


def checked_queue(value: Any, queue_ids: Iterable[str]) -> str | None:
    """null (every queue) or a queue of the deployment."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in set(queue_ids):
        raise ActionError(f"queue must be null or one of the deployment's queues, not "
                          f"{str(value)[:60]!r}", 400, code="canned_queue_unknown")
    return value


def checked_texts(value: Any, part: str, limit: int) -> dict[str, str]:
    """{az, ru, en} of non-blank text at most `limit` characters; a body's variables known
    and its braces whole."""
    if not isinstance(value, dict) or set(value) != set(REPLY_LANGUAGES):
        raise ActionError(f"{part} must be an object with exactly the keys "
                          f"{', '.join(REPLY_LANGUAGES)}", 400, code="canned_text_invalid",
                          part=part)
    for language in REPLY_LANGUAGES:
        text = value[language]
        if not isinstance(text, str) or not text.strip() or len(text) > limit:
            raise ActionError(f"{part}.{language} must be text of 1 to {limit} characters",
                              400, code="canned_text_invalid", part=f"{part}.{language}")
        parse(text)
    return {language: value[language] for language in REPLY_LANGUAGES}


def checked_response(body: Mapping[str, Any], queue_ids: Iterable[str]) -> dict[str, Any]:
    """An admin's {queue, title, body} as stored, or the 400 of the first thing wrong."""
    return {"queue": checked_queue(body.get("queue"), queue_ids),
            "title": checked_texts(body.get("title"), "title", MAX_TITLE),
            "body": checked_texts(body.get("body"), "body", MAX_BODY)}


# --- the shipped defaults -------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _shipped_file() -> dict[str, Any]:
    with CANNED_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@lru_cache(maxsize=1)
def name_fallback() -> dict[str, str]:
    words = _shipped_file().get("name_fallback") or {}
    missing = [language for language in REPLY_LANGUAGES if not words.get(language)]
    if missing:
        raise ValueError(f"{CANNED_FILE}: name_fallback lacks {missing}")
    return dict(words)


@lru_cache(maxsize=1)
def shipped() -> dict[str, dict[str, Any]]:
    """The defaults by key: {key, queue, title, body, tags}, each title and body in every
    language and every body a text admins could save; the app refuses to start otherwise."""
    name_fallback()
    defaults: dict[str, dict[str, Any]] = {}
    for entry in _shipped_file()["responses"]:
        key = entry.get("id")
        try:
            checked_key(key)
            response = {"key": key, "queue": entry.get("queue"),
                        "title": checked_texts(entry.get("title"), "title", MAX_TITLE),
                        "body": checked_texts(entry.get("texts"), "texts", MAX_BODY),
                        # A tag like 142 reads from YAML as a number; tags are words.
                        "tags": [str(tag) for tag in entry.get("tags") or ()]}
        except ActionError as exc:
            raise ValueError(f"{CANNED_FILE}: response {key!r}: {exc}") from None
        if key in defaults:
            raise ValueError(f"{CANNED_FILE}: response {key!r} appears twice")
        defaults[key] = response
    return defaults


def effective(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every response in force: the defaults as the database overrides them (edited, or
    left out when deleted) in the file's order, then the admins' own by key. Each carries
    `is_default` and, for a default, `modified` (its row differs from the file)."""
    stored = {row["key"]: row for row in rows}
    result: list[dict[str, Any]] = []
    for key, default in shipped().items():
        row = stored.pop(key, None)
        if row is None:
            result.append({**default, "is_default": True, "modified": False})
        elif not row["deleted"]:
            result.append({**_view(row), "tags": default["tags"], "is_default": True,
                           "modified": True})
    for key in sorted(stored):
        row = stored[key]
        if not row["deleted"]:
            result.append({**_view(row), "tags": [], "is_default": False, "modified": False})
    return result


def deleted_defaults(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The defaults an admin deleted (to offer their reset)."""
    gone = {row["key"] for row in rows if row["deleted"]}
    return [{"key": key, "title": default["title"]}
            for key, default in shipped().items() if key in gone]


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"key": row["key"], "queue": row["queue"], "title": dict(row["title"]),
            "body": dict(row["body"])}


def visible(responses: Iterable[dict[str, Any]], queues: Iterable[str]) -> list[dict[str, Any]]:
    """The responses for someone working `queues`: the global ones and those queues' own."""
    allowed = set(queues)
    return [response for response in responses
            if response["queue"] is None or response["queue"] in allowed]
