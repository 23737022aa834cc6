"""The e-mail channel's fixtures: a real Dovecot for the session, a fresh account per test,
and the test configuration with mailboxes on it."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from settings import Config, EmailChannel, Imap, Mailbox
from tests.channels.email.dovecot import DOVECOT, Dovecot


@pytest.fixture(scope="session")
def dovecot():
    if not DOVECOT.exists():
        pytest.fail(f"{DOVECOT} is missing; scripts/test installs dovecot-imapd",
                    pytrace=False)
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def new_account(dovecot):
    """Makes a fresh Dovecot account (an empty mailbox); returns its user name."""
    return lambda: f"box{secrets.token_hex(4)}"


def mailbox_on(dovecot: Dovecot, user: str, *, mailbox_id: str | None = None,
               queue: str = "dost-baku-1", password: str | None = None,
               **imap: object) -> Mailbox:
    return Mailbox(
        id=mailbox_id or user, address=f"{user}@dost.example.gov.az", queue=queue,
        imap=Imap(host=dovecot.host, port=dovecot.port, security="none", user=user,
                  password=password if password is not None else dovecot.password,
                  **imap),
        smtp={}, poll_interval_s=30)


def with_mailboxes(config: Config, media_dir: str, *mailboxes: Mailbox,
                   **email: object) -> Config:
    """`config` with these mailboxes (and e-mail settings), its media kept in `media_dir`."""
    channel = replace(config.channels.email or EmailChannel(30, ()), mailboxes=mailboxes,
                      **email)
    return replace(config, channels=replace(config.channels, email=channel),
                   media=replace(config.media, directory=media_dir))
