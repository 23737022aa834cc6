"""Residents' mails to the DOST centres as the e-mail channel hands them to the inbox (the
brief's conventions: channel "email", the new text, the sanitizable HTML, and the facts the
console shows in extra["email"]). Used by the API and the browser tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from inbox.messages import Attachment, InboundMessage

BAKU_1 = "baku1@dost.example.gov.az"
BAKU_2 = "baku2@dost.example.gov.az"

# The signatures the tests' mailboxes carry (config `channels.email.mailboxes[].signature`).
SIGNATURES = {
    "az": "Hörmətlə,\n1 saylı Bakı DOST Mərkəzi\nTel.: 142",
    "ru": "С уважением,\nБакинский центр DOST № 1\nТел.: 142",
    "en": "Kind regards,\nBaku DOST Centre No. 1\nPhone: 142",
}

DISABILITY_SUBJECT = "Re: Əlillik dərəcəsinin təyini üçün müraciət"
DISABILITY_TEXT = ("Hörmətli mərkəz əməkdaşları,\n\n"
                   "Tələb etdiyiniz sənədləri əlavə edirəm: şəxsiyyət vəsiqəmin surəti və "
                   "tibbi arayış. Tibb müəssisəsindən alınan forma № 088 hələ hazır deyil, "
                   "gələn həftə göndərəcəyəm.\n\nXahiş edirəm müraciətimin nə vaxt "
                   "baxılacağını bildirin.\n\nAygün Rəhimova")
DISABILITY_QUOTED = ("14 noyabr 2026, 10:12 tarixində 1 saylı Bakı DOST Mərkəzi "
                     "<baku1@dost.example.gov.az> yazdı:\n"
                     "> Hörmətli Aygün xanım,\n"
                     "> Müraciətinizə baxmaq üçün şəxsiyyət vəsiqənizin surəti və tibbi "
                     "arayış lazımdır.\n> Hörmətlə, DOST Mərkəzi")
DISABILITY_HTML = ("<div><p>Hörmətli mərkəz əməkdaşları,</p>"
                   "<p>Tələb etdiyiniz sənədləri əlavə edirəm: <b>şəxsiyyət vəsiqəmin surəti</b> "
                   "və tibbi arayış.</p><p onclick=\"steal()\">Aygün Rəhimova</p>"
                   "<script>window.__pwned = 1</script>"
                   "<blockquote>Hörmətli Aygün xanım, müraciətinizə baxmaq üçün …</blockquote>"
                   "</div>")

CHILDCARE_SUBJECT = "Заявление на пособие по уходу за ребёнком"
CHILDCARE_TEXT = ("Здравствуйте!\n\nПрошу разъяснить, какие документы нужны для назначения "
                  "пособия по уходу за ребёнком до трёх лет. Я зарегистрирована в Баку, "
                  "ребёнку 8 месяцев.\n\nИрина Садыхова")


def _external_id(mailbox: str, raw: str) -> str:
    return f"{mailbox}:{hashlib.sha256(raw.encode('utf-8')).hexdigest()}"


def disability_mail(*, mailbox: str = "baku-1", queue: str = "dost-baku-1",
                    attachments: tuple[Attachment, ...] = ()) -> InboundMessage:
    """Aygün Rəhimova answers the centre from Mail.ru with her documents, her brother in cc."""
    address = "aygun.rehimova@mail.ru"
    return InboundMessage(
        channel="email", external_id=_external_id(mailbox, DISABILITY_TEXT + DISABILITY_QUOTED),
        address=address, display_name="Aygün Rəhimova", text=DISABILITY_TEXT,
        html=DISABILITY_HTML, received_at=datetime.now(UTC), queue_hint=queue,
        attachments=attachments, thread_key="<a1b2c3@mail.ru>", replies_to=(),
        extra={"email": {
            "subject": DISABILITY_SUBJECT, "from": address, "from_name": "Aygün Rəhimova",
            "to": [BAKU_1], "cc": ["elvin.rehimov@gmail.com", "Baku2 <" + BAKU_2 + ">"],
            "message_id": "<a1b2c3@mail.ru>", "in_reply_to": None,
            "quoted": DISABILITY_QUOTED,
            "notes": ["The part “arayis.tif” could not be read (broken base64); it is left out."],
            "mailbox": mailbox}})


def childcare_mail(*, mailbox: str = "baku-1", queue: str = "dost-baku-1") -> InboundMessage:
    """Irina Sadykhova writes in Russian from Yandex; plain text, nothing quoted."""
    address = "irina.sadykhova@yandex.ru"
    return InboundMessage(
        channel="email", external_id=_external_id(mailbox, CHILDCARE_TEXT),
        address=address, display_name="Ирина Садыхова", text=CHILDCARE_TEXT,
        received_at=datetime.now(UTC), queue_hint=queue, language="ru",
        thread_key="<f00d@yandex.ru>",
        extra={"email": {
            "subject": CHILDCARE_SUBJECT, "from": address, "from_name": "Ирина Садыхова",
            "to": [BAKU_1], "cc": [], "message_id": "<f00d@yandex.ru>", "in_reply_to": None,
            "quoted": "", "notes": [], "mailbox": mailbox}})


def mailbox_yaml(queue: str = "dost-baku-1") -> str:
    """The `channels.email.mailboxes` entry of the tests' Baku No. 1 box, with signatures."""
    lines = ["      - id: baku-1", f"        address: {BAKU_1}", f"        queue: {queue}",
             "        imap: {host: 127.0.0.1, port: 1143, user: baku1, password: test}",
             "        smtp: {host: 127.0.0.1, port: 1025, user: baku1, password: test}",
             "        signature:"]
    for language, text in SIGNATURES.items():
        escaped = text.replace("\n", "\\n")
        lines.append(f'          {language}: "{escaped}"')
    return "\n".join(lines) + "\n"
