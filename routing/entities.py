"""Personal data in free text: FIN, identity card number, phone number, e-mail address.

Agents see the values normalised; logs see only `mask_text` output.
"""

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import phonenumbers

_DEFAULT_REGION = "AZ"
# A national number has at least seven digits; below that the (comparatively slow)
# phone matcher cannot find anything and is skipped.
_MIN_PHONE_DIGITS = 7
# A run of digits and the separators numbers are written with. phonenumbers' matcher is
# slow (some 100 µs a text); a text with no such run of `_MIN_PHONE_DIGITS` digits (a FIN,
# a reference number, a date) has no number for it to find.
_PHONE_RUN = re.compile(r"\d(?:[\d\s().\-/\u2010-\u2015]*\d)?")

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_ID_CARD = re.compile(r"(?<!\w)(AZE|AA)[ -]?([0-9]{8}|[0-9]{7})(?!\w)", re.IGNORECASE)
_ID_CARD_DIGITS = {"AZE": 8, "AA": 7}
# The lookahead asks for an ASCII digit among the seven characters: most seven-letter words
# are then never handed to the checks below.
_FIN = re.compile(r"(?<![\w@.+-])(?=[^\W_]{0,6}[0-9])[^\W_]{7}(?![\w@-]|\.\w)")
_FIN_LABEL = re.compile(r"(?:fin|фин|pin)(?:\s*kod\w*)?\W{0,5}$", re.IGNORECASE)
_FIN_LABEL_WINDOW = 20
# Overlaps go to the more specific kind: "ab12cde@mail.az" is an address, not a FIN.
_PRIORITY = {"email": 0, "id_card": 1, "phone": 2, "fin": 3}


@dataclass(frozen=True)
class Entity:
    """One piece of personal data; `start`/`end` span the original text."""

    kind: str
    value: str
    start: int
    end: int

    def masked(self) -> str:
        """The value with enough left to recognise it, too little to identify anyone."""
        match self.kind:
            case "fin":
                return _keep(self.value, head=3, tail=0)
            case "id_card":
                return _keep(self.value, head=len(self.value) - _digits_in(self.value), tail=2)
            case "phone":
                return _keep(self.value, head=6, tail=2)
            case "email":
                local, _, domain = self.value.partition("@")
                return f"{local[:1]}***@{domain}"
        raise ValueError(f"unknown entity kind {self.kind!r}")


def find_entities(text: str) -> tuple[Entity, ...]:
    """All entities in the text, ordered by position, never overlapping."""
    candidates = [*_emails(text), *_id_cards(text), *_phones(text), *_fins(text)]
    candidates.sort(key=lambda entity: (_PRIORITY[entity.kind], entity.start))
    # Kept spans stay sorted and disjoint, so only the two neighbours of a candidate's
    # position can overlap it: linear work per candidate even for a pasted phone book.
    kept: list[Entity] = []
    starts: list[int] = []
    for candidate in candidates:
        position = bisect.bisect_left(starts, candidate.start)
        if position > 0 and kept[position - 1].end > candidate.start:
            continue
        if position < len(kept) and kept[position].start < candidate.end:
            continue
        kept.insert(position, candidate)
        starts.insert(position, candidate.start)
    return tuple(kept)


def replace_entities(
    text: str, entities: tuple[Entity, ...], render: Callable[[Entity], str]
) -> str:
    """The text with each entity's span replaced by `render(entity)`; entities must be
    ordered and non-overlapping, as `find_entities` returns them."""
    pieces: list[str] = []
    position = 0
    for entity in entities:
        pieces.append(text[position : entity.start])
        pieces.append(render(entity))
        position = entity.end
    pieces.append(text[position:])
    return "".join(pieces)


def mask_text(text: str) -> str:
    """The text with every entity replaced by its masked form, fit for logs."""
    return replace_entities(text, find_entities(text), Entity.masked)


def _emails(text: str) -> list[Entity]:
    if "@" not in text:
        return []
    return [
        Entity("email", match.group().lower(), match.start(), match.end())
        for match in _EMAIL.finditer(text)
    ]


def _id_cards(text: str) -> list[Entity]:
    found = []
    for match in _ID_CARD.finditer(text):
        prefix, digits = match.group(1).upper(), match.group(2)
        if len(digits) == _ID_CARD_DIGITS[prefix]:
            found.append(Entity("id_card", prefix + digits, match.start(), match.end()))
    return found


def _phones(text: str) -> list[Entity]:
    if not any(_digits_in(run.group()) >= _MIN_PHONE_DIGITS
               for run in _PHONE_RUN.finditer(text)):
        return []
    return [
        Entity(
            "phone",
            phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
            match.start,
            match.end,
        )
        for match in phonenumbers.PhoneNumberMatcher(text, _DEFAULT_REGION)
    ]


def _fins(text: str) -> list[Entity]:
    found = []
    for match in _FIN.finditer(text):
        token = match.group()
        if not (_has_digit_and_letter(token) and token.isascii()):
            continue
        window_start = max(0, match.start() - _FIN_LABEL_WINDOW)
        if _interleaved(token) or _FIN_LABEL.search(text, window_start, match.start()):
            found.append(Entity("fin", token.upper(), match.start(), match.end()))
    return found


def _interleaved(token: str) -> bool:
    """Digits and letters alternate at least twice, as in most FINs ("5ZJ7K2A").

    One block of digits and one of letters ("12mayda", "1000AZN", "COVID19") is far more
    often a count with its word glued on; such a FIN ("62BCDAE") is recognised only
    right after the word FIN.
    """
    changes = sum(a.isdigit() != b.isdigit() for a, b in pairwise(token))
    return changes >= 2


def _has_digit_and_letter(token: str) -> bool:
    return any(char.isdigit() for char in token) and any(char.isalpha() for char in token)


def _digits_in(text: str) -> int:
    return sum(map(str.isdigit, text))


def _keep(value: str, *, head: int, tail: int) -> str:
    hidden = max(0, len(value) - head - tail)
    return value[:head] + "*" * hidden + value[len(value) - tail :]
