"""E-mail out against a real SMTP server (aiosmtpd on a free port): an agent's reply in a
resident's thread, the acknowledgement marked automatic, STARTTLS with a login, and what
each kind of refusal does to the message; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from channels.base import PermanentSendError, TransientSendError
from channels.delivery import deliver_message
from channels.email import smtp
from channels.email.channel import EMAIL_CHANNEL
from channels.email.smtp_connections import SmtpConnections
from channels.sending import kept_open
from inbox import actions
from inbox.actions import Actor
from inbox.auth import hash_password
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from settings import load_config_text
from tests.channels.email.mail_server import Login, MailServer, Recorder, free_port, self_signed
from tests.conftest import TEST_CONFIG

RESIDENT = "ivan.petrov@mail.ru"
BAKU1 = "baku1@dost.example.gov.az"
SUBJECT = "Пенсия по инвалидности"
ROOT_ID = "<CAF0root@mail.ru>"
RESIDENT_ID = "<CAF1reply@mail.ru>"
QUESTION = ("Здравствуйте! Я подал документы на пенсию по инвалидности в марте, "
            "но до сих пор не получил ответа. Подскажите, пожалуйста, что мне делать?")
REPLY = "Здравствуйте, Иван!\nВаша пенсия назначена <с 1 апреля> & будет выплачена."
PASSWORD = "smtp-pässword-1"


def config_for(smtp: dict, media: Path | None = None):
    block = ("    mailboxes:\n"
             f"      - {{id: baku1, address: {BAKU1}, queue: dost-baku-1,\n"
             "         imap: {host: imap.example.gov.az, user: baku1, password: x},\n"
             f"         smtp: {json.dumps(smtp)}}}\n")
    text = TEST_CONFIG.read_text().replace("    mailboxes: []\n", block)
    if media is not None:
        text = text.replace("directory: var/media", f"directory: {media}")
    return load_config_text(text, env={"BAKU1_SMTP_PASSWORD": PASSWORD})


def resident_mail(text: str = QUESTION) -> InboundMessage:
    """A resident's answer to an older thread, as the mailbox poll hands it to the inbox."""
    raw = f"{RESIDENT_ID}{text}".encode()
    return InboundMessage(
        channel="email", external_id=f"baku1:{hashlib.sha256(raw).hexdigest()}",
        address=RESIDENT, text=text, received_at=datetime.now(UTC),
        display_name="Иван Петров", thread_key=ROOT_ID, queue_hint="dost-baku-1",
        replies_to=(ROOT_ID,),
        extra={"email": {"subject": f"RE: {SUBJECT}", "from": RESIDENT,
                         "from_name": "Иван Петров", "to": [BAKU1], "cc": [],
                         "message_id": RESIDENT_ID, "in_reply_to": ROOT_ID, "quoted": "",
                         "notes": [], "mailbox": "baku1"}})


async def agent(ctx) -> Actor:
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save("aynur@example.gov.az", name="Aynur", role="agent",
                                      queues=["dost-baku-1"], languages=["az", "ru"],
                                      capacity={"email": 20}, password_hash=hash_password("x"))
    return Actor(user_id, "agent", ("dost-baku-1",))


async def conversation_with_reply(ctx, body: str = REPLY, **extra):
    """The resident's mail taken in, and the agent's reply queued: (ingest result, reply)."""
    taken = await ingest(ctx, resident_mail())
    reply = await actions.reply(ctx, await agent(ctx), taken.conversation_id, body,
                                extra=extra or None)
    return taken, reply


async def stored(ctx, message_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.messages.get(message_id)


async def test_an_agents_reply_arrives_in_the_residents_thread_and_language(ctx):
    with MailServer() as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port, "security": "none"})
        taken, reply = await conversation_with_reply(ctx)
        conversation_id = taken.conversation_id
        async with ctx.store.read() as tx:
            assert (await tx.conversations.get(conversation_id))["language"] == "ru"

        # The acknowledgement first: automatic, in the thread, in Russian.
        assert await deliver_message(ctx, taken.acknowledgement_id) == "sent"
        [ack] = server.accepted
        ack_mail = ack.mail
        assert ack_mail["Auto-Submitted"] == "auto-replied"
        assert ack_mail["X-Auto-Response-Suppress"] == "All"
        assert ack_mail["In-Reply-To"] == RESIDENT_ID
        assert f"№ {conversation_id}" in ack_mail.get_body(("plain",)).get_content()
        ack_id = ack_mail["Message-ID"]
        assert (await stored(ctx, taken.acknowledgement_id))["external_id"] == ack_id

        assert await deliver_message(ctx, reply["id"]) == "sent"
        received = server.accepted[1]
    assert received.mail_from == BAKU1 and received.rcpt_tos == [RESIDENT]
    mail = received.mail
    assert mail["From"].addresses[0].addr_spec == BAKU1
    # The centre's name in the resident's language, as its signature gives it.
    assert mail["From"].addresses[0].display_name == "Бакинский центр DOST № 1"
    assert mail["To"] == RESIDENT
    assert mail["Subject"] == f"Re: {SUBJECT} [DOST-{conversation_id}]"
    assert mail["In-Reply-To"] == RESIDENT_ID
    assert mail["References"] == f"{ROOT_ID} {ack_id} {RESIDENT_ID}"
    assert mail["Auto-Submitted"] is None
    message_id = mail["Message-ID"]
    assert message_id.startswith(f"<dost.{conversation_id}.{reply['id']}.")
    assert message_id.endswith("@dost.example.gov.az>")
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith(REPLY + "\n\n-- \nС уважением,\nБакинский центр DOST № 1\n")
    assert f"Обращение № {conversation_id}." in text
    html = mail.get_body(("html",)).get_content()
    assert ("Здравствуйте, Иван!<br>\nВаша пенсия назначена &lt;с 1 апреля&gt; &amp; будет "
            "выплачена.") in html
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "sent" and row["external_id"] == message_id


async def test_an_agents_own_subject_and_attachments(ctx, tmp_path):
    media = tmp_path / "media"
    (media / "outbox").mkdir(parents=True)
    (media / "outbox" / "certificate.pdf").write_bytes(b"%PDF-1.4 arayis")
    with MailServer() as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port,
                                 "security": "none"}, media)
        taken, reply = await conversation_with_reply(
            ctx, "Arayışınız əlavədədir.", email={"subject": "Arayış hazırdır"})
        async with ctx.store.transaction() as tx:
            await tx.messages.update(reply["id"], attachments=[
                {"content_type": "application/pdf", "filename": "arayış.pdf",
                 "stored": "outbox/certificate.pdf", "size": 15}])
        assert await deliver_message(ctx, reply["id"]) == "sent"
        [received] = server.accepted
    mail = received.mail
    assert mail["Subject"] == f"Arayış hazırdır [DOST-{taken.conversation_id}]"
    [attachment] = mail.iter_attachments()
    assert attachment.get_filename() == "arayış.pdf"
    assert attachment.get_content() == b"%PDF-1.4 arayis"


async def test_an_attachment_no_longer_stored_fails_the_message_saying_which(ctx, tmp_path):
    with MailServer() as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port,
                                 "security": "none"}, tmp_path)
        _, reply = await conversation_with_reply(ctx)
        async with ctx.store.transaction() as tx:
            await tx.messages.update(reply["id"], attachments=[
                {"content_type": "application/pdf", "filename": "arayış.pdf",
                 "stored": "../../etc/passwd"}])
        assert await deliver_message(ctx, reply["id"]) == "failed"
        assert server.accepted == []
    assert (await stored(ctx, reply["id"]))["delivery_error"] == \
        "the attachment arayış.pdf is not stored, so the mail cannot carry it"


async def test_an_address_no_mail_can_carry_fails_the_message_saying_why(ctx):
    with MailServer() as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port, "security": "none"})
        taken = await ingest(ctx, replace(resident_mail(), address="иван@mail.ru"))
        assert await deliver_message(ctx, taken.acknowledgement_id) == "failed"
        assert server.accepted == []
    error = (await stored(ctx, taken.acknowledgement_id))["delivery_error"]
    assert error.startswith("the mail cannot be written: local-part contains non-ASCII")


def starttls_server(ctx, tmp_path) -> tuple[MailServer, Login]:
    """A server asking for STARTTLS and baku1's login (its certificate trusted through the
    mailbox's `ca_file`), and the test's mailbox configured for it; start it with `with`."""
    cert, key = self_signed(tmp_path)
    login = Login("baku1", PASSWORD)
    server = MailServer(tls=(cert, key), login=login)
    ctx.config = config_for({"host": "localhost", "port": server.port,
                             "security": "starttls", "user": "baku1",
                             "password": "${BAKU1_SMTP_PASSWORD}", "ca_file": str(cert)})
    return server, login


async def test_starttls_with_a_login_from_the_environment(ctx, tmp_path):
    server, login = starttls_server(ctx, tmp_path)
    with server:
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "sent"
        assert len(server.accepted) == 1
    assert login.tries == [b"baku1"]


async def test_a_certificate_nobody_vouches_for_is_tried_again_later(ctx, tmp_path):
    with MailServer(tls=self_signed(tmp_path)) as server:
        ctx.config = config_for({"host": "localhost", "port": server.port,
                                 "security": "starttls"})
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "retry"
        assert server.accepted == []
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "queued"
    assert row["delivery_error"].startswith("TLS with the mail server failed:")
    assert "CERTIFICATE_VERIFY_FAILED" in row["delivery_error"]


async def test_451_then_250_is_sent_once_with_one_message_id(ctx):
    recorder = Recorder(data_answers=["451 4.3.0 Temporary local problem, try later"])
    with MailServer(recorder) as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port, "security": "none"})
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "retry"
        row = await stored(ctx, reply["id"])
        assert row["delivery_status"] == "queued" and row["external_id"] is None
        assert row["delivery_error"] == ("the mail server asked to try later: 451 4.3.0 "
                                         "Temporary local problem, try later")
        assert await deliver_message(ctx, reply["id"]) == "sent"
        [refused], [accepted] = recorder.refused, server.accepted
    assert refused.mail["Message-ID"] == accepted.mail["Message-ID"]
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "sent" and row["attempts"] == 2
    assert row["delivery_error"] is None and row["external_id"] == accepted.mail["Message-ID"]


async def test_550_fails_the_message_with_the_servers_reply(ctx):
    recorder = Recorder(rcpt_answer="550 5.1.1 Requested action not taken: mailbox unavailable")
    with MailServer(recorder) as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port, "security": "none"})
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "failed"
        assert server.accepted == []
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "failed"
    assert row["delivery_error"] == ("550: the mail server refused the mail: 5.1.1 Requested "
                                     "action not taken: mailbox unavailable")
    async with ctx.store.read() as tx:
        events = await tx.events.of_conversation(row["conversation_id"])
    assert [e["data"]["error"] for e in events if e["type"] == "delivery_failed"] == \
        [row["delivery_error"]]


async def test_a_refused_connection_is_tried_again_later(ctx):
    ctx.config = config_for({"host": "127.0.0.1", "port": free_port(), "security": "none"})
    _, reply = await conversation_with_reply(ctx)
    assert await deliver_message(ctx, reply["id"]) == "retry"
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "queued"
    assert row["delivery_error"].startswith("could not reach the mail server:")


async def test_a_server_that_never_answers_is_tried_again_later(ctx):
    with socket.create_server(("127.0.0.1", 0)) as silent:   # listens, never greets
        ctx.config = config_for({"host": "127.0.0.1", "port": silent.getsockname()[1],
                                 "security": "none", "timeout": "1s"})
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "retry"
    row = await stored(ctx, reply["id"])
    assert row["delivery_status"] == "queued"
    assert row["delivery_error"] == "the mail server did not answer in time"


async def test_a_mail_the_server_accepted_is_not_sent_again_by_a_later_attempt(ctx):
    with MailServer() as server:
        ctx.config = config_for({"host": "127.0.0.1", "port": server.port, "security": "none"})
        _, reply = await conversation_with_reply(ctx)
        assert await deliver_message(ctx, reply["id"]) == "sent"
        # As if the worker died after the server's 250 and before the message was marked
        # sent: still `sending`, its claim lapsed, so the sweep's attempt takes it again.
        async with ctx.store.transaction() as tx:
            await tx.messages.update(reply["id"], delivery_status="sending",
                                     claimed_at=utcnow() - timedelta(minutes=5))
        assert await deliver_message(ctx, reply["id"]) == "sent"
        assert len(server.accepted) == 1
    row = await stored(ctx, reply["id"])
    assert row["attempts"] == 2 and row["external_id"] == server.accepted[0].mail["Message-ID"]


async def test_the_worker_keeps_one_login_for_many_mails(ctx, tmp_path):
    server, login = starttls_server(ctx, tmp_path)
    with server:
        taken, reply = await conversation_with_reply(ctx)
        # As the worker's delivery loop runs them: the acknowledgement, then the reply.
        async with kept_open():
            assert await deliver_message(ctx, taken.acknowledgement_id) == "sent"
            assert await deliver_message(ctx, reply["id"]) == "sent"
            assert (len(server.accepted), server.connections, len(login.tries)) == (2, 1, 1)
            # The server drops the idle connection (a restart, its idle timeout): the next
            # mail goes once, over a new one.
            server.restart()
            third = await actions.reply(ctx, await agent(ctx), taken.conversation_id,
                                        "Sənədləriniz hazırdır.")
            assert await deliver_message(ctx, third["id"]) == "sent"
        assert [r.mail["Message-ID"] for r in server.accepted].count(
            (await stored(ctx, third["id"]))["external_id"]) == 1
        assert (len(server.accepted), server.connections, len(login.tries)) == (3, 2, 2)
        # Outside the worker's loop (a job on a loop of its own) each mail has its own.
        fourth = await actions.reply(ctx, await agent(ctx), taken.conversation_id, "Bəli.")
        assert await deliver_message(ctx, fourth["id"]) == "sent"
        assert (len(server.accepted), server.connections) == (4, 3)


async def test_a_kept_connection_found_dead_at_the_first_command_is_replaced_once():
    settings = smtp.SmtpSettings(host="127.0.0.1", port=0, security="none")
    with MailServer() as server:
        settings = replace(settings, port=server.port)
        async with SmtpConnections(settings) as pool:
            first = EmailMessage()
            first["Subject"], first["Message-ID"] = "Müraciət", "<one@dost.example.gov.az>"
            first.set_content("Salam")
            await pool.send(first, BAKU1, RESIDENT)
            # Dropped by the server while idle, before this loop could notice: the next mail
            # meets it at MAIL FROM, nothing of it sent, and goes over a new connection.
            server.restart()
            second = EmailMessage()
            second["Subject"], second["Message-ID"] = "Müraciət", "<two@dost.example.gov.az>"
            second.set_content("Sağ olun")
            await pool.send(second, BAKU1, RESIDENT)
            assert pool.opened == 2
        assert [r.mail["Message-ID"] for r in server.accepted] == [
            "<one@dost.example.gov.az>", "<two@dost.example.gov.az>"]


SMTP_TEMPLATE = """    mailboxes:
      - id: baku1
        address: baku1@dost.example.gov.az
        queue: dost-baku-1
        imap: {host: imap.example.gov.az, user: baku1, password: x}
        smtp:
          host: smtp.example.gov.az
          security: ssl
          port: 70000
          user: baku1
          timeout: forever
          pasword: x
        signature: {de: "Mit freundlichen Grüßen"}
      - id: baku2
        address: baku2@dost.example.gov.az
        queue: dost-baku-2
        imap: {host: imap.example.gov.az, user: baku1, password: x}
        smtp: {host: smtp.example.gov.az, port: 465, security: tls, user: baku2,
               password: "${BAKU2_SMTP_PASSWORD}", timeout: 20s}
        signature: {az: "Hörmətlə, DOST", ru: "С уважением, ДОСТ"}
"""


def test_the_smtp_settings_are_checked_naming_key_and_line():
    text = TEST_CONFIG.read_text().replace("    mailboxes: []\n", SMTP_TEMPLATE)
    config = load_config_text(text, env={"BAKU2_SMTP_PASSWORD": "secret"})
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, start=1) if fragment in line)

    problems = {(p.path, p.line, p.message) for p in EMAIL_CHANNEL.check_config(config)}
    section = "channels.email.mailboxes[0].smtp"
    assert problems == {
        (f"{section}.pasword", line_of("pasword: x"),
         "unknown key (expected host, port, security, user, password, timeout, ca_file)"),
        (f"{section}.security", line_of("security: ssl"),
         "'ssl' is not one of tls, starttls, none"),
        (f"{section}.port", line_of("port: 70000"), "expected a port number from 1 to 65535"),
        (f"{section}.password", line_of("smtp:"),
         "required with user; give it from the environment, e.g. ${BAKU1_SMTP_PASSWORD}"),
        (f"{section}.timeout", line_of("timeout: forever"),
         "not a duration: 'forever' (use e.g. 30s, 5m, 2h, 1d or 1h30m)"),
        ("channels.email.mailboxes[0].signature.de", line_of("signature: {de:"),
         "expected text for one of az, ru, en"),
    }
    assert config.channels.email.mailboxes[1].smtp["password"] == "secret"


def test_a_mailbox_without_smtp_host_is_a_problem():
    text = TEST_CONFIG.read_text().replace("    mailboxes: []\n", """    mailboxes:
      - {id: baku1, address: baku1@dost.example.gov.az, queue: dost-baku-1,
         imap: {host: imap.example.gov.az, user: baku1, password: x},
         smtp: {port: 25, password: x, security: none}}
""")
    problems = [(p.path, p.message) for p in EMAIL_CHANNEL.check_config(load_config_text(text))]
    section = "channels.email.mailboxes[0].smtp"
    assert problems == [
        (f"{section}.host", "required: the mail server's name or address"),
        (f"{section}.user", "required with password"),
        (f"{section}.security", "none would send the password in clear; use tls or starttls")]


@pytest.mark.parametrize("settings", [{"host": "127.0.0.1"}, {"host": "x", "security": "tls"}])
def test_good_settings_raise_no_problem(settings):
    assert EMAIL_CHANNEL.check_config(config_for(settings)) == []


@pytest.mark.parametrize(("error", "kind", "reason"), [
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(
        552, "5.2.2 Mailbox full", RESIDENT)]), PermanentSendError,
     "the mail server refused the mail: 5.2.2 Mailbox full"),
    (aiosmtplib.SMTPSenderRefused(452, "4.3.1 Insufficient system storage", BAKU1),
     TransientSendError, "the mail server asked to try later: 452 4.3.1 Insufficient system "
                         "storage"),
    (aiosmtplib.SMTPSenderRefused(530, "5.7.0 Authentication required", BAKU1),
     TransientSendError, "the mail server refused the mailbox's login: 530 5.7.0 "
                         "Authentication required"),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Bad credentials"), TransientSendError,
     "the mail server refused the mailbox's login: 535 5.7.8 Bad credentials"),
    (aiosmtplib.SMTPConnectResponseError(554, "5.7.1 No service for you"), TransientSendError,
     "the mail server would not talk to us: 554 5.7.1 No service for you"),
    (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"),
     TransientSendError, "the mail server did not answer in time"),
    (aiosmtplib.SMTPServerDisconnected("Connection lost"), TransientSendError,
     "could not reach the mail server: Connection lost"),
])  # fmt: skip
def test_what_each_answer_means(error, kind, reason):
    meaning = smtp.classify(error)
    assert type(meaning) is kind and str(meaning) == reason
    if kind is PermanentSendError:
        assert meaning.code == "552"


def test_anything_else_is_not_the_servers_answer():
    assert smtp.classify(KeyError("bug")) is None
