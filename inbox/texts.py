"""Catalogues of what people read, in az, ru and en: one YAML file whose every key holds its
text in each language (`key: {az: "…", ru: "…", en: "…"}`), turned into one catalogue per
language. The residents' chat and the agents' console read theirs through here.

A catalogue is refused as a whole when a key lacks a language or a language's text names
other `{placeholders}` than English's: found at start-up, never by a reader who meets a
blank or a raw `{name}`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from inbox.replies import REPLY_LANGUAGES

Catalogue = dict[str, dict[str, str]]   # {language: {key: text}}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def check_entries(entries: object, source: str) -> Catalogue:
    """`entries` ({key: {language: text}}) as one catalogue per language, or ValueError
    naming every key that lacks a language or differs in its placeholders."""
    if not isinstance(entries, dict):
        raise ValueError(f"{source}: expected a mapping of keys to their texts")
    problems: list[str] = []
    by_language: Catalogue = {language: {} for language in REPLY_LANGUAGES}
    for key, texts in entries.items():
        if not isinstance(texts, dict):
            problems.append(f"{key!r} is not a mapping of languages")
            continue
        missing = [language for language in REPLY_LANGUAGES
                   if not isinstance(texts.get(language), str) or not texts[language].strip()]
        if missing:
            problems.append(f"{key!r} lacks {missing}")
            continue
        expected = placeholders(texts["en"])
        for language in REPLY_LANGUAGES:
            if placeholders(texts[language]) != expected:
                problems.append(f"{key!r} in {language} names "
                                f"{sorted(placeholders(texts[language]))}, not {sorted(expected)}")
            by_language[language][key] = texts[language]
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    return by_language


def load_catalogue(path: Path) -> Catalogue:
    """The catalogue file at `path`, checked (check_entries)."""
    return check_entries(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def fill(text: str, values: dict[str, object]) -> str:
    """`text` with its `{placeholders}` replaced; one without a value stays as it is."""
    return _PLACEHOLDER.sub(
        lambda found: str(values[found[1]]) if found[1] in values else found[0], text)
