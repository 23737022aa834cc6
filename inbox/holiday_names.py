"""Public holidays' names for a reader whose language the `holidays` library does not write
(Russian): its English name, read part by part ("Eid al-Adha; Independence Day",
"Victory Day (observed)", "Day off (substituted from 01/07/2024)"), each part named from
templates/console/holidays.yaml. A part the catalogue does not know stays as the library
wrote it, so a holiday added to the library shows in English rather than not at all."""

from __future__ import annotations

import functools
import re

from inbox.replies import TEMPLATES_DIR
from inbox.texts import Catalogue, fill, load_catalogue

_PART = re.compile(r"^(?P<name>[^()]+?)(?: \((?P<qualifiers>[^()]*)\))?$")
_SUBSTITUTED = re.compile(r"^substituted from (?P<date>\S+)$")


@functools.cache
def catalogue() -> Catalogue:
    return load_catalogue(TEMPLATES_DIR / "console" / "holidays.yaml")


def _qualifier(text: str, names: dict[str, str]) -> str | None:
    if text in names:
        return names[text]
    if (found := _SUBSTITUTED.match(text)) and "substituted from {date}" in names:
        return fill(names["substituted from {date}"], {"date": found["date"]})
    return None


def _part(part: str, names: dict[str, str]) -> str:
    found = _PART.match(part)
    if found is None or found["name"] not in names:
        return part
    qualifiers = [q.strip() for q in (found["qualifiers"] or "").split(",") if q.strip()]
    said = [_qualifier(q, names) for q in qualifiers]
    if None in said:
        return part
    return names[found["name"]] + (f" ({', '.join(said)})" if said else "")


def named(english: str, language: str) -> str:
    """`english` (the library's en_US name of a day) in `language`."""
    names = catalogue().get(language)
    if not names:
        return english
    return "; ".join(_part(part, names) for part in english.split("; "))
