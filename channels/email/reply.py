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

import re
from collections.abc import Callable

import quotequail
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage

_Q = QUOTED_MATCH_INCLUDE
_ADDRESS = r"<\n?[^<>\s]+@[^<>\s]+>"  # Gmail wraps a long line inside the brackets
# A signature word counts alone on its line, with at most a comma or full stop after it.
_ALONE = r"[ \t]*[,.!]?[ \t]*$"
# Where mail programs' HTML starts the quoted mail: Gmail, Apple Mail, Thunderbird, Mail.ru
# and Yandex (<blockquote>), Outlook on the web and desktop.
_QUOTE_CONTAINER = re.compile(
    r"<div[^>]*\bclass=[\"']?gmail_quote\b|<blockquote\b|<div[^>]*\bid=[\"']?"
    r"(?:divRplyFwdMsg|appendonsend)\b|<div[^>]*\b(?:class|id)=[\"']?(?:moz-cite-prefix|"
    r"yandex_quote|mail-quote-collapse)\b", re.IGNORECASE)
# A forward's banner just above the header block the library cuts at: no new text itself.
_BANNER_AT_END = re.compile(r"(?:^|\n)[ \t]*(?:-{3,}[^\n]{0,60}-{3,}|Begin forwarded message:|"
                            r"Начало переадресованного сообщения:)[ \t]*$")


def _outlook_block(names: str) -> str:
    """Outlook's quoted header block (two or more of its lines), as the library writes
    its own, with the localized names."""
    return (r"((?:(?:^|\n|\n" + _Q + r")[* ]*(?:" + names
            + r"):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})")


LANGUAGES = {
    "dost-en": {
        **MAIL_LANGUAGES["en"],
        "signatures": [r"(?:Best regards|Kind regards|Regards|Thanks|Thank you|Best wishes|"
                       r"All the best)" + _ALONE],
    },
    "dost-az": {
        # "20 noy 2026, 14:02 tarixində Leyla <leyla@gmail.com> yazdı:", the time or the
        # address keeps a resident's own "… yazdı:" sentence from counting.
        "wrote_header": r"^(" + _Q + r"(?=[^\n]*(?:\d{1,2}:\d{2}|@))[^\n]*(?:\n[^\n]*)?"
                        r"\syazd[ıi]:)$",
        "from_header": _outlook_block(r"Kimdən|Kimden|Göndərilib|Göndərildi|Kimə|Kime|"
                                      r"Surət|Mövzu|Movzu|Tarix"),
        "disclaimers": [r"Məxfilik bildirişi:", r"Diqqət:"],
        "signatures": [r"(?:Hörmətlə|Hormetle|Ehtiramla|Təşəkkürlə|Təşəkkürlər|"
                       r"Hörmətlə və təşəkkürlə)" + _ALONE,
                       r"iPhone-?dan göndərildi" + _ALONE,
                       r"(?:Android|Samsung|iPhone)[\w -]*göndərilib" + _ALONE],
        "sent_from": r"Göndərildi:? (?=iPhone|Android)",
    },
    "dost-ru": {
        # "20.11.2026 14:02, Лейла пишет:", "20 нояб. 2026 г., в 14:02, Лейла <…> написал(а):";
        # the mail programs' shape with an address at the end and no verb (Mail.ru, Yandex,
        # Gmail in Russian): "пт, 20 нояб. 2026 г. в 14:02, DOST <baku1@…>:".
        "wrote_header": r"^(" + _Q + r"(?=[^\n]*(?:\d{1,2}:\d{2}|@))[^\n]*(?:\n[^\n]*)?"
                        r"\s(?:пишет|написал|написала|написал\(а\)):)$"
                        r"|^(" + _Q + r"(?=[^\n]*\d{1,2}:\d{2})[^\n]*(?:\n[^\n]*)?"
                        + _ADDRESS + r":)$"
                        r"|^(" + _Q + r"-{3,} ?(?:Исходное сообщение|Пересылаемое сообщение|"
                        r"Начало переадресованного сообщения) ?-{3,})$",
        "from_header": _outlook_block(r"От|Отправлено|Кому|Копия|Тема|Дата"),
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
    try:
        parsed = EmailMessage(text=text, languages=list(LANGUAGES), include_english=False,
                              keep_hyphen_lists=True).read()
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
    return new, quoted.strip()


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
