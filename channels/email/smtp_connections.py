"""Connections to a mailbox's SMTP server, kept between mails while the worker's delivery
loop runs (`channels.sending.kept_open`), so a batch of answers costs one TCP, TLS and login
handshake per connection rather than per mail.

A connection carries one mail at a time; mails sent side by side open more, and up to
`MAX_IDLE` wait for the next ones, each for at most `IDLE_S` (servers drop idle clients
after a minute or so, and a long-idle connection is cheaper to replace than to find dead).
A kept connection the server has closed meanwhile shows at the first command, before any of
the mail went: that mail is tried once more on a fresh connection. Any other failure closes
the connection, so the next mail never inherits a half-finished transaction."""

from __future__ import annotations

import contextlib
import time
from email.message import EmailMessage

import aiosmtplib

MAX_IDLE = 4
IDLE_S = 30.0


class SmtpConnections:
    """The pool of one server's connections (an async context manager: leaving it quits every
    idle connection). `settings` is a `channels.email.smtp.SmtpSettings`."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.opened = 0   # connections opened so far (what keeping them saves is visible)

    async def __aenter__(self) -> SmtpConnections:
        return self

    async def __aexit__(self, *exc_info) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            await _quit(client)

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand one mail to the server; aiosmtplib's exceptions as it raises them."""
        client, kept = await self._take()
        try:
            try:
                await client.send_message(message, sender=sender, recipients=[recipient])
            except aiosmtplib.SMTPServerDisconnected:
                if not kept:
                    raise
                await _quit(client)
                client = await self._connect()
                await client.send_message(message, sender=sender, recipients=[recipient])
        except BaseException:
            await _quit(client)
            raise
        self._give_back(client)

    async def _take(self) -> tuple[aiosmtplib.SMTP, bool]:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < IDLE_S:
                return client, True
            await _quit(client)
        return await self._connect(), False

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < MAX_IDLE and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, username=s.user, password=s.password,
            use_tls=s.security == "tls", start_tls=s.security == "starttls",
            timeout=s.timeout_s, cert_bundle=s.ca_file)
        self.opened += 1
        await client.connect()   # and STARTTLS and the login, as configured
        return client


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye where the connection still allows it; close it either way."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        if client.is_connected:
            await client.quit()
    client.close()
