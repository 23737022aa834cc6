"""Our outgoing mail composed (pure): the thread it answers, its subject, its mailbox, its
bodies in the resident's language and the MIME message."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from channels.email import compose
from settings import Mailbox, load_config_text
from tests.conftest import TEST_CONFIG

SENT_AT = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
OUR_ACK = "<dost.7.2.0123456789abcdef@dost.example.gov.az>"


def inbound(row_id, message_id, subject="Pensiya", mailbox="baku1"):
    return {"id": row_id, "channel": "email", "direction": "in", "external_id": f"baku1:{row_id}",
            "extra": {"email": {"subject": subject, "message_id": message_id,
                                "mailbox": mailbox}}}


def outbound(row_id, external_id):
    return {"id": row_id, "channel": "email", "direction": "out", "external_id": external_id,
            "extra": None}


def test_the_thread_answers_the_residents_latest_mail_root_first_parent_last():
    rows = [inbound(1, "<first@mail.ru>", "Pensiya müraciəti"),
            outbound(2, OUR_ACK),
            inbound(3, "<second@mail.ru>", "Re: Pensiya müraciəti [DOST-7]", mailbox="baku2"),
            outbound(4, None),                         # queued, never sent: no id
            inbound(6, "<later@mail.ru>", "Sonrakı")]  # after our message: not answered
    facts = compose.mail_thread("<root@mail.ru>", rows, before_message_id=5)
    assert facts == compose.MailThread(
        subject="Re: Pensiya müraciəti [DOST-7]", in_reply_to="<second@mail.ru>",
        references=("<root@mail.ru>", "<first@mail.ru>", OUR_ACK, "<second@mail.ru>"),
        mailbox_id="baku2")


def test_a_mail_without_message_id_or_subject_leaves_the_last_ones_that_had_them():
    rows = [inbound(1, "<first@mail.ru>"), inbound(2, None, subject=" "),
            outbound(3, "not an id"), {**inbound(4, None), "extra": ["not", "a mapping"]}]
    facts = compose.mail_thread(" <root@mail.ru> ", rows, before_message_id=9)
    assert facts.in_reply_to == "<first@mail.ru>" and facts.subject == "Pensiya"
    assert facts.references == ("<root@mail.ru>", "<first@mail.ru>")


def test_a_conversation_without_mail_has_no_thread():
    assert compose.mail_thread(None, [], 1) == compose.MailThread(None, None, (), None)


def test_long_references_keep_the_root_and_the_latest():
    ids = [f"<{n}@x>" for n in range(50)]
    capped = compose.capped_references(ids)
    assert len(capped) == compose.MAX_REFERENCES
    assert capped[0] == "<0@x>" and capped[1] == "<31@x>" and capped[-1] == "<49@x>"
    assert compose.capped_references(ids[:3]) == tuple(ids[:3])


def test_the_subject_is_the_agents_or_re_the_residents_with_the_token_once():
    assert compose.subject_of(None, "RE: Fwd: Pensiya  müraciəti", 7) == \
        "Re: Pensiya müraciəti [DOST-7]"
    assert compose.subject_of("", "Re: Pensiya [DOST-7]", 7) == "Re: Pensiya [DOST-7]"
    assert compose.subject_of(None, None, 7) == "Re: [DOST-7]"
    assert compose.subject_of("Sənədləriniz hazırdır", "Pensiya", 7) == \
        "Sənədləriniz hazırdır [DOST-7]"
    assert compose.subject_of("Sənədlər [DOST-7]", "Pensiya", 7) == "Sənədlər [DOST-7]"


MAILBOXES = """    mailboxes:
      - {id: baku1, address: baku1@dost.example.gov.az, queue: dost-baku-1,
         imap: {host: imap.example.gov.az, user: baku1, password: x},
         smtp: {host: smtp.example.gov.az},
         signature: {ru: "С уважением,\\nЦентр ДОСТ №1"}}
      - {id: baku2, address: baku2@dost.example.gov.az, queue: dost-baku-2,
         imap: {host: imap.example.gov.az, user: baku1, password: x},
         smtp: {host: smtp.example.gov.az}}
"""


@pytest.fixture(scope="module")
def two_mailboxes():
    text = TEST_CONFIG.read_text().replace("    mailboxes: []\n", MAILBOXES)
    return load_config_text(text, env={})


def test_mail_leaves_from_the_mailbox_the_resident_wrote_to_else_the_queues(two_mailboxes):
    assert compose.mailbox_for(two_mailboxes, "baku2", "dost-baku-1").id == "baku2"
    # Begun by an agent, or its mailbox since removed: the queue's.
    assert compose.mailbox_for(two_mailboxes, None, "dost-baku-1").id == "baku1"
    assert compose.mailbox_for(two_mailboxes, "gone", "dost-baku-2").id == "baku2"
    with pytest.raises(ValueError, match=r"no mailbox of channels\.email\.mailboxes serves "
                                         r"the queue 'triage'"):
        compose.mailbox_for(two_mailboxes, None, "triage")
    with pytest.raises(ValueError, match="'gone' this conversation came through"):
        compose.mailbox_for(two_mailboxes, "gone", "triage")


def test_the_signature_is_the_mailboxes_else_the_templates(two_mailboxes):
    baku1, baku2 = two_mailboxes.channels.email.mailboxes
    assert compose.signature_of(baku1, "ru", "1 saylı") == "С уважением,\nЦентр ДОСТ №1"
    assert compose.signature_of(baku1, "az", "1 saylı Bakı DOST Mərkəzi") == \
        "Hörmətlə,\n1 saylı Bakı DOST Mərkəzi\nbaku1@dost.example.gov.az"
    assert compose.signature_of(baku2, "en", None) == \
        "Kind regards,\nbaku2@dost.example.gov.az"
    assert compose.signature_of(baku2, "de", "Mərkəz").startswith("Hörmətlə,")


def test_the_message_ids_random_part_is_the_same_for_every_attempt():
    first = compose.unique_part(b"secret", 42)
    assert first == compose.unique_part(b"secret", 42)
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != compose.unique_part(b"secret", 43)
    assert first != compose.unique_part(b"other secret", 42)


def draft(**changes):
    values = dict(
        conversation_id=7, message_id="<dost.7.5.00ff00ff00ff00ff@dost.example.gov.az>",
        sender="baku1@dost.example.gov.az", sender_name="1 saylı Bakı DOST Mərkəzi",
        recipient="ivan.petrov@mail.ru", subject="Re: Пенсия [DOST-7]", language="ru",
        body="Здравствуйте!\nВаша пенсия <b>назначена</b> & выплачена.",
        signature="С уважением,\nЦентр ДОСТ №1", sent_at=SENT_AT,
        in_reply_to="<second@mail.ru>", references=("<root@mail.ru>", "<second@mail.ru>"))
    return compose.Draft(**{**values, **changes})


def parsed(message):
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_a_reply_carries_the_thread_and_both_bodies_in_the_residents_language():
    mail = parsed(compose.compose(draft()))
    assert mail["From"].addresses[0].addr_spec == "baku1@dost.example.gov.az"
    assert mail["From"].addresses[0].display_name == "1 saylı Bakı DOST Mərkəzi"
    assert mail["To"] == "ivan.petrov@mail.ru"
    assert mail["Subject"] == "Re: Пенсия [DOST-7]"
    assert mail["Message-ID"] == "<dost.7.5.00ff00ff00ff00ff@dost.example.gov.az>"
    assert mail["In-Reply-To"] == "<second@mail.ru>"
    assert mail["References"] == "<root@mail.ru> <second@mail.ru>"
    assert mail["Date"].datetime == SENT_AT
    assert mail["Content-Language"] == "ru"
    assert mail["Auto-Submitted"] is None and mail["X-Auto-Response-Suppress"] is None
    text = mail.get_body(("plain",)).get_content()
    assert text == ("Здравствуйте!\nВаша пенсия <b>назначена</b> & выплачена.\n\n-- \n"
                    "С уважением,\nЦентр ДОСТ №1\n\nОбращение № 7. Отвечайте на это письмо и "
                    "не удаляйте [DOST-7] из темы.\n")
    html = mail.get_body(("html",)).get_content()
    # The agent's words escaped, their line breaks kept.
    assert ("<div>Здравствуйте!<br>\nВаша пенсия &lt;b&gt;назначена&lt;/b&gt; &amp; "
            "выплачена.</div>") in html
    assert "С уважением,<br>\nЦентр ДОСТ №1" in html and '<html lang="ru">' in html
    assert "<title>Re: Пенсия [DOST-7]</title>" in html


@pytest.mark.parametrize(("language", "footer"), [
    ("az", "Müraciət № 7. Cavabınızı bu məktuba cavab kimi göndərin"),
    ("en", "Request No. 7. Please reply to this mail and keep [DOST-7] in the subject."),
    ("ru", "Обращение № 7."),
    ("tr", "Müraciət № 7."),                    # unknown: Azerbaijani
])
def test_every_language_has_its_bodies(language, footer):
    mail = parsed(compose.compose(draft(language=language)))
    assert footer in mail.get_body(("plain",)).get_content()
    assert footer in mail.get_body(("html",)).get_content()


def test_automatic_mail_says_so_and_a_first_mail_has_no_thread_headers():
    mail = parsed(compose.compose(draft(automatic=True, in_reply_to=None, references=())))
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["In-Reply-To"] is None and mail["References"] is None


def test_attachments_follow_the_bodies():
    files = (compose.FileAttachment("arayış.pdf", "application/pdf", b"%PDF-1.4 fake"),
             compose.FileAttachment("photo", "weird", b"\x89PNG"))
    mail = parsed(compose.compose(draft(attachments=files)))
    assert mail.get_content_type() == "multipart/mixed"
    parts = list(mail.iter_attachments())
    assert [(p.get_filename(), p.get_content_type(), p.get_content()) for p in parts] == [
        ("arayış.pdf", "application/pdf", b"%PDF-1.4 fake"),
        ("photo", "application/octet-stream", b"\x89PNG")]
    assert mail.get_body(("plain",)).get_content().startswith("Здравствуйте!")


def test_a_mailbox_without_signature_config_has_an_empty_one():
    mailbox = Mailbox(id="x", address="x@example.gov.az", queue="q", imap={}, smtp={})
    assert mailbox.signature == {}


def test_nothing_a_resident_or_agent_wrote_is_markup_in_the_html():
    mail = parsed(compose.compose(draft(subject='Re: <img src=x onerror="alert(1)"> & co',
                                        signature="<b>Mərkəz</b>")))
    html = mail.get_body(("html",)).get_content()
    assert "<title>Re: &lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co</title>" in html
    assert "&lt;b&gt;Mərkəz&lt;/b&gt;" in html and "<img" not in html


def test_a_body_that_ends_with_the_signature_does_not_get_it_twice():
    body = "Sənədlər hazırdır.\n\nС уважением,\nЦентр ДОСТ №1"
    mail = parsed(compose.compose(draft(body=body)))
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith(body + "\n\nОбращение № 7.")
    assert mail.get_body(("html",)).get_content().count("Центр ДОСТ №1") == 1


def test_without_a_signature_the_body_ends_the_letter():
    mail = parsed(compose.compose(draft(body="Salam", signature="")))
    assert mail.get_body(("plain",)).get_content().startswith("Salam\n\nОбращение № 7.")
    assert "margin-top: 24px; color: #444" not in mail.get_body(("html",)).get_content()


def test_the_console_is_offered_what_the_send_would_use(two_mailboxes):
    composer = compose.COMPOSER
    assert composer.reply_subject("RE: Pensiya", 7) == "Re: Pensiya [DOST-7]"
    assert composer.signature(two_mailboxes, "baku1", "dost-baku-2", "ru") == \
        "С уважением,\nЦентр ДОСТ №1"
    # No signature in config: the templates' default, which the mail carries too.
    assert composer.signature(two_mailboxes, None, "dost-baku-2", "az") == \
        "Hörmətlə,\n2 saylı Bakı DOST Mərkəzi\nbaku2@dost.example.gov.az"
    assert composer.signature(two_mailboxes, None, "triage", "az") is None
