"""A raw mail, as a mailbox holds it, turned into the plain facts the inbox needs (pure).

`parse_mail(raw)` reads with the stdlib parser and the modern policy, and never raises on a
malformed mail: it reads what it can and says what it could not in `Mail.notes`. Only a mail
with nothing readable at all (empty bytes, no header and no body) raises `MailUnreadable`.

Text is decoded with the charset the part declares when that decodes cleanly (no detection,
so the usual mail costs nothing extra), except that non-ASCII bytes which are valid UTF-8 are
UTF-8 whatever a single-byte label says (web forms mislabel; real windows-1251 or koi8-r text
is never valid UTF-8). A missing, unknown or failing label is tried as UTF-8 (8-bit UTF-8
without a label is common), then guessed with charset-normalizer; an HTML part without one
uses its <meta>. HTML-only mail (or mail whose plain part is empty) is turned into readable
text with inscriptis; the HTML itself is kept as received (the inbox sanitizes it with nh3
when it stores it).

Notes are stable keys, optionally followed by ": " and a detail, so that the console can
translate the key and show the detail as it is:
- "truncated": a multipart ended before its closing boundary (the mail was cut off);
- "bad-encoding: <content type>": a part's base64 or quoted-printable was damaged;
- "charset-guessed: <codec>": a part or header had no usable charset label, so it was
  guessed (detail: the codec used);
- "undecodable: <content type>": some bytes could not be decoded and were replaced;
- "unreadable-header: <name>": a header that could not be read at all (it is left empty);
- "unreadable-part: <content type>": a part that could not be read at all (it is skipped).

A part's content id (`MailPart.content_id`) is given without its angle brackets, as the
HTML's `cid:` links name it.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape

import charset_normalizer
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from channels.email import automatic, reply, thread
from channels.email.automatic import Bounce

__all__ = ["Bounce", "Mail", "MailPart", "MailUnreadable", "parse_mail", "sender_in_headers"]


class MailUnreadable(ValueError):
    """Nothing at all could be read from the bytes given as a mail."""


@dataclass(frozen=True)
class MailPart:
    """An attachment, an inline image or any part that is not the mail's text."""

    filename: str | None
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass(frozen=True)
class Mail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_address: str | None
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    date: datetime | None
    text: str                       # the whole body as text
    new_text: str                   # the text without quoted history and signature
    quoted: str                     # the quoted history (and signature) that was taken off
    html: str | None                # the HTML part as received, unsanitized
    attachments: tuple[MailPart, ...]
    notes: tuple[str, ...]
    automatic: str | None           # "auto-reply" | "bounce" | "list" | "own" | None
    bounce: Bounce | None


class _ContentHeaders(HeaderRegistry):
    """The modern policy's headers, with the Content-* ones parsed once per distinct value:
    the parser and every get_content_type() or get_param() ask for them again, and the
    policy parses them anew each time (that was two thirds of a mail's parse). Header
    objects are immutable, so one parse serves every asker; only Content-* headers are kept,
    never a subject or an address."""

    def __call__(self, name: str, value: str):  # type: ignore[override]
        if name.lower().startswith("content-"):
            return self._parsed_once(name, value)
        return super().__call__(name, value)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one registry lives as long as the process
    def _parsed_once(self, name: str, value: str):
        return super().__call__(name, value)


_PARSER = BytesParser(policy=policy.default.clone(header_factory=_ContentHeaders()))
_HEADERS_ONLY = BytesHeaderParser(policy=policy.compat32)
# An address we can answer: one local part, one domain, nothing a parser left in by mistake.
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# The usual address header, a list of `Name <local@domain>` or `local@domain` with no quoted
# string, comment, group or route in it, read by one match per address: the stdlib's
# getaddresses reads it character by character (a tenth of a mail's parse), and gives the
# same pairs for it (tests/channels/email/test_mime.py holds the two side by side).
_WORDS = r'[^\s"(),:;<>@\[\]\\]+(?:[ \t]+[^\s"(),:;<>@\[\]\\]+)*'
_SPEC = r'[^\s"(),:;<>@\[\]\\]+@[^\s"(),:;<>@\[\]\\]+'
_SIMPLE_MAILBOX = re.compile(r"[ \t]*(?:(" + _WORDS + r")?[ \t]*<(" + _SPEC + r")>|(" + _SPEC
                             + r"))[ \t]*")
# Parts the mail's text is made of; anything else (and any part named as a file) is a MailPart.
_TEXT_TYPES = ("text/plain", "text/html")
_TRUNCATION_DEFECTS = ("CloseBoundaryNotFoundDefect", "StartBoundaryNotFoundDefect",
                       "MultipartInvariantViolationDefect")
_ENCODING_DEFECTS = ("InvalidBase64PaddingDefect", "InvalidBase64CharactersDefect",
                     "InvalidBase64LengthDefect")
# Labels mail programs write that Python's codec registry does not know by that name.
# An empty codec means "no label": decode as if none had been given.
_LABEL_ALIASES = {"unicode-1-1-utf-7": "utf-7", "x-user-defined": "cp1252",
                  "ks_c_5601-1987": "cp949", "x-mac-cyrillic": "mac_cyrillic",
                  "win-1251": "cp1251", "cp-1251": "cp1251", "unknown-8bit": "",
                  "x-unknown": "", "default": "", "_iso-2022-jp$esc": "iso-2022-jp"}
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset=[\"']?([A-Za-z0-9_.:-]{1,40})",
                           re.IGNORECASE)
# Python's names of ASCII and the single-byte (and legacy Asian) codecs: text in them is
# practically never valid UTF-8.
_SINGLE_BYTE = ("ascii", "cp", "iso8859", "koi8", "mac", "tis", "hp", "ptcp")
_LARGE_HTML = 1_000_000
_INVISIBLE = ("script", "style", "title")
_BLOCK_END = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d|/table|/blockquote)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
# The strict profile: the relaxed one pads every <div> with spaces, which reads as indentation.
_HTML_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=False,
                            display_images=False)


class _Notes:
    """The notes of one parse, each once, in the order found."""

    def __init__(self) -> None:
        self.items: dict[str, None] = {}

    def add(self, note: str) -> None:
        self.items[note] = None


def parse_mail(raw: bytes, *, own_addresses: tuple[str, ...] | list[str] = ()) -> Mail:
    """The mail `raw` holds. `own_addresses` are our mailboxes' addresses (mail from one of
    them is our own and marked automatic "own")."""
    if not raw or not raw.strip():
        raise MailUnreadable("the mail is empty")
    try:
        message = _PARSER.parsebytes(raw)
    except Exception as error:  # the parser is lenient; anything it raises means nothing read
        raise MailUnreadable(f"the mail could not be parsed: {type(error).__name__}") from error
    if not message.keys() and not message.get_payload():
        raise MailUnreadable("the mail has neither headers nor a body")

    notes = _Notes()
    headers = _Headers(message, notes)
    from_name, from_address = headers.first_address("From")
    _reply_name, reply_to = headers.first_address("Reply-To")

    body = _Body(notes)
    try:
        body.read(message)
    except Exception:  # a structure the stdlib cannot walk: keep what was read before it
        notes.add(f"unreadable-part: {message.get_content_type()}")
    text = body.text()
    if body.html is not None and not any(chunk.strip() for chunk in body.plain):
        new_text, quoted = reply.split_html(body.html, text, html_to_text)
    else:
        new_text, quoted = reply.split(text)

    own = tuple(address.lower() for address in own_addresses)
    subject = headers.text("Subject")
    try:
        bounce = automatic.bounce(message, subject, from_address)
    except Exception:  # a damaged report: still a bounce (kind says so), without details
        notes.add("unreadable-part: message/delivery-status")
        bounce = None
    kind = automatic.kind(message, from_address=from_address, subject=subject,
                          own_addresses=own, bounce=bounce)
    return Mail(
        message_id=next(iter(thread.message_ids(headers.raw("Message-ID"))), None),
        in_reply_to=thread.message_ids(headers.raw("In-Reply-To")),
        references=thread.message_ids(headers.raw("References")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to=headers.addresses("To"),
        cc=headers.addresses("Cc"),
        reply_to=reply_to,
        date=headers.date(),
        text=text,
        new_text=new_text,
        quoted=quoted,
        html=body.html,
        attachments=tuple(body.parts),
        notes=tuple(notes.items),
        automatic=kind,
        bounce=bounce if kind == "bounce" else None,
    )


def sender_in_headers(raw: bytes) -> str | None:
    """The address a mail names as its sender (From, else Reply-To), read from its headers
    alone however broken the rest is: whose a mail that could not be read is."""
    try:
        headers = _Headers(_HEADERS_ONLY.parsebytes(raw), _Notes())
        return headers.first_address("From")[1] or headers.first_address("Reply-To")[1]
    except Exception:  # nothing readable there: nobody to find it by
        return None


# --- headers ----------------------------------------------------------------------------

class _Headers:
    """The mail's top-level headers, decoded by us from their raw form: the policy's own
    decoding gives up on a wrong charset label or raw 8-bit bytes, which real mail carries."""

    def __init__(self, message: Message, notes: _Notes) -> None:
        self._raw: dict[str, str] = {}
        for name, value in message.raw_items():
            self._raw.setdefault(name.lower(), _FOLD.sub("", str(value)))
        self._notes = notes

    def raw(self, name: str) -> str:
        return self._raw.get(name.lower(), "")

    def text(self, name: str) -> str:
        try:
            return decode_words(self.raw(name), self._notes, name).strip()
        except Exception:  # whatever a damaged header does, the rest of the mail is read
            self._notes.add(f"unreadable-header: {name}")
            return ""

    def addresses(self, name: str) -> tuple[str, ...]:
        return tuple(address for _name, address in self._pairs(name) if address)

    def first_address(self, name: str) -> tuple[str | None, str | None]:
        for display, address in self._pairs(name):
            if address:
                return display or None, address
        return None, None

    def _pairs(self, name: str) -> list[tuple[str, str]]:
        value = self.raw(name)
        if not value.strip():
            return []
        # Addresses are split before the names are decoded: a decoded name may hold a comma.
        pairs = simple_addresses(value)
        if pairs is None:
            try:
                pairs = getaddresses([value])
            except Exception:
                pairs = []
        found = []
        for display, address in pairs:
            address = address.strip().lower()
            if not _ADDRESS.fullmatch(address):
                continue
            try:
                display = decode_words(display, self._notes, name).strip().strip('"').strip()
            except Exception:
                display = ""
            found.append((display, _surrogates_dropped(address)))
        if not found and "@" in value:  # "undisclosed-recipients:;" names nobody, rightly
            self._notes.add(f"unreadable-header: {name}")
        return found

    def date(self) -> datetime | None:
        value = self.raw("Date").strip()
        if not value:
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            self._notes.add("unreadable-header: Date")
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)


def simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """(display name, address) of each address of a header in the usual simple form, as
    `email.utils.getaddresses` reads them; None for any other form."""
    pairs = []
    for piece in value.split(","):
        found = _SIMPLE_MAILBOX.fullmatch(piece)
        if found is None:
            return None
        display, bracketed, bare = found.groups()
        pairs.append((" ".join(display.split()) if display else "", bracketed or bare))
    return pairs


def decode_words(value: str, notes: _Notes, where: str) -> str:
    """A header value with its RFC 2047 encoded words (and any raw 8-bit bytes) decoded."""
    if "=?" not in value:
        return _surrogates_decoded(value, notes, where)
    try:
        chunks = decode_header(value)
    except Exception:  # a broken encoded word: keep the value as written
        return _surrogates_decoded(value, notes, where)
    out = []
    for chunk, label in chunks:
        if isinstance(chunk, str):
            out.append(_surrogates_decoded(chunk, notes, where))
        else:
            out.append(decode_bytes(chunk, label, notes, where))
    return "".join(out)


def _surrogates_dropped(value: str) -> str:
    """An address with raw 8-bit bytes in it cannot be written back anywhere: drop them."""
    return value.encode("utf-8", "ignore").decode("utf-8") if not value.isascii() else value


def _surrogates_decoded(value: str, notes: _Notes, where: str) -> str:
    """Raw 8-bit header bytes reach us as surrogate escapes; decode them as text."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None, notes, where)


# --- charsets ----------------------------------------------------------------------------

def codec_of(label: str | None) -> str | None:
    """Python's codec for a charset label, or None when the label names none we know."""
    if not label:
        return None
    label = label.strip().strip('"').lower()
    label = _LABEL_ALIASES.get(label, label)
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, UnicodeError, ValueError):  # unknown, or raw 8-bit in the label
        return None


def decode_bytes(data: bytes, label: str | None, notes: _Notes, where: str) -> str:
    """`data` as text: the declared charset when it decodes cleanly, else UTF-8, else a
    guess; replacement characters (and a note) only when nothing decodes cleanly.

    Non-ASCII bytes that are valid UTF-8 are taken as UTF-8 even under a single-byte label:
    text in windows-1251 or koi8-r is practically never valid UTF-8, while a web form that
    labels its UTF-8 "windows-1251" is common, and would decode "cleanly" into mojibake."""
    declared = codec_of(label)
    try_utf8_first = declared is None or declared == "utf-8" or (
        declared.startswith(_SINGLE_BYTE) and not data.isascii())
    if try_utf8_first:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if declared != "utf-8" and not data.isascii():
                notes.add("charset-guessed: utf-8")
            return text
    if declared and declared != "utf-8":
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        notes.add(f"charset-guessed: {best.encoding}")
        return str(best)
    notes.add(f"undecodable: {where}")
    return data.decode(declared or "utf-8", "replace")


# --- body --------------------------------------------------------------------------------

class _Body:
    """The mail's text, HTML and other parts, gathered in one walk."""

    def __init__(self, notes: _Notes) -> None:
        self.notes = notes
        self.plain: list[str] = []
        self.html: str | None = None
        self.parts: list[MailPart] = []

    def read(self, part: Message) -> None:
        ctype = part.get_content_type()
        if ctype.startswith("multipart/"):
            self._note_defects(part)
            children = part.get_payload()
            if not isinstance(children, list):  # a multipart without parts: read it as text
                self._leaf(part, "text/plain")
                return
            if ctype == "multipart/alternative":
                self._alternative(children)
            else:
                for child in children:
                    self.read(child)
            return
        self._leaf(part, ctype)

    def _alternative(self, children: list[Message]) -> None:
        """The plain and the HTML rendering of one text: take each once (the last of each
        kind is the richest, RFC 2046), and keep any other part found inside."""
        plain = html = None
        for child in children:
            ctype = child.get_content_type()
            if ctype == "text/plain" and not _is_file(child):
                plain = child
            elif ctype == "text/html" and not _is_file(child):
                html = child
            elif ctype.startswith("multipart/"):
                self.read(child)
            else:
                self._leaf(child, ctype)
        if plain is not None:
            self._leaf(plain, "text/plain")
        if html is not None:
            self._leaf(html, "text/html")

    def _leaf(self, part: Message, ctype: str) -> None:
        try:
            self._read_leaf(part, ctype)
        except Exception:  # a part the stdlib cannot read is skipped, the others kept
            self.notes.add(f"unreadable-part: {ctype}")
        finally:  # decoding the payload is what finds a damaged base64
            self._note_defects(part)

    def _read_leaf(self, part: Message, ctype: str) -> None:
        if ctype in _TEXT_TYPES and not _is_file(part):
            text = self._text_of(part, ctype)
            if text is None:
                return
            if ctype == "text/plain":
                self.plain.append(_unflowed(text, part) if text else text)
            elif self.html is None:
                self.html = text
            else:  # several HTML bodies (Apple Mail splits around images): one document
                self.html += text
            return
        try:
            data = _data_of(part)
        except Exception:
            self.notes.add(f"unreadable-part: {ctype}")
            return
        content_id = part.get("Content-ID")
        content_id = str(content_id).strip().strip("<>").strip() if content_id else None
        disposition = part.get_content_disposition()
        self.parts.append(MailPart(
            filename=_filename(part, self.notes),
            content_type=ctype,
            data=data,
            inline=disposition == "inline" or (disposition is None and content_id is not None),
            content_id=content_id or None,
        ))

    def _text_of(self, part: Message, ctype: str) -> str | None:
        try:
            data = part.get_payload(decode=True)
        except Exception:
            self.notes.add(f"unreadable-part: {ctype}")
            return None
        if data is None:
            return ""
        label = part.get_param("charset")
        if not label and ctype == "text/html":  # an HTML part may name it only in a <meta>
            meta = _META_CHARSET.search(data[:4096])
            label = meta.group(1).decode("ascii") if meta else None
        text = decode_bytes(data, label, self.notes, ctype)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _note_defects(self, part: Message) -> None:
        for defect in part.defects:
            name = type(defect).__name__
            if name in _TRUNCATION_DEFECTS:
                self.notes.add("truncated")
            elif name in _ENCODING_DEFECTS:
                self.notes.add(f"bad-encoding: {part.get_content_type()}")

    def text(self) -> str:
        plain = "\n\n".join(chunk.strip("\n") for chunk in self.plain if chunk.strip())
        if plain.strip():
            return plain.strip()
        if self.html:
            return html_to_text(self.html)
        return ""


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: paragraphs, lists and tables kept as lines."""
    text = ""
    if len(html) <= _LARGE_HTML:
        try:
            text = get_text(html, _HTML_CONFIG)
        except Exception:  # inscriptis gives up on some broken markup: its text is still there
            text = ""
    if not text.strip():
        # Too large to lay out (a report with thousands of table rows), nested deeper than
        # lxml goes, or markup inscriptis gave up on: the words, one block per line.
        text = unescape(_TAG.sub("", _BLOCK_END.sub("\n", _without_invisible(html))))
    lines = [line.rstrip() for line in text.replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _without_invisible(html: str) -> str:
    """The HTML without its scripts, styles and title, in linear time: each element's next
    start is searched for only once the last one is passed; an unclosed one keeps the rest."""
    lower = html.lower()
    upcoming = {name: lower.find(f"<{name}") for name in _INVISIBLE}
    kept, at = [], 0
    while True:
        found = [(start, name) for name, start in upcoming.items() if start >= 0]
        if not found:
            break
        start, name = min(found)
        end = lower.find(f"</{name}", start)
        if end < 0:
            break
        close = lower.find(">", end)
        kept.append(html[at:start])
        at = close + 1 if close >= 0 else len(html)
        for other, position in upcoming.items():
            if 0 <= position < at:
                upcoming[other] = lower.find(f"<{other}", at)
    kept.append(html[at:])
    return "".join(kept)


def _is_file(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or part.get_param(
        "name") is not None or part.get_param("filename", header="content-disposition") is not None


def _data_of(part: Message) -> bytes:
    """A part's bytes; an attached mail (message/rfc822) as the mail it is."""
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list) and len(payload) == 1 and part.get_content_type() == \
                "message/rfc822":
            return payload[0].as_bytes(policy=policy.SMTP)
        return part.as_bytes(policy=policy.SMTP)
    data = part.get_payload(decode=True)
    return data if data is not None else b""


def _filename(part: Message, notes: _Notes) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        notes.add("unreadable-header: filename")
        return None
    if not name:
        return None
    return decode_words(str(name), notes, "filename").strip() or None


def _unflowed(text: str, part: Message) -> str:
    """Plain text sent format=flowed (RFC 3676) with its soft line breaks joined: a line
    ending in a space goes on with the next line of the same quote depth."""
    if str(part.get_param("format", "")).lower() != "flowed":
        return text
    delsp = str(part.get_param("delsp", "")).lower() == "yes"
    out: list[str] = []
    joining_depth = None
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing (and the space after the quote marks)
        if joining_depth == depth:
            out[-1] += content
        else:
            out.append((">" * depth + " " if depth else "") + content)
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            out[-1] = out[-1][:-1]
        joining_depth = depth if soft else None
    return "\n".join(out)
