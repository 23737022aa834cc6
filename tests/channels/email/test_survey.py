"""The satisfaction question by e-mail, through the real mail path: the resident's mail is
read from a real Dovecot, the question leaves in the thread through a real SMTP server
(aiosmtpd), and the resident's reply to it (a score at the top, the question quoted below
as the mail programs quote it) is read back from Dovecot as the answer; on SQLite and
PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from channels.delivery import deliver_message
from channels.email import thread
from channels.email.imap import poll_mailbox
from inbox.actions import Actor, set_status
from inbox.consumers import consume
from inbox.storage import utcnow
from inbox.surveys import SURVEYS_CONSUMER
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.mail_server import MailServer
from tests.channels.email.test_imap import mail, stored_mails
from tests.inbox.test_auth import add_user

AYNUR = "aynur.qasimova@dost.gov.az"
FIRST_MAILS = {
    "az": ("elnur.quliyev@mail.ru", "Elnur Quliyev", "Pensiya",
           "Salam, 3 aydır ki, pensiyam kartıma köçürülmür. Zəhmət olmasa, yoxlayın."),
    "ru": ("ivan.petrov@mail.ru", "Иван Петров", "Пенсия",
           "Здравствуйте! Уже три месяца пенсия не поступает на карту. Проверьте, пожалуйста."),
    "en": ("john.miller@gmail.com", "John Miller", "Pension",
           "Hello, my pension has not been paid to my card for three months. Please check."),
}

QUESTIONS = {"az": "Müraciətiniz ({reference}) üzrə xidmətimizi 1-dən 5-ə qədər",
             "ru": "Оцените, пожалуйста, наше обслуживание по обращению № {reference} от 1 до 5",
             "en": "Please rate our service on your request No. {reference} from 1 to 5"}


@pytest.fixture
def mail_server():
    with MailServer() as server:
        yield server


@pytest.fixture
def box(new_account) -> str:
    return new_account()


@pytest.fixture
def config(config, dovecot, box, tmp_path, mail_server):
    mailbox = replace(mailbox_on(dovecot, box),
                      smtp={"host": "127.0.0.1", "port": mail_server.port, "security": "none"})
    return with_mailboxes(config, str(tmp_path / "media"), mailbox)


def the_mailbox(ctx):
    [mailbox] = ctx.config.channels.email.mailboxes
    return mailbox


def quoted(language: str, style: str, question: EmailMessage) -> str:
    """The survey mail quoted below a reply, as the mail programs residents use write it:
    Gmail's and Thunderbird's attribution line with "> " lines, Outlook's header block with
    the mail unprefixed below, and Mail.ru's and Yandex's date-and-address line."""
    text = question.get_body(("plain",)).get_content().strip()
    sender = question["From"].addresses[0]
    who = f"{sender.display_name} <{sender.addr_spec}>"
    prefixed = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
    if style == "wrote":
        attribution = {
            "az": f"Ca, 4 dek 2026, 11:02 tarixində {who} yazdı:",
            "ru": f"пт, 4 дек. 2026 г. в 11:02, {who}:",
            "en": f"On Fri, Dec 4, 2026 at 11:02 AM {who} wrote:",
        }[language]
        return f"{attribution}\n\n{prefixed}\n"
    if style == "outlook":
        names = {"az": ("Kimdən", "Göndərilib", "Kimə", "Mövzu"),
                 "ru": ("От", "Отправлено", "Кому", "Тема"),
                 "en": ("From", "Sent", "To", "Subject")}[language]
        return (f"________________________________\n{names[0]}: {who}\n"
                f"{names[1]}: 4 December 2026 11:02\n{names[2]}: {question['To']}\n"
                f"{names[3]}: {question['Subject']}\n\n{text}\n")
    attribution = {
        "az": f"04.12.2026, 11:02 tarixində {who} yazdı:",
        "ru": f"04.12.2026, 11:02, \"{sender.display_name}\" <{sender.addr_spec}>:",
        "en": f"On 04/12/2026 11:02, {who} wrote:",
    }[language]
    return f"{attribution}\n{prefixed}\n"


def reply_to(question: EmailMessage, text: str, n: int) -> bytes:
    """The resident's reply to our mail, as a mail program writes it: in the thread (our
    Message-ID in In-Reply-To and last in References), "Re: " our subject."""
    sender = question["To"]
    references = f"{question['References'] or ''} {question['Message-ID']}".strip()
    head = [f"From: {sender}",
            f"To: {question['From']}",
            f"Subject: Re: {question['Subject']}",
            f"Date: {format_datetime(utcnow())}",
            f"Message-ID: <reply{n}.{question['Message-ID'].strip('<>').split('@')[0]}@mail.ru>",
            f"In-Reply-To: {question['Message-ID']}",
            f"References: {references}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(head) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode()


async def surveyed_case(ctx, dovecot, box, mail_server, language: str):
    """A resident writes in `language`; an agent resolves; the survey mail goes out.
    Returns (conversation id, the question as the resident's mail program got it)."""
    address, name, subject, text = FIRST_MAILS[language]
    dovecot.append(box, mail(text, sender=address, name=name, subject=subject,
                             message_id=f"<first.{language}@mail.example>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    [first] = await stored_mails(ctx)
    conversation_id = first["conversation_id"]
    queues = ("dost-baku-1",)
    agent = Actor(id=await add_user(ctx, AYNUR, name="Aynur Qasımova", queues=queues),
                  role="agent", queues=queues)
    await set_status(ctx, agent, conversation_id, "resolved")
    await consume(ctx, SURVEYS_CONSUMER)
    async with ctx.store.read() as tx:
        [survey] = await tx.surveys.of_conversation(conversation_id)
    assert await deliver_message(ctx, survey["message_id"]) == "sent"
    question = mail_server.accepted[-1].mail
    # In the resident's thread, so that their mail program's reply names our conversation.
    assert thread.conversation_of_message_id(question["Message-ID"]) == conversation_id
    assert question["In-Reply-To"] == f"<first.{language}@mail.example>"
    assert question["References"].split() == [f"<first.{language}@mail.example>"]
    assert question["Subject"] == f"Re: {subject} [DOST-{conversation_id}]"
    assert question["To"] == address and question["Content-Language"] == language
    body = question.get_body(("plain",)).get_content()
    assert body.startswith(QUESTIONS[language].format(reference=conversation_id))
    assert "1 · 2 · 3 · 4 · 5" in body     # no buttons in a mail: the scale as a line
    return conversation_id, question


async def answer(ctx, conversation_id: int) -> tuple[int | None, str | None, str]:
    async with ctx.store.read() as tx:
        [survey] = await tx.surveys.of_conversation(conversation_id)
        conversation = await tx.conversations.get(conversation_id)
    return survey["score"], survey["comment"], conversation["status"]


REPLIES = {
    "az": ("4 — çox sağ olun, tez cavab verdiniz.\n\nHörmətlə,\nElnur Quliyev",
           (4, "çox sağ olun, tez cavab verdiniz.")),
    "ru": ("5 - спасибо, всё решили за один день!\n\nС уважением,\nИван Петров",
           (5, "спасибо, всё решили за один день!")),
    "en": ("5 — thank you, very helpful\n\nBest regards,\nJohn",
           (5, "thank you, very helpful")),
}


@pytest.mark.parametrize("style", ["wrote", "outlook", "mailru"])
@pytest.mark.parametrize("language", ["az", "ru", "en"])
async def test_a_reply_with_a_score_answers_the_survey_without_the_quoted_question(
        ctx, dovecot, box, mail_server, language, style) -> None:
    conversation_id, question = await surveyed_case(ctx, dovecot, box, mail_server, language)
    text, expected = REPLIES[language]
    dovecot.append(box, reply_to(question, f"{text}\n\n{quoted(language, style, question)}", 1))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert await answer(ctx, conversation_id) == (*expected, "resolved")


NEW_QUESTIONS = {
    "az": ("Salam, 5 gün əvvəl sənədləri göndərmişdim, pensiya nə vaxt köçürüləcək?",
           "wrote"),
    "ru": ("Здравствуйте! А когда именно придут деньги за три месяца?", "outlook"),
    "en": ("Thanks, but when exactly will the three missing payments arrive?", "mailru"),
}


@pytest.mark.parametrize("language", ["az", "ru", "en"])
async def test_a_reply_that_is_no_score_reopens_the_conversation_as_any_reply_does(
        ctx, dovecot, box, mail_server, language) -> None:
    conversation_id, question = await surveyed_case(ctx, dovecot, box, mail_server, language)
    text, style = NEW_QUESTIONS[language]
    dovecot.append(box, reply_to(question, f"{text}\n\n{quoted(language, style, question)}", 2))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    # Back in its queue (nobody was assigned it), the survey unanswered.
    assert await answer(ctx, conversation_id) == (None, None, "waiting")
    latest = (await stored_mails(ctx))[-1]
    assert (latest["conversation_id"], latest["body"]) == (conversation_id, text)
    async with ctx.store.read() as tx:
        types = [e["type"] for e in await tx.events.of_conversation(conversation_id)]
    assert "reopened" in types[types.index("survey_sent"):] and "survey_answered" not in types
