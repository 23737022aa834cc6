"""Text normalisation shared by the classifier, the language detector and keyword rules.

Residents type Azerbaijani both with its letters (ə ğ ı ö ü ş ç) and without them on
phones, so every comparison happens on a folded form where "keçmək" and "kecmek" meet.
"""

import re

# Enough to decide a category from the opening of a long e-mail, small enough to keep a
# 100,000-character paste as fast as an SMS.
MAX_MODEL_CHARS = 5_000

# The letters folded to ASCII (and Russian "ё" to "е"), as str.lower() leaves them. "İ"
# becomes "i" before lower-casing, which would turn it into "i" plus a combining dot; no
# other character lower-cases to one of these letters (a test checks every code point).
_DOTTED_CAPITAL_I = "İ"
_FOLDED_LETTERS = (("ı", "i"), ("ə", "e"), ("ğ", "g"), ("ö", "o"), ("ü", "u"), ("ş", "s"),
                   ("ç", "c"), ("ё", "е"))
_NON_WORD = re.compile(r"[\W_]+")
_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
# "-- " on its own line is the standard signature delimiter (RFC 3676).
_SIGNATURE = re.compile(r"^-- ?$.*", re.MULTILINE | re.DOTALL)
# Where a reply's quoted history starts when the mail program does not prefix it with ">":
# Outlook's "Original Message" rule or From/Sent header block, and the attribution line
# ("On … wrote:", "… yazdı:", "… пишет:") in the three languages; all below it is history.
_REPLY_HISTORY = re.compile(
    r"^(?:-{3,} ?(?:Original Message|Исходное сообщение|Orijinal məktub) ?-{3,}"
    r"|(?:From|От|Kimdən): .*\n(?:Sent|Date|Отправлено|Göndərilib): "
    r"|[^\n]{0,120}\b(?:wrote|yazdı|пишет|написал|написала|написал\(а\)):[ \t]*$).*",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)


def fold(text: str) -> str:
    """Lower-case, fold Azerbaijani letters to ASCII and collapse whitespace."""
    # str.split() breaks at exactly the characters the regular expression \s matches, and
    # costs a third of it.
    return " ".join(fold_word(text).split())


# One Latin spelling for the scripts residents switch between: Azerbaijani in Cyrillic
# meets Azerbaijani in Latin letters ("гејдијјат", "qeydiyyat" → "geydiyyat"), Russian meets
# Russian typed in Latin letters ("пенсия", "pensiya"; "жалоба", "zhaloba" → "jaloba"), and
# the words both languages borrowed meet each other. Only the model reads this form.
_ROMAN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "x", "ц": "c", "ч": "c",
    "ш": "s", "щ": "s", "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    "ә": "e", "ғ": "g", "ҝ": "g", "ҹ": "c", "һ": "h", "ј": "y", "ө": "o", "ү": "u",
    "q": "g", "w": "s",
})
# Latin spellings of one sound, folded after the letters above (longest first).
_DIGRAPHS = re.compile(r"shch|sch|sh|ch|zh|kh|gh|ts|'")
_DIGRAPH_SOUNDS = {"shch": "s", "sch": "s", "sh": "s", "ch": "c", "zh": "j", "kh": "x",
                   "gh": "g", "ts": "c", "'": ""}


def romanize(folded: str) -> str:
    """`fold`ed text in one Latin spelling whatever the script it was typed in."""
    return _DIGRAPHS.sub(lambda match: _DIGRAPH_SOUNDS[match.group(0)],
                         folded.translate(_ROMAN))


def fold_word(word: str) -> str:
    """`fold` of a single word (whitespace left as it is)."""
    if word.isascii():
        return word.lower()
    # One str.replace per letter costs a fifth of str.translate with a table, which looks
    # every character of a non-ASCII text up in a dictionary.
    word = word.replace(_DOTTED_CAPITAL_I, "i").lower()
    for letter, folded in _FOLDED_LETTERS:
        word = word.replace(letter, folded)
    return word


def words(text: str) -> str:
    """Folded text with each run of non-word characters as one space, so that keyword
    phrases match across punctuation and line breaks."""
    return _NON_WORD.sub(" ", fold(text)).strip()


def strip_quotes_and_signature(text: str) -> str:
    """Drop quoted reply lines, the quoted history below a reply header and the signature
    of an e-mail: they describe earlier messages and the sender, not what this message
    asks for."""
    # Each pattern needs a character most messages lack: checking for it first spares
    # a short message three scans that could find nothing.
    if ":" in text or "---" in text:
        text = _REPLY_HISTORY.sub("", text)
    if "--" in text:
        text = _SIGNATURE.sub("", text)
    return _QUOTED_LINE.sub("", text) if ">" in text else text


def has_content(text: str) -> bool:
    """True when the text holds at least one letter or digit (not only emoji,
    punctuation, whitespace or control bytes)."""
    return any(char.isalnum() for char in text)
