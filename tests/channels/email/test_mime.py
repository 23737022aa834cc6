"""A raw mail to a Mail: real mail programs' shapes (fixtures/), then the edges a mailbox
holds sooner or later (empty, attachments only, huge folding, damaged base64, charsets that
lie, a mail inside a mail)."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path

import pytest

from channels.email.mime import Mail, MailUnreadable, html_to_text, parse_mail, simple_addresses

FIXTURES = Path(__file__).parent / "fixtures"
OURS = ("baku1@dost.example.gov.az", "baku2@dost.example.gov.az")
OUR_ID = "<dost.1234.98.a1b2c3d4e5f60718@dost.example.gov.az>"
BAKU = timezone(timedelta(hours=4))


def parse(name: str) -> Mail:
    return parse_mail((FIXTURES / name).read_bytes(), own_addresses=OURS)


# Each fixture: the fields that matter for it, exactly. new_text always.
CASES = {
    "outlook_ru_reply.eml": dict(
        from_address="rashad.aliyev@outlook.com", from_name="Рашад Алиев",
        subject="RE: Pensiya müraciəti [DOST-1234]", in_reply_to=(OUR_ID,),
        references=(OUR_ID,), to=("baku1@dost.example.gov.az",),
        date=datetime(2026, 11, 23, 5, 41, 9, tzinfo=UTC), automatic=None, notes=(),
        new_text="Добрый день!\n\nВысылаю копию удостоверения личности, ФИН 5ZK7HXM. Прошу "
                 "ускорить назначение пенсии по возрасту."),
    "gmail_az_reply.eml": dict(
        from_address="leyla.mammadova@gmail.com", from_name="Leyla Məmmədova",
        subject="Re: Pensiya müraciəti [DOST-1234]", in_reply_to=(OUR_ID,),
        references=("<dost.1234.97.0f1e2d3c4b5a6978@dost.example.gov.az>", OUR_ID),
        automatic=None, notes=(),
        new_text="Salam,\n\nSənədləri DOST mərkəzinə sabah gətirə bilərəmmi? Əlillik "
                 "pensiyası üçün arayış\nhazırdır."),
    "gmail_ru_reply.eml": dict(
        from_address="igor.petrov1979@gmail.com", from_name="Игорь Петров",
        subject="Re: Pensiya müraciəti [DOST-1234]", automatic=None, html=None,
        new_text="Здравствуйте.\nКогда будет готово решение по пособию? Заявление подавал "
                 "2 ноября в DOST центре."),
    "mailru_koi8r.eml": dict(
        from_address="nina.sergeeva55@mail.ru", from_name="Нина Сергеева",
        subject="Re: Отказ в пенсии [DOST-1234]", notes=(),
        new_text="Здравствуйте!\n\nМне отказали в назначении пенсии по инвалидности, хотя "
                 "все справки сданы.\nФИН 7QM2PLX. Прошу пересмотреть.\n\nНина Сергеевна"),
    "yandex_cp1251.eml": dict(
        from_address="aydin.huseynov@yandex.ru", from_name="Айдын Гусейнов",
        subject="Re: Пособие по уходу за ребёнком [DOST-1301]", notes=(),
        in_reply_to=("<dost.1301.412.9a8b7c6d5e4f3021@dost.example.gov.az>",),
        new_text="Добрый день.\nПодскажите, какие документы нужны для оформления пособия по "
                 "уходу за ребёнком?\nУ меня есть удостоверение личности и свидетельство о "
                 "рождении."),
    "thunderbird_flowed_nolabel.eml": dict(
        from_address="marina.kovalenko@gmail.com", subject="Re: Заявление [DOST-1288]",
        notes=("charset-guessed: utf-8",),
        new_text="Здравствуйте, отправляю ещё раз заявление на пособие, в прошлый раз "
                 "вложение не открылось."),
    "iphone_html_only.eml": dict(
        from_address="elchin.huseynov@icloud.com", from_name="Elçin Hüseynov",
        subject="Re: FIN müraciəti [DOST-1310]",
        new_text="Salam. FİN kodum 5ZK7HXM, şəxsiyyət vəsiqəmin müddəti bitib. Pensiya "
                 "kartını necə yeniləyə bilərəm?"),
    "outlookcom_html_only.eml": dict(
        from_address="kamran.ismayilov@outlook.com", subject="Re: Məşğulluq [DOST-1322]",
        new_text="Salam, işsiz kişi kimi qeydiyyata alınmaq üçün nə lazımdır?\n"
                 "Təşəkkür edirəm, Kamran"),
    "mailru_attachments.eml": dict(
        from_address="gulnara.aliyeva@mail.ru", from_name="Гюльнара Алиева",
        subject="Заявление на АСП, ФИН 5ZK7HXM", to=("baku2@dost.example.gov.az",),
        cc=("tural.aliyev@mail.ru",), reply_to="gulnara.aliyeva@mail.ru", in_reply_to=(),
        references=(), automatic=None,
        new_text="Здравствуйте!\nПрикладываю скан удостоверения личности (ФИН 5ZK7HXM) и "
                 "фото справки.\nПрошу принять заявление на адресную социальную помощь.",
        quoted="--\nГюльнара Алиева"),
    "outlook_out_of_office.eml": dict(
        automatic="auto-reply", bounce=None,
        new_text="Salam, 30 noyabradək məzuniyyətdəyəm, qayıdanda cavab verəcəyəm."),
    "mailing_list.eml": dict(
        automatic="list", subject="[e-gov] Həftəlik xəbərlər",
        new_text="Bu həftə e-gov.az portalında 12 yeni xidmət istifadəyə verildi."),
    "no_message_id.eml": dict(
        message_id=None, from_address="sakin@mail.ru", from_name=None, automatic=None,
        date=datetime(2026, 11, 24, 14, 0, tzinfo=BAKU), notes=(),
        new_text="Salam. Ünvanlı sosial yardım üçün hara müraciət etməliyəm?"),
    "truncated_multipart.eml": dict(
        subject="Əlillik arayişi", notes=("truncated", "bad-encoding: application/pdf"),
        new_text="Salam, əlillik arayışını əlavə edirəm. FİN: 6RT4NBV."),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_reads_as_the_mail_program_wrote_it(name):
    mail = parse(name)
    for field, expected in CASES[name].items():
        assert getattr(mail, field) == expected, field
    # The new text is the start of the whole text, and never empty when there is text.
    assert mail.new_text and mail.text.replace(" ", "").startswith(
        mail.new_text.replace(" ", "")[:20])


def test_every_fixture_is_covered():
    names = {path.name for path in FIXTURES.glob("*.eml")}
    assert names == set(CASES) | {"postfix_dsn_bounce.eml", "exim_bounce.eml"}


def test_outlook_keeps_its_html_and_the_quote_apart():
    mail = parse("outlook_ru_reply.eml")
    assert mail.html.startswith("<html xmlns:v=") and 'class="MsoNormal"' in mail.html
    assert mail.quoted.startswith("С уважением,\nРашад Алиев\nтел. +994 50 123 45 67")
    assert "От: DOST Bakı 1 <baku1@dost.example.gov.az>\nОтправлено: пятница" in mail.quoted
    assert mail.message_id == ("<AM9P193MB1234C0FFEE5E5A6B7C8D9E0FA1B2C@AM9P193MB1234."
                               "EURP193.PROD.OUTLOOK.COM>")


def test_html_only_mail_becomes_readable_text_and_keeps_the_html():
    mail = parse("outlookcom_html_only.eml")
    assert mail.text == (
        "Salam, işsiz kişi kimi qeydiyyata alınmaq üçün nə lazımdır?\n"
        "Təşəkkür edirəm, Kamran\n"
        "From: DOST Baku 1 <baku1@dost.example.gov.az>\n"
        "Sent: Friday, November 20, 2026 2:02 PM\n"
        "To: kamran.ismayilov@outlook.com <kamran.ismayilov@outlook.com>\n"
        "Subject: Məşğulluq [DOST-1322]\n"
        "Hörmətli Kamran bəy, sualınızı göndərin.")
    assert 'id="divRplyFwdMsg"' in mail.html
    assert mail.quoted.startswith("From: DOST Baku 1")
    iphone = parse("iphone_html_only.eml")
    assert iphone.quoted == ("Sent from my iPhone\n\nOn 20 Nov 2026, at 14:02, DOST Bakı 1 "
                             "<baku1@dost.example.gov.az> wrote:\n\n"
                             "Hörmətli vətəndaş, FİN kodunuzu yazın.")


def test_attachments_and_inline_images_are_parts_with_their_names():
    mail = parse("mailru_attachments.eml")
    image, pdf = mail.attachments
    assert (image.filename, image.content_type, image.inline, image.content_id) == (
        "spravka.png", "image/png", True, "17323571300000000123@mail.ru")
    assert image.data.startswith(b"\x89PNG\r\n")
    assert f"cid:{image.content_id}" in mail.html
    assert (pdf.filename, pdf.content_type, pdf.inline, pdf.content_id) == (
        "Şəxsiyyət vəsiqəsi.pdf", "application/pdf", False, None)
    assert pdf.data.startswith(b"%PDF-1.4") and pdf.data.endswith(b"%%EOF\n")


def test_truncated_mail_keeps_its_text_and_what_arrived_of_the_attachment():
    mail = parse("truncated_multipart.eml")
    (pdf,) = mail.attachments
    assert pdf.filename == "arayis.pdf" and pdf.data.startswith(b"%PDF-1.4")


def test_dsn_bounce_names_our_message_the_recipient_and_the_reason():
    mail = parse("postfix_dsn_bounce.eml")
    assert mail.automatic == "bounce"
    assert mail.from_address == "mailer-daemon@dost.example.gov.az"
    assert mail.bounce.original_message_ids == (OUR_ID,)
    assert mail.bounce.recipients == ("no.such.user.4821@mail.ru",)
    assert mail.bounce.reason == ("550 Message was not accepted -- invalid mailbox. Local "
                                  "mailbox no.such.user.4821@mail.ru is unavailable: user not "
                                  "found")
    assert mail.bounce.permanent is True


def test_exim_bounce_without_a_report_is_read_from_its_text():
    mail = parse("exim_bounce.eml")
    assert mail.automatic == "bounce"
    assert mail.bounce.original_message_ids == (
        "<dost.1402.611.00aa11bb22cc33dd@dost.example.gov.az>",)
    assert mail.bounce.recipients == ("orxan.nabiyev@yandex.ru",)
    assert mail.bounce.reason == "452 4.2.2 Mailbox is full"
    assert mail.bounce.permanent is False


def test_our_own_mail_is_marked_own():
    raw = (FIXTURES / "no_message_id.eml").read_bytes().replace(
        b"From: sakin@mail.ru", b"From: DOST Baku 2 <Baku2@dost.example.gov.az>")
    assert parse_mail(raw, own_addresses=OURS).automatic == "own"
    assert parse_mail(raw).automatic is None


# --- edges --------------------------------------------------------------------------------

def mail(headers: str, body: bytes = b"") -> bytes:
    return headers.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  "])
def test_nothing_to_read_is_unreadable(raw):
    with pytest.raises(MailUnreadable):
        parse_mail(raw)


def test_headers_without_a_body():
    parsed = parse_mail(mail("From: a@b.az\nSubject: Salam"))
    assert (parsed.subject, parsed.text, parsed.new_text, parsed.quoted, parsed.html) == (
        "Salam", "", "", "", None)
    assert parsed.attachments == () and parsed.notes == ()


def test_garbage_without_headers_is_read_as_text():
    parsed = parse_mail(b"just some words, no header at all\r\n")
    assert parsed.from_address is None and parsed.message_id is None
    assert parsed.text == "just some words, no header at all"


def test_only_an_attachment():
    pdf = base64.b64encode(b"%PDF-1.4 scan").decode()
    raw = mail("""From: a@b.az
Content-Type: multipart/mixed; boundary=B""", f"""--B
Content-Type: application/pdf; name=scan.pdf
Content-Disposition: attachment; filename=scan.pdf
Content-Transfer-Encoding: base64

{pdf}
--B--
""".replace("\n", "\r\n").encode())
    parsed = parse_mail(raw)
    assert parsed.text == "" and parsed.new_text == ""
    assert [(part.filename, part.data) for part in parsed.attachments] == [
        ("scan.pdf", b"%PDF-1.4 scan")]


def test_huge_folded_headers():
    ids = [f"<id{number}.x@mail.ru>" for number in range(400)]
    words = "\n ".join(f"=?utf-8?B?{base64.b64encode('Şəxsiyyət '.encode()).decode()}?="
                       for _ in range(200))
    raw = mail(f"From: a@b.az\nSubject: {words}\nReferences: " + "\n\t".join(ids),
               b"text\r\n")
    parsed = parse_mail(raw)
    assert parsed.references == tuple(ids)
    assert parsed.subject == ("Şəxsiyyət " * 200).strip()


def test_damaged_base64_is_read_as_far_as_it_goes_and_noted():
    good = base64.b64encode("Pensiya haqqında sual".encode()).decode()
    raw = mail("""From: a@b.az
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64""", (good[:12] + "!!**" + good[12:] + "=").encode())
    parsed = parse_mail(raw)
    assert parsed.text == "Pensiya haqqında sual"
    assert parsed.notes == ("bad-encoding: text/plain",)


def test_forwarded_mail_inside_a_mail_is_an_attachment_not_the_text():
    inner = mail("From: x@y.az\nSubject: =?utf-8?Q?K=C3=B6hn=C9=99?=\n"
                 "Content-Type: text/plain; charset=utf-8", "köhnə məktub".encode())
    raw = mail("""From: a@b.az
Content-Type: multipart/mixed; boundary=B""", b"--B\r\nContent-Type: text/plain\r\n\r\n"
               b"See below\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n" + inner
               + b"\r\n--B--\r\n")
    parsed = parse_mail(raw)
    assert parsed.text == "See below"
    (attached,) = parsed.attachments
    assert attached.content_type == "message/rfc822"
    inner_mail = message_from_bytes(attached.data, policy=policy.default)
    assert inner_mail["Subject"] == "Köhnə" and inner_mail.get_content().strip() == "köhnə məktub"


def test_utf8_under_a_single_byte_label_is_utf8():
    text = "Əlillik pensiyası — Пенсия по инвалидности"
    for label in ("windows-1251", "koi8-r", "us-ascii", "iso-8859-1"):
        raw = mail(f"From: a@b.az\nSubject: =?{label}?B?"
                   + base64.b64encode("Rəşad".encode()).decode()
                   + f"?=\nContent-Type: text/plain; charset={label}\n"
                   "Content-Transfer-Encoding: 8bit", text.encode())
        parsed = parse_mail(raw)
        assert (parsed.subject, parsed.text) == ("Rəşad", text), label
        assert parsed.notes == ("charset-guessed: utf-8",)


@pytest.mark.parametrize("label", ["x-unknown", "utf-8", "us-ascii", "bogus-charset-42"])
def test_a_lying_or_unknown_charset_label_is_guessed(label):
    text = ("Здравствуйте! Прошу сообщить, когда будет назначена пенсия по возрасту. "
            "Все документы я сдал в DOST центр в прошлом месяце.")
    raw = mail(f"From: a@b.ru\nContent-Type: text/plain; charset={label}\n"
               "Content-Transfer-Encoding: 8bit", text.encode("cp1251"))
    parsed = parse_mail(raw)
    assert parsed.text == text
    assert parsed.notes == ("charset-guessed: cp1251",)


def test_a_clean_declared_charset_is_trusted_without_a_guess():
    text = "Пенсия по инвалидности"
    for label, codec in (("koi8-r", "koi8_r"), ("windows-1251", "cp1251"),
                         ("iso-8859-5", "iso8859_5"), ("iso-8859-9", "iso8859_9")):
        sample = text if label != "iso-8859-9" else "Müraciət yox, müracıet"
        sample = sample.replace("ə", "e")
        raw = mail(f"From: a@b.ru\nContent-Type: text/plain; charset=\"{label}\"\n"
                   "Content-Transfer-Encoding: 8bit", sample.encode(codec))
        parsed = parse_mail(raw)
        assert (parsed.text, parsed.notes) == (sample, ()), label


def test_encoded_words_in_every_charset_and_raw_8bit_headers():
    subject = "Пенсия по инвалидности и справка МСЭК для DOST центра"
    raw = mail(
        "From: =?koi8-r?Q?=F2=C1=DB=C1=C4?= <a@b.ru>\n"
        "To: =?windows-1251?B?" + base64.b64encode("Əliyev, Rəşad".encode()).decode()
        + "?= <r@b.az>, \"=?utf-8?B?" + base64.b64encode("Məmmədova, Leyla".encode()).decode()
        + "?=\" <L@B.az>\nCc: broken =?windows-1251?B?!!not-base64?= <c@b.az>\n"
        "Subject: ", subject.encode("cp1251"))
    raw = raw.replace(b"Subject: \r\n\r\n", b"Subject: " + subject.encode("cp1251")
                      + b"\r\n\r\nbody")
    parsed = parse_mail(raw)
    assert parsed.from_name == "Рашад"
    assert parsed.to == ("r@b.az", "l@b.az")
    assert parse_mail(raw.replace(b"L@B.az", b"x@b.az")).to == ("r@b.az", "x@b.az")
    assert parsed.cc == ("c@b.az",)
    assert parsed.subject == subject
    assert "charset-guessed: cp1251" in parsed.notes


def test_a_forward_without_a_word_keeps_the_whole_text_as_new():
    text = ("---------- Forwarded message ---------\nFrom: DOST <baku1@dost.example.gov.az>\n"
            "Date: Fri, 20 Nov 2026 at 14:02\nSubject: Pensiya\n\nSənədlər qəbul edildi.")
    parsed = parse_mail(mail("From: a@b.az\nContent-Type: text/plain; charset=utf-8",
                             text.encode()))
    assert parsed.new_text == text


def test_unreadable_date_and_addresses_are_noted_not_raised():
    parsed = parse_mail(mail("From: nobody at@all\nDate: yesterday-ish\nTo: @,@,", b"hi"))
    assert parsed.from_address is None and parsed.date is None and parsed.to == ()
    assert parsed.notes == ("unreadable-header: From", "unreadable-header: To",
                            "unreadable-header: Date")
    assert parsed.text == "hi"


def test_damaged_copies_of_every_fixture_never_raise_anything_but_unreadable():
    """Cut, overwritten, shortened and spliced copies (seeded, so a failure replays)."""
    rng = random.Random(12)
    splices = [b"=?", b"?=", b"=?koi8-r?B?", b"\r\n--", b"boundary=", b"\r\n\r\n", b"<",
               b'"', b"\xd0", b";charset=\xff", b"=?utf-8?Q?=FF=?="]
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        for attempt in range(12):
            damaged = bytearray(raw)
            at = rng.randrange(len(damaged))
            if attempt % 4 == 0:
                del damaged[at:]
            elif attempt % 4 == 1:
                for _ in range(20):
                    damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            elif attempt % 4 == 2:
                del damaged[at:at + rng.randrange(1, 200)]
            else:
                damaged[at:at] = rng.choice(splices) * rng.randrange(1, 4)
            try:
                parsed = parse_mail(bytes(damaged))
            except MailUnreadable:
                continue
            assert isinstance(parsed.text, str) and isinstance(parsed.notes, tuple)
            assert parsed.new_text or not parsed.text.strip()


def test_html_without_a_charset_parameter_uses_its_meta_tag_and_drops_style():
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; '
            'charset=windows-1251"><style>p {color: red}</style><title>x</title></head>'
            '<body><p>Пенсия</p></body></html>')
    parsed = parse_mail(mail("From: a@b.ru\nContent-Type: text/html", html.encode("cp1251")))
    assert (parsed.text, parsed.new_text, parsed.notes) == ("Пенсия", "Пенсия", ())
    assert parsed.html == html


def test_an_empty_plain_part_beside_the_html_leaves_the_html_to_say_it():
    html = ('<div>Yeni sual: pensiya kartı haradadır?</div><div class="gmail_quote">'
            '<blockquote class="gmail_quote">Köhnə cavab</blockquote></div>')
    raw = mail("From: a@b.az\nContent-Type: multipart/alternative; boundary=A",
               ("--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n \r\n--A\r\n"
                "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--A--\r\n"
                ).encode())
    parsed = parse_mail(raw)
    assert parsed.text == "Yeni sual: pensiya kartı haradadır?\nKöhnə cavab"
    assert (parsed.new_text, parsed.quoted) == ("Yeni sual: pensiya kartı haradadır?",
                                                "Köhnə cavab")


def test_undisclosed_recipients_is_no_unreadable_header():
    parsed = parse_mail(mail("From: a@b.az\nTo: undisclosed-recipients:;", b"hi"))
    assert (parsed.to, parsed.notes) == ((), ())


@pytest.mark.parametrize("html", [
    "<div>" * 20_000 + "Salam, pensiya barədə sual." + "</div>" * 20_000,   # deeper than lxml
    "<html><head><title>t</title><style>p{}</style></head><body>"
    + "<p>Salam, pensiya barədə sual.</p>" * 40_000 + "</body></html>",   # too large to lay out
])
def test_html_too_deep_or_too_large_still_gives_its_words(html):
    parsed = parse_mail(mail("From: a@b.az\nContent-Type: text/html; charset=utf-8",
                             html.encode()))
    assert parsed.text.startswith("Salam, pensiya barədə sual.")
    assert "p{}" not in parsed.text and parsed.new_text.startswith("Salam")


def test_a_large_html_full_of_styles_is_read_in_linear_time():
    html = "<style>p{}</style ><p>Salam</p>" * 60_000 + "<script>unclosed"
    started = time.perf_counter()
    text = html_to_text(html)
    assert time.perf_counter() - started < 5  # each <style> searched anew: minutes
    assert text == "\n".join(["Salam"] * 60_000 + ["unclosed"])  # an unclosed one is kept


_ADDRESS_PIECES = ["Sakin", "12", "J.", "Məmmədova", "Рашад", " ", "  ", "\t", "<a@b.az>",
                   "a@b", "x.y@mail.ru", ",", ", ", "=?utf-8?B?0JvQtdC50LvQsA==?=", "<", ">",
                   "'", "-", ".", "@", "!#", '"', "(", ")", ":", ";", "\\", "[", "]", "\xa0"]


@pytest.mark.parametrize("seed", range(3))
def test_simple_addresses_reads_what_getaddresses_reads(seed):
    """The fast reading of the usual address header gives the stdlib's pairs, or leaves
    the header to the stdlib: random headers made of address pieces and specials."""
    rng = random.Random(seed)
    taken = 0
    for _ in range(20_000):
        value = "".join(rng.choice(_ADDRESS_PIECES) for _ in range(rng.randint(1, 8)))
        pairs = simple_addresses(value)
        if pairs is not None:
            taken += 1
            assert pairs == getaddresses([value]), value
    assert taken > 500   # the usual forms are read by it, not all left to the stdlib


@pytest.mark.parametrize(("value", "pairs"), [
    ("Sakin 12 <resident12@mail.example.az>", [("Sakin 12", "resident12@mail.example.az")]),
    ("Leyla   Məmmədova\t<leyla@gmail.com>", [("Leyla Məmmədova", "leyla@gmail.com")]),
    ("a@b.az, Rəşad <r@c.az>", [("", "a@b.az"), ("Rəşad", "r@c.az")]),
    ('"Məmmədova, Leyla" <leyla@gmail.com>', None),   # a quoted string: the stdlib's
    ("leyla@gmail.com (Leyla)", None),                  # a comment: the stdlib's
    ("undisclosed-recipients:;", None),                 # a group: the stdlib's
])
def test_simple_addresses_forms(value, pairs):
    assert simple_addresses(value) == pairs
