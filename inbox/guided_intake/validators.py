"""Checks of one answer of the intake, by the kind of its step: each takes the resident's
text (and what the step offers) and gives the value to keep, or None when the answer is not
acceptable (the step's `error.<kind>` text then says how to correct it). Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date

FIN = re.compile(r"[0-9A-Z]{7}")
ID_CARD = re.compile(r"AZE\d{8}|AA\d{7}")
DATE_FORMS = (
    re.compile(r"(?P<d>\d{1,2})[./\-\s](?P<m>\d{1,2})[./\-\s](?P<y>\d{4})"),
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
)
OLDEST_YEAR = 1900
TEXT_MAX = 300


def _compact(text: str) -> str:
    """Upper case without spaces, dashes or dots: how people type a code on a phone."""
    return re.sub(r"[\s\-.]", "", text).upper()


def fin(text: str) -> str | None:
    """A personal identification number (FİN): 7 Latin letters and digits."""
    value = _compact(text)
    return value if FIN.fullmatch(value) else None


def id_card(text: str) -> str | None:
    """An ID card's series and number: AZE and 8 digits (new cards), AA and 7 (older)."""
    value = _compact(text)
    return value if ID_CARD.fullmatch(value) else None


def past_date(text: str, today: date) -> str | None:
    """A real calendar date before `today` (and after 1900), as ISO; DD.MM.YYYY, DD/MM/YYYY,
    DD-MM-YYYY or YYYY-MM-DD."""
    text = text.strip()
    for form in DATE_FORMS:
        found = form.fullmatch(text)
        if found is None:
            continue
        try:
            value = date(int(found["y"]), int(found["m"]), int(found["d"]))
        except ValueError:
            return None
        return value.isoformat() if value.year >= OLDEST_YEAR and value < today else None
    return None


def name(text: str) -> str | None:
    """A person's full name: at least two words of letters (hyphens and apostrophes allowed)."""
    words = text.split()
    if len(words) < 2 or len(text) > TEXT_MAX:
        return None
    for word in words:
        if not all(unicodedata.category(c).startswith("L") or c in "-'’." for c in word):
            return None
    return " ".join(words)


def free_text(text: str) -> str | None:
    value = " ".join(text.split())
    return value if value and len(value) <= TEXT_MAX else None


def choose(text: str, labels: Sequence[str]) -> int | None:
    """Which of `labels` the answer picks: its number in the list (as the numbered menu
    shows), or the label itself (a button press sends the label), ignoring case."""
    answer = " ".join(text.split()).casefold().rstrip(".")
    if answer.isdigit():
        index = int(answer) - 1
        return index if 0 <= index < len(labels) else None
    for index, label in enumerate(labels):
        if answer == label.casefold():
            return index
    return None


def words_of(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,.!?;:()«»\"']+", text.casefold()) if w]


def says(text: str, phrases: Sequence[str]) -> bool:
    """The whole answer is one of `phrases` (a command), ignoring case and end punctuation."""
    answer = " ".join(words_of(text)) or text.strip().casefold()
    return answer in phrases or text.strip().casefold() in phrases


def mentions(text: str, stems: Sequence[str]) -> bool:
    """Some word of the answer starts with one of `stems` ("operatorla" names "operator")."""
    return any(word.startswith(stem) for word in words_of(text) for stem in stems)


# The kinds a form's step may have; `engine` calls the ones that read text.
TEXT_KINDS: dict[str, Callable[[str], str | None]] = {
    "name": name, "fin": fin, "id_card": id_card, "text": free_text,
}
KINDS = frozenset({*TEXT_KINDS, "past_date", "consent", "service", "choice", "documents"})
