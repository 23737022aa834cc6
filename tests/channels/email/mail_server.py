"""A real SMTP server for the tests (aiosmtpd, in a thread of its own, on a free port) that
records what it accepts and answers what the test tells it to; and a self-signed
certificate for its STARTTLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def mail(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)


@dataclass
class Recorder:
    """aiosmtpd's handler: each DATA takes the next of `data_answers` (then "250 OK"); a
    `rcpt_answer` refuses every recipient. Mails refused at DATA are kept in `refused`."""

    data_answers: list[str] = field(default_factory=list)
    rcpt_answer: str | None = None
    accepted: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    # The connection (aiosmtpd's session) each mail came over, accepted or refused, in order.
    sessions: list[object] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        self.sessions.append(session)
        answer = self.data_answers.pop(0) if self.data_answers else "250 OK"
        (self.accepted if answer.startswith("250") else self.refused).append(received)
        return answer


class Login:
    """aiosmtpd's authenticator: one user and password."""

    def __init__(self, user: str, password: str):
        self.user, self.password = user.encode(), password.encode()
        self.tries: list[bytes] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.tries.append(auth_data.login)
        return AuthResult(success=(auth_data.login, auth_data.password)
                          == (self.user, self.password))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (openssl, a day long)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


class _ClosingController(Controller):
    """aiosmtpd's controller, but stopping it closes the connections it accepted, as a mail
    server going down does: aiosmtpd's only stops its loop, and leaves their sockets to the
    garbage collector (a ResourceWarning in whichever test runs next)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.made: list = []

    def factory(self):
        smtp = super().factory()
        self.made.append(smtp)
        return smtp

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None:
            closed = threading.Event()

            def close_all() -> None:
                for smtp in self.made:
                    # The TLS transport after STARTTLS, and the socket's own beneath it.
                    for transport in (smtp.transport, smtp._original_transport):
                        if transport is not None:
                            transport.abort()
                # After the sockets' own close, which abort() queued.
                self.loop.call_soon(closed.set)

            self.loop.call_soon_threadsafe(close_all)
            closed.wait(5)
        super().stop(no_assert)


class MailServer:
    """Started in `with`, on a free port of 127.0.0.1."""

    def __init__(self, recorder: Recorder | None = None, *, tls: tuple[Path, Path] | None = None,
                 login: Login | None = None):
        self.recorder = recorder or Recorder()
        self.port = free_port()
        options: dict = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, tls))
            options.update(tls_context=context, require_starttls=True)
        if login is not None:
            options.update(authenticator=login, auth_require_tls=tls is not None)
        self.options = options
        self.controller = _ClosingController(self.recorder, hostname="127.0.0.1",
                                             port=self.port, **options)

    def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port, as a mail
        server restarting does."""
        self.controller.stop()
        self.controller = _ClosingController(self.recorder, hostname="127.0.0.1",
                                             port=self.port, **self.options)
        self.controller.start()

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def accepted(self) -> list[Received]:
        return self.recorder.accepted

    @property
    def connections(self) -> int:
        """How many connections the mails so far came over."""
        return len({id(session) for session in self.recorder.sessions})
