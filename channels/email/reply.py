"""The new text of a mail apart from its quoted history and signature (pure).

mail-parser-reply splits a text at the headers mail programs write above the quoted
mail; it knows English and other western languages, and takes more as entries of its
`MAIL_LANGUAGES` table. We give it ours under our own names (so that a later version's
"ru" never silently changes what we cut):
- "dost-az": Gmail's and Outlook's Azerbaijani "… yazdı:" and "Kimdən: / Göndərilib:";
- "dost-ru": "… пишет:", "… написал(а):", Outlook's "От: / Отправлено:", Mail.ru's and
  Yandex's "20.11.2026, 14:02, "DOST" <baku1@…>:" and Gmail's
  "пт, 20 нояб. 2026 г. в 14:02, DOST <baku1@…>:";
- "dost-en": the library's English headers, with signature words that count only alone
  on their line (the library's "Thanks," at a line's start would cut a sentence off).
HTML without a plain part is split with quotequail first (it knows the western mail
programs' headers in HTML and Outlook's bordered header block), else before the first
element a mail program wraps the quoted mail in (Gmail's gmail_quote, a <blockquote>,
Outlook's divRplyFwdMsg): the structure the text loses. The part above is then split as
text, which takes off an Azerbaijani or Russian header line left just above the quote.

Nothing is ever cut to nothing: when the split leaves no new text (a forward without a
word, a reply written below the quote), the new text is the whole text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import quotequail
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage

# The library's quote prefix `(?:> ?)*`, made possessive: backtracking into a deep quote's
# marks costs seconds and can never make a header match.
_Q = QUOTED_MATCH_INCLUDE + "+"
_ADDRESS = r"<\n?[^<>\s]+@[^<>\s]+>"  # Gmail wraps a long line inside the brackets
# A signature word counts alone on its line, with at most a comma or full stop after it.
_ALONE = r"[ \t]*[,.!]?[ \t]*$"
_SPLIT_LIMIT = 100_000
_LONG_LINE = 300
_BLANK_RUN = re.compile(r"[ \t\xa0\u200b]{5,}")
_EMPTY_LINES = re.compile(r"\n{4,}")
_PLACEHOLDER = ("\ue000", "\ue001")  # private-use characters: no mail program writes them
_PLACEHOLDER_AT = re.compile("\ue000(\\d+)\ue001")
# Where mail programs' HTML starts the quoted mail: Gmail, Apple Mail, Thunderbird, Mail.ru
# and Yandex (<blockquote>), Outlook on the web and desktop.
_QUOTE_CONTAINER = re.compile(
    r"<div[^>]*\bclass=[\"']?gmail_quote\b|<blockquote\b|<div[^>]*\bid=[\"']?"
    r"(?:divRplyFwdMsg|appendonsend)\b|<div[^>]*\b(?:class|id)=[\"']?(?:moz-cite-prefix|"
    r"yandex_quote|mail-quote-collapse)\b", re.IGNORECASE)
# A forward's banner just above the header block the library cuts at: no new text itself.
_BANNER_AT_END = re.compile(r"(?:^|\n)[ \t]*(?:-{3,}[^\n]{0,60}-{3,}|Begin forwarded message:|"
                            r"Начало переадресованного сообщения:)[ \t]*$")


# An attribution line (one wrapped line at most) that names a time or an address: a
# resident's own "… wrote:" sentence names neither. Line lengths are bounded so that a long
# line costs linear time.
_TWO_LINES = r"[^\n]{0,300}(?:\n[^\n]{0,300})?"
_TIME = r"(?=[^\n]{0,300}\d{1,2}:\d{2})"
_TIME_OR_ADDRESS = r"(?=[^\n]{0,300}(?:\d{1,2}:\d{2}|@))"


def _header_block(sender: str, sent: str, others: str) -> str:
    """A quoted mail's header block as Outlook (and Apple Mail, forwarding) writes it: the
    sender's line first, a sent-or-date line among the next few, nothing but header lines
    in between. The library's own block takes any two of From/To/Subject/Date lines, and a
    resident's formal application ("Kimə: DOST mərkəzi / Kimdən: …") would cut there."""
    line = r"\n" + _Q + r"[* ]*(?:" + others + r"):[ *]*[^\n]{0,300}"
    return (r"(^" + _Q + r"[* ]*(?:" + sender + r"):[ *]*[^\n]{0,300}"
            + r"(?:" + line + r"){0,3}"
            + r"\n" + _Q + r"[* ]*(?:" + sent + r"):[ *]*[^\n]{0,300}"
            + r"(?:" + line + r"){0,5})")


LANGUAGES = {
    "dost-en": {
        **MAIL_LANGUAGES["en"],
        # "On Fri, Nov 20, 2026 at 2:02 PM DOST <…> wrote:", with the line's length bounded:
        # the library's own pattern takes seconds on a long line that starts with "On ".
        "wrote_header": r"^(" + _Q + r"On\s[^\n]{1,300}?(?:\n[^\n]{1,300}?)?\s?wrote:)$",
        "from_header": _header_block(r"From", r"Sent|Date", r"To|Cc|Subject|Reply-To"),
        "signatures": [r"(?:Best regards|Kind regards|Regards|Thanks|Thank you|Best wishes|"
                       r"All the best)" + _ALONE],
    },
    "dost-az": {
        # "20 noy 2026, 14:02 tarixində Leyla <leyla@gmail.com> yazdı:", the time or the
        # address keeps a resident's own "… yazdı:" sentence from counting.
        "wrote_header": r"^(" + _Q + _TIME_OR_ADDRESS + _TWO_LINES
                        + r"\syazd[ıi]:)$"
                        + r"|^(" + _Q + r"-{3,} ?(?:Yönləndirilmiş|Orijinal) (?:məktub|mesaj) ?"
                        r"-{3,})$",
        "from_header": _header_block(r"Kimdən|Kimden", r"Göndərilib|Göndərildi|Tarix",
                                     r"Kimə|Kime|Surət|Mövzu|Movzu"),
        "disclaimers": [r"Məxfilik bildirişi:", r"Diqqət:"],
        "signatures": [r"(?:Hörmətlə|Hormetle|Ehtiramla|Təşəkkürlə|Təşəkkürlər|"
                       r"Hörmətlə və təşəkkürlə)" + _ALONE,
                       r"iPhone-?dan göndərildi" + _ALONE,
                       r"(?:Android|Samsung|iPhone)[\w -]*göndərilib" + _ALONE],
        "sent_from": "",  # the az phones' line ends with the verb: a signature above
    },
    "dost-ru": {
        # "20.11.2026 14:02, Лейла пишет:", "20 нояб. 2026 г., в 14:02, Лейла <…> написал(а):";
        # the mail programs' shape with an address at the end and no verb (Mail.ru, Yandex,
        # Gmail in Russian): "пт, 20 нояб. 2026 г. в 14:02, DOST <baku1@…>:".
        "wrote_header": r"^(" + _Q + _TIME_OR_ADDRESS + _TWO_LINES
                        + r"\s(?:пишет|написал|написала|написал\(а\)):)$"
                        + r"|^(" + _Q + _TIME + _TWO_LINES + _ADDRESS + r":)$"
                        + r"|^(" + _Q + r"-{3,} ?(?:Исходное сообщение|Пересылаемое сообщение|"
                        r"Начало переадресованного сообщения) ?-{3,})$",
        "from_header": _header_block(r"От|От кого", r"Отправлено|Дата",
                                     r"Кому|Копия|Тема"),
        "disclaimers": [r"Конфиденциально:", r"Внимание:"],
        "signatures": [r"(?:С уважением|С наилучшими пожеланиями|Всего доброго|"
                       r"Заранее спасибо)" + _ALONE,
                       r"(?:Отправлено|Отправлена) (?:с|из|через) [^\n]{1,60}$"],
        "sent_from": r"Отправлено с(?= iPhone| iPad| Android| моего)",
    },
}
MAIL_LANGUAGES.update(LANGUAGES)


def split(text: str) -> tuple[str, str]:
    """(new text, quoted history with the signature) of a plain-text mail."""
    if not text.strip():
        return "", ""
    if len(text) > _SPLIT_LIMIT:
        # A quote starts within the first pages or is no quote a person can be said to
        # have written above; the rest of a huge mail is not searched.
        new, quoted = _split(text[:_SPLIT_LIMIT])
        return (new, f"{quoted}{text[_SPLIT_LIMIT:]}".strip()) if quoted else (text.strip(), "")
    return _split(text)


@functools.cache
def _patterns() -> dict[str, re.Pattern[str]]:
    """The library's three patterns for our languages, built once. It builds them anew for
    every text it reads (a tenth of a mail's parse); they depend only on the languages, and
    it takes ready ones as arguments."""
    reader = EmailMessage(text="", languages=list(LANGUAGES), include_english=False,
                          keep_hyphen_lists=True)
    return {"_header_regex": reader.HEADER_REGEX, "_signature_regex": reader.SIGNATURE_REGEX,
            "_disclaimers_regex": reader.DISCLAIMERS_REGEX}


def _split(text: str) -> tuple[str, str]:
    skeleton, long_lines = _skeleton(text)
    try:
        parsed = EmailMessage(text=skeleton, languages=list(LANGUAGES), include_english=False,
                              keep_hyphen_lists=True, **_patterns()).read()
    except Exception:  # the library's regular expressions are its own; never lose a mail
        return text.strip(), ""
    first = parsed.replies[0] if parsed.replies else None
    if first is None or first.headers:
        # The mail starts with a quote header: written below the quote, or nothing new.
        return text.strip(), ""
    new = _BANNER_AT_END.sub("", first.body).strip()
    if not new:
        return text.strip(), ""
    normalized = parsed.text.strip()
    at = normalized.find(new)
    if at == 0:
        quoted = normalized[len(new):]
    else:
        quoted = normalized.replace(new, "", 1) if at > 0 else normalized[len(first.content):]
    return _restored(new, long_lines), _restored(quoted.strip(), long_lines)


def _skeleton(text: str) -> tuple[str, list[str]]:
    """The text as the library may safely read it, and the long lines it stands in for.

    Several of the library's patterns start with `\\s*^`, which costs the square of a run of
    blank lines or spaces (twenty thousand blank lines: a minute). No header or signature is
    a long line or needs a long run of blanks, so long lines are replaced by a placeholder
    (put back afterwards), runs of blanks within a line shortened and runs of empty lines
    cut to two."""
    long_lines: list[str] = []
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = _BLANK_RUN.sub("    ", line.strip())
        if len(line) > _LONG_LINE:
            lines.append(f"{_PLACEHOLDER[0]}{len(long_lines)}{_PLACEHOLDER[1]}")
            long_lines.append(line)
        else:
            lines.append(line)
    return _EMPTY_LINES.sub("\n\n\n", "\n".join(lines)), long_lines


def _restored(text: str, long_lines: list[str]) -> str:
    if not long_lines:
        return text
    return _PLACEHOLDER_AT.sub(lambda found: long_lines[int(found.group(1))], text)


def split_html(html: str, text: str, to_text: Callable[[str], str]) -> tuple[str, str]:
    """(new text, quoted) of an HTML-only mail whose readable text is `text`; `to_text`
    turns an HTML fragment into text the same way."""
    try:
        pieces = quotequail.quote_html(html)
    except Exception:  # quotequail gives up on some markup; the text is still there
        pieces = [(True, html)]
    if len(pieces) < 2 or not pieces[0][0]:
        container = _QUOTE_CONTAINER.search(html)
        if container is None:
            return split(text)
        pieces = [(True, html[:container.start()]), (False, html[container.start():])]
    fresh = to_text(pieces[0][1])
    older = "\n\n".join(to_text(piece) for _shown, piece in pieces[1:])
    if not fresh.strip():
        return split(text)
    new, quoted = split(fresh)
    return new, "\n\n".join(part for part in (quoted, older.strip()) if part)
