"""Personal data in free text: FIN, identity card number, phone number, e-mail address.

Agents see the values normalised; logs see only `mask_text` output.
"""

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from re import _constants as re_constants  # the parsed form of a pattern
from re import _parser as re_parser

import phonenumbers
from phonenumbers import phonenumbermatcher

_DEFAULT_REGION = "AZ"
# A national number has at least seven digits; below that the (comparatively slow)
# phone matcher cannot find anything and is skipped.
_MIN_PHONE_DIGITS = 7
# `_MIN_PHONE_DIGITS` digits in one run of digits and the separators numbers are written
# with. phonenumbers' matcher is slow (some 100 µs a text); a text with no such run (a FIN,
# a reference number, a date) has no number for it to find.
_PHONE_DIGITS = re.compile(rf"\d(?:[\s().\-/\u2010-\u2015]*\d){{{_MIN_PHONE_DIGITS - 1}}}")
# phonenumbers' matcher costs some 40 µs for every candidate it parses, and a message
# holds many candidates that are no number (dates, FIN digits, amounts). It is therefore
# run only on the stretches of text where a number can be: between two characters that no
# candidate of its pattern can contain (a newline, or a letter of no extension word such
# as "ext" or "доб"). Each stretch is handed over with the character on either side, so the
# matcher's own look at a candidate's neighbours sees what it sees in the whole text.
_CANDIDATE_PATTERN = phonenumbermatcher._PATTERN
# No valid number is shorter: a two-digit country code and a four-digit national number
# (Austria, Germany, Iran) make six digits; a test holds this bound below the metadata's.
_MIN_VALID_PHONE_DIGITS = 5
# The matcher gives up after this many candidates; a text shorter than that can never
# make it give up, so only such texts are cut into stretches.
_MATCHER_MAX_TRIES = 65_535


def _stretch_separators() -> str:
    """Characters no candidate can contain: newlines, and the Latin and Cyrillic letters
    the matcher's pattern does not name, ignoring case (so never a colon, which the
    matcher reads after a candidate to tell a time). Empty when the pattern holds
    anything but characters, ranges and digits (a newer phonenumbers): the matcher then
    reads the whole text."""
    members = _pattern_members(re_parser.parse(_CANDIDATE_PATTERN.pattern))
    if members is None:
        return ""
    in_pattern = re.compile(f"[{members}]", _CANDIDATE_PATTERN.flags)
    pool = "\n\r" + "".join(map(chr, [*range(0x41, 0x2B0), *range(0x400, 0x530)]))
    return "".join(char for char in pool
                   if (char in "\n\r" or char.isalpha()) and not in_pattern.match(char))


def _pattern_members(parsed: Iterable) -> str | None:
    """A character class body (without brackets) matching every character the parsed
    pattern can match, or None if it holds something other than characters, ranges of
    them, digits, groups, alternatives and repeats."""
    pieces = []
    for op, argument in parsed:
        if op is re_constants.LITERAL:
            pieces.append(re.escape(chr(argument)))
        elif op is re_constants.RANGE:
            pieces.append(f"{re.escape(chr(argument[0]))}-{re.escape(chr(argument[1]))}")
        elif op is re_constants.CATEGORY and argument is re_constants.CATEGORY_DIGIT:
            pieces.append(r"\d")
        elif op in _NESTING:
            # IN holds its items; groups and repeats hold theirs last; BRANCH its branches.
            parts = ([argument] if op is re_constants.IN else argument[1]
                     if op is re_constants.BRANCH else [argument[-1]])
            for part in parts:
                inner = _pattern_members(part)
                if inner is None:
                    return None
                pieces.append(inner)
        else:
            return None
    return "".join(pieces)


_NESTING = (re_constants.IN, re_constants.SUBPATTERN, re_constants.MAX_REPEAT,
            re_constants.MIN_REPEAT, re_constants.BRANCH)


_SEPARATORS = re.escape(_stretch_separators())
# A whole stretch (it starts after a separator or at the start) holding at least
# `_MIN_VALID_PHONE_DIGITS` digits; possessive, so a long stretch is read once.
_PHONE_STRETCH = re.compile(
    rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}\d]*+"
    rf"(?:\d[^{_SEPARATORS}\d]*+){{{_MIN_VALID_PHONE_DIGITS},}}+"
) if _SEPARATORS else None

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_ID_CARD = re.compile(r"(?<!\w)(AZE|AA)[ -]?([0-9]{8}|[0-9]{7})(?!\w)", re.IGNORECASE)
_ID_CARD_DIGITS = {"AZE": 8, "AA": 7}
# The lookahead asks for an ASCII digit among the seven characters: most seven-letter words
# are then never handed to the checks below.
_FIN = re.compile(r"(?<![\w@.+-])(?=[^\W_]{0,6}[0-9])[^\W_]{7}(?![\w@-]|\.\w)")
# A FIN is a whole run of word characters (its expression looks behind and ahead for
# none), so only the last seven characters of a run holding an ASCII digit can be one.
# Trying `_FIN` there alone spares trying it at every position of the text.
_DIGIT_WORD_TAIL = re.compile(r"[0-9]\w*")
_FIN_CHARS = 7
_FIN_LABEL = re.compile(r"(?:fin|фин|pin)(?:\s*kod\w*)?\W{0,5}$", re.IGNORECASE)
_FIN_LABEL_WINDOW = 20
_ASCII_DIGIT = re.compile("[0-9]")
_DIGIT = re.compile(r"\d")
# An identity card number holds seven ASCII digits in a row: a search starting at a digit
# finds them at half the cost of the number's own expression, which most digits fail.
_SEVEN_ASCII_DIGITS = re.compile("[0-9]{7}")
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
    # Every entity but an address holds a digit; most messages hold neither.
    if "@" not in text and not _DIGIT.search(text):
        return ()
    candidates = [*_emails(text), *_phones(text)]
    # A FIN and an identity card number both hold ASCII digits; most messages hold none,
    # and their two expressions would try every position to learn so.
    if _ASCII_DIGIT.search(text):
        candidates += [*_fins(text)]
        if _SEVEN_ASCII_DIGITS.search(text):
            candidates += [*_id_cards(text)]
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
    if not entities:
        return text
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


def mask_value(kind: str, value: str) -> str:
    """A value already known to be of `kind` (a contact's stored phone or e-mail), masked as
    `mask_text` masks it inside a text: no search, and masked even where a text search would
    not recognise it (a short code, an address without a top-level domain)."""
    return Entity(kind, value, 0, len(value)).masked()


def clear_cache() -> None:
    """Forget the phone numbers of every stretch of text seen so far."""
    _matched_in_short.cache_clear()


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
    if not _PHONE_DIGITS.search(text):
        return []
    if _PHONE_STRETCH is None or len(text) >= _MATCHER_MAX_TRIES:
        return _matched_phones(text, 0, len(text))
    found = []
    for stretch in _PHONE_STRETCH.finditer(text):
        found += _matched_phones(text, max(0, stretch.start() - 1),
                                 min(len(text), stretch.end() + 1))
    return found


def _matched_phones(text: str, start: int, end: int) -> list[Entity]:
    """The matcher's numbers in text[start:end], placed in the whole text."""
    stretch = text[start:end]
    matched = (_matched_in_short(stretch) if len(stretch) <= _CACHED_STRETCH_CHARS
               else _matched_in(stretch))
    return [Entity("phone", value, start + offset, start + offset_end)
            for value, offset, offset_end in matched]


def _matched_in(stretch: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
         match.start, match.end)
        for match in phonenumbers.PhoneNumberMatcher(stretch, _DEFAULT_REGION)
    )


# The same stretch comes back often (the centre's own numbers, the date in the reply
# headers of a day's e-mail), and the matcher's answer depends on its text alone. Only
# short stretches are kept, so that the cache stays small whatever residents paste.
_CACHED_STRETCH_CHARS = 100
_matched_in_short = functools.lru_cache(maxsize=4_096)(_matched_in)


def _fins(text: str) -> list[Entity]:
    found = []
    for tail in _DIGIT_WORD_TAIL.finditer(text):
        match = _FIN.match(text, max(0, tail.end() - _FIN_CHARS))
        if match is None:
            continue
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
