"""A mail as the inbox takes it in (`channels.email.inbound`, pure): the sender's Date is kept
for agents when plausible, and never stands for when the mail was received."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from channels.email.inbound import inbound_message, kept_at
from channels.email.mime import parse_mail
from settings import Imap, Mailbox

READ_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)


def sent_at(date: datetime | None) -> str | None:
    head = f"Date: {format_datetime(date)}\r\n" if date else ""
    raw = (f"From: Leyla <leyla@mail.ru>\r\n{head}Subject: Pensiya\r\n\r\nSalam\r\n").encode()
    box = Mailbox(id="dost-baku-1", address="baku1@dost.example.gov.az", queue="dost-baku-1",
                  imap=Imap(host="imap.example.gov.az", port=993, security="tls",
                            user="baku1", password="x"), smtp={}, poll_interval_s=30)
    kept = kept_at(Path("/media/email/dost-baku-1/ab/x.eml"))
    message = inbound_message(parse_mail(raw), raw, box, kept, READ_AT, READ_AT - WINDOW)
    assert message.received_at == READ_AT     # whatever the Date says
    return message.extra["email"]["sent_at"]


def test_a_plausible_date_is_kept_as_when_the_mail_was_sent():
    written = READ_AT - timedelta(days=2, hours=3)
    assert sent_at(written) == written.isoformat()
    # A sender's clock a few minutes ahead of ours is believed.
    assert sent_at(READ_AT + timedelta(minutes=3)) == (READ_AT + timedelta(minutes=3)).isoformat()


def test_a_date_in_the_future_or_before_the_reread_window_is_not_believed():
    assert sent_at(READ_AT + timedelta(hours=2)) is None
    assert sent_at(READ_AT - WINDOW - timedelta(days=1)) is None
    assert sent_at(None) is None


def test_an_attachments_address_names_its_mail_and_its_place_in_a_pack():
    from channels.email.inbound import attachment_url, parse_attachment_url

    pack = Path("/var/media/email/dost-baku-1/ab/abc.mails")
    url = attachment_url(kept_at(pack, (4096, 2310)), 2)
    assert parse_attachment_url(url) == (pack, (4096, 2310), 2)
    alone = Path("/var/media/email/dost-baku-1/cd/cde.eml")
    assert parse_attachment_url(attachment_url(kept_at(alone), 0)) == (alone, None, 0)
    # An earlier version read only a decimal index: a mail in a pack is refused there.
    assert not url.rpartition("#")[2].isdecimal()
    for wrong in ("https://example.az/a#0", f"{pack.as_uri()}#x", f"{pack.as_uri()}#1@2",
                  f"{pack.as_uri()}#1@-2+3", f"{pack.as_uri()}?span=1-2#0", f"{pack.as_uri()}"):
        with pytest.raises(ValueError):
            parse_attachment_url(wrong)
