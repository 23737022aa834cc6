"""The new text apart from quoted history and signature: every quote header and signature
our residents' mail programs write, and the sentences that only look like one."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from channels.email import reply
from channels.email.mime import html_to_text

FIXTURES = Path(__file__).parent / "fixtures"
NEW = "Sənədləri sabah gətirəcəyəm.\nFİN: 5ZK7HXM"

QUOTE_HEADERS = {
    "gmail en": "On Fri, Nov 20, 2026 at 2:02 PM DOST Bakı 1 <baku1@dost.example.gov.az> "
                "wrote:",
    "gmail en wrapped": "On Fri, Nov 20, 2026 at 2:02 PM DOST Bakı 1 <\n"
                        "baku1@dost.example.gov.az> wrote:",
    "gmail az": "Cm, 20 noy 2026 tarixində 14:02 DOST Bakı 1 <baku1@dost.example.gov.az> "
                "yazdı:",
    "gmail az wrapped": "Cm, 20 noy 2026 tarixində 14:02 DOST Bakı 1 "
                        "<baku1@dost.example.gov.az>\nyazdı:",
    "outlook az": "Kimdən: DOST Bakı 1 <baku1@dost.example.gov.az>\n"
                  "Göndərilib: 20 noyabr 2026, 14:02\nKimə: leyla@mail.ru\nMövzu: Pensiya",
    "outlook en": "From: DOST Bakı 1 <baku1@dost.example.gov.az>\n"
                  "Sent: Friday, November 20, 2026 2:02 PM\nTo: leyla@mail.ru\n"
                  "Subject: Pensiya",
    "outlook ru": "От: DOST Bakı 1 <baku1@dost.example.gov.az>\n"
                  "Отправлено: 20 ноября 2026 г. 14:02\nКому: leyla@mail.ru\nТема: Пенсия",
    "outlook plain": "-----Original Message-----\nFrom: DOST <baku1@dost.example.gov.az>",
    "gmail ru": "пт, 20 нояб. 2026 г. в 14:02, DOST Bakı 1 <baku1@dost.example.gov.az>:",
    "gmail ru wrapped": "пт, 20 нояб. 2026 г. в 14:02, DOST Bakı 1 <\n"
                        "baku1@dost.example.gov.az>:",
    "mail.ru": "Пятница, 20 ноября 2026, 14:02 +04:00 от DOST Bakı 1 "
               "<baku1@dost.example.gov.az>:",
    "yandex": '23.11.2026, 10:15, "Leyla" <leyla@mail.ru>:',
    "thunderbird ru": "20.11.2026 14:02, DOST Bakı 1 пишет:",
    "apple ru": "20 нояб. 2026 г., в 14:02, DOST Bakı 1 <baku1@dost.example.gov.az> "
                "написал(а):",
    "gmail ru old": "20 ноября 2026 г., 14:02 пользователь DOST Bakı 1 "
                    "<baku1@dost.example.gov.az> написал:",
    "thunderbird forward ru": "-------- Пересылаемое сообщение --------",
    "gmail forward az": "---------- Yönləndirilmiş məktub ---------",
    "apple forward en": "Begin forwarded message:\n\nFrom: DOST <baku1@dost.example.gov.az>\n"
                        "Subject: Pensiya\nDate: 20 November 2026 at 14:02:00 GMT+4\n"
                        "To: leyla@mail.ru",
    "outlook ru date": "От: DOST Bakı 1 [mailto:baku1@dost.example.gov.az]\n"
                       "Дата: 20 ноября 2026 г. 14:02\nКому: leyla@mail.ru\nТема: RE: Пенсия",
}


@pytest.mark.parametrize("shape", sorted(QUOTE_HEADERS))
def test_quote_header_ends_the_new_text(shape):
    header = QUOTE_HEADERS[shape]
    text = f"{NEW}\n\n{header}\n\n> Hörmətli vətəndaş,\n> sənədlərinizi gətirin.\n"
    new, quoted = reply.split(text)
    assert new == NEW
    assert quoted.startswith(header.split("\n")[0].strip())
    assert quoted.endswith("> sənədlərinizi gətirin.")


SIGNATURES = ["--\nLeyla Məmmədova", "-- \nLeyla Məmmədova\n+994 50 000 00 00",
              "Hörmətlə,\nLeyla Məmmədova", "Hörmətlə\nLeyla", "С уважением,\nАйдын",
              "С уважением\nАйдын Гусейнов, тел. 050 000 00 00", "Sent from my iPhone",
              "Отправлено с iPhone", "Отправлено из мобильной Почты Mail.ru",
              "Best regards,\nLeyla", "Get Outlook for Android"]


@pytest.mark.parametrize("signature", SIGNATURES)
def test_signature_is_not_new_text(signature):
    new, quoted = reply.split(f"{NEW}\n\n{signature}\n")
    assert new == NEW
    assert quoted == "\n".join(line.strip() for line in signature.split("\n"))


@pytest.mark.parametrize("text", [
    # Sign-off words inside a sentence, hyphen lists, a verb of writing without a date.
    "Thanks, I got the letter.\nBut the FIN is wrong: 5ZK7HXM.",
    "С уважением отношусь к вашей работе,\nно ответа нет уже месяц.",
    "Lazım olan sənədlər:\n- şəxsiyyət vəsiqəsi\n- əmək kitabçası\n- arayış",
    "Он мне написал:\nприходите завтра.",
    "Müdir yazdı:\nsabah gəlin.",
    "Моя почта <leyla@mail.ru>:\nпишите туда.",
    # A formal application's own header lines, in the three languages.
    "Salam,\nKimə: DOST Bakı 1 mərkəzinə\nKimdən: Leyla Məmmədova, FİN 5ZK7HXM\n\nƏRİZƏ\n"
    "Əlillik pensiyası təyin edilməsini xahiş edirəm.",
    "Здравствуйте.\nКому: директору DOST\nОт: Нины Сергеевой\nТема: пенсия\n\nПрошу "
    "назначить пенсию.",
    "Hello,\nTo: DOST centre\nSubject: pension\nFrom: Leyla\n\nPlease help.",
])
def test_ordinary_sentences_are_kept_whole(text):
    assert reply.split(text) == (text, "")


def test_a_reply_below_the_quote_or_nothing_new_keeps_the_whole_text():
    below = f"{QUOTE_HEADERS['gmail en']}\n> Sənədlərinizi gətirin.\n\nGətirdim."
    assert reply.split(below) == (below, "")
    assert reply.split("") == ("", "")
    assert reply.split(" \n ") == ("", "")


def test_quoted_lines_of_a_multi_level_quote_stay_in_the_quote():
    text = (f"{NEW}\n\n{QUOTE_HEADERS['yandex']}\n> Cavab\n>\n> "
            f"{QUOTE_HEADERS['gmail az']}\n>> İlk məktub\n")
    new, quoted = reply.split(text)
    assert new == NEW
    assert quoted.endswith(">> İlk məktub")


@pytest.mark.parametrize("attribution", [
    "Some client header line",
    "Пятница, 20 ноября 2026, 14:02 +04:00 от DOST &lt;baku1@dost.example.gov.az&gt;:",
    "Cm, 20 noy 2026 tarixində 14:02 DOST &lt;baku1@dost.example.gov.az&gt; yazdı:",
])
def test_html_quote_is_split_by_its_structure(attribution):
    html = ('<div>Yeni sual: pensiya kartı haradadır?</div><div><br></div>'
            f'<div class="gmail_quote"><div class="gmail_attr">{attribution}</div>'
            '<blockquote class="gmail_quote">Köhnə cavab<br>ikinci sətir</blockquote></div>')
    new, quoted = reply.split_html(html, html_to_text(html), html_to_text)
    assert new == "Yeni sual: pensiya kartı haradadır?"
    assert "Köhnə cavab" in quoted and "Yeni sual" not in quoted


def test_html_without_a_quote_is_split_as_its_text():
    html = "<p>Salam,</p><p>sual var.</p><p>Hörmətlə,<br>Kamran</p>"
    assert reply.split_html(html, html_to_text(html), html_to_text) == (
        "Salam,\n\nsual var.", "Hörmətlə,\nKamran")


def test_html_attribution_above_a_blockquote_goes_with_the_quote():
    html = ('<div>Справку отправила вчера.</div><div><br></div><div>Пятница, 20 ноября 2026, '
            '14:02 +04:00 от DOST &lt;baku1@dost.example.gov.az&gt;:<br>'
            '<blockquote style="border-left:1px solid #0857A6">Пришлите справку.</blockquote>'
            '</div>')
    new, quoted = reply.split_html(html, html_to_text(html), html_to_text)
    assert new == "Справку отправила вчера."
    assert quoted == ("Пятница, 20 ноября 2026, 14:02 +04:00 от DOST "
                      "<baku1@dost.example.gov.az>:\n\nПришлите справку.")


@pytest.mark.parametrize("text", [
    "Salam\n" + "\n" * 50_000 + "ok",                    # the library's `\s*^`: a minute
    "Salam\n" + " \n" * 50_000 + "ok",
    "Salam " + " " * 50_000 + "ok",
    "On " + "söz " * 20_000 + "\nok",                    # its "On … wrote:": seconds
    "Salam\n" + ("> " * 149 + "\n") * 600 + "ok",       # deep quote marks
    "Salam 14:02 " + "a" * 50_000 + "\nok",
    "Salam, pensiya barədə sual.\n" * 40_000,
], ids=["blank lines", "blank-ish lines", "spaces", "long On line", "deep quotes",
        "long line with a time", "a megabyte"])
def test_pathological_text_is_split_in_linear_time(text):
    started = time.perf_counter()
    new, quoted = reply.split(text)
    assert time.perf_counter() - started < 3
    assert new.startswith("Salam") or new.startswith("On ")
    assert quoted == ""


def test_long_lines_come_back_whole():
    paragraph = "Uzun abzas " * 100
    text = f"{paragraph}\n\nHörmətlə,\nLeyla\n\n{QUOTE_HEADERS['yandex']}\n> {paragraph}"
    new, quoted = reply.split(text)
    assert new == paragraph.strip()
    assert quoted.startswith("Hörmətlə,\nLeyla") and quoted.endswith(paragraph.strip())


@pytest.mark.parametrize(("fixture", "new"), [
    ("outlook_ru_reply.eml", "Добрый день!\n\nВысылаю копию удостоверения личности, ФИН "
                             "5ZK7HXM. Прошу ускорить назначение пенсии по возрасту."),
    ("gmail_az_reply.eml", "Salam,\n\nSənədləri DOST mərkəzinə sabah gətirə bilərəmmi? "
                           "Əlillik pensiyası üçün arayış hazırdır."),
])
def test_outlook_and_gmail_html_alone_split_like_their_plain_part(fixture, new):
    """Their HTML as if the plain part were missing: Outlook's bordered MsoNormal header
    block, Gmail's gmail_quote with an Azerbaijani attribution."""
    mail = message_from_bytes((FIXTURES / fixture).read_bytes(), policy=policy.default)
    (html,) = [part.get_content() for part in mail.walk()
               if part.get_content_type() == "text/html"]
    found_new, quoted = reply.split_html(html, html_to_text(html), html_to_text)
    assert found_new == new
    assert "DOST Bakı 1 <baku1@dost.example.gov.az>" in quoted
