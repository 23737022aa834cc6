"""Erasing a resident empties the dead letters they sent: a dead letter keeps the keyed digest
of its sender's address (never the address), taken from the mail's headers however broken
the rest; a real Dovecot, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from channels.email import dead_letters, readers
from channels.email.imap import poll_mailbox
from channels.email.mime import sender_in_headers
from inbox import matching
from inbox.storage.erasure import DEAD_LETTER_SENDER_ERASED
from inbox.storage.schema import audit_events, mail_dead_letters
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.test_imap import mail
from tests.channels.email.test_server_copies import AYTAN, ELNUR, erase
from tests.inbox.test_erasure import row

POISON = "ZƏHƏRLİ MƏKTUB"


@pytest.fixture
def box(new_account) -> str:
    return new_account()


@pytest.fixture
def config(config, dovecot, box, tmp_path):
    return with_mailboxes(config, str(tmp_path / "media"), mailbox_on(dovecot, box))


@pytest.fixture
def poisoned(monkeypatch):
    """Mails with the POISON words in them cannot be read (as a parser's bug would)."""
    parse = readers.parse_mail

    def failing(raw, **kwargs):
        if POISON.encode() in raw:
            raise ValueError("the parser gave up")
        return parse(raw, **kwargs)

    monkeypatch.setattr(readers, "parse_mail", failing)


async def buried(ctx, box, poisons: int) -> None:
    """Poll until the poison mails are dead letters: the folder waits for each one for
    max_attempts polls."""
    for _ in range(ctx.config.channels.email.max_attempts * poisons):
        await poll_mailbox(ctx, ctx.config.channels.email.mailboxes[0])


async def test_an_erasure_empties_the_dead_letters_the_resident_sent(ctx, dovecot, box,
                                                                    poisoned):
    dovecot.append(box, mail("Salam, pensiyam gəlməyib.", message_id="<d1@mail.ru>"))
    elnurs = mail(f"{POISON} FIN 5ZK7HXM", sender=ELNUR.upper(), message_id="<d2@mail.ru>")
    aytans = mail(f"{POISON} ikinci", sender=AYTAN, name="Aytən", message_id="<d3@mail.ru>")
    dovecot.append(box, elnurs)
    dovecot.append(box, aytans)
    await buried(ctx, box, 2)
    letters = {bytes(r["raw"]): r for r in await row(ctx, mail_dead_letters)}
    assert set(letters) == {elnurs, aytans}
    # Found by a keyed digest of the address (as its From wrote it, in capitals), never the
    # address itself.
    assert letters[elnurs]["sender_digest"] == matching.sender_digest(ctx.claim_key, ELNUR)

    done = await erase(ctx, ELNUR)

    assert done.dead_letters == 1
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert audit["details"]["dead_letters"] == 1
    after = {r["id"]: r for r in await row(ctx, mail_dead_letters)}
    emptied = after[letters[elnurs]["id"]]
    assert (bytes(emptied["raw"]), emptied["error"], emptied["sender_digest"]) == (
        b"", DEAD_LETTER_SENDER_ERASED, None)
    assert emptied["digest"] == letters[elnurs]["digest"]    # a folder read again passes it
    kept = after[letters[aytans]["id"]]
    assert bytes(kept["raw"]) == aytans and kept["sender_digest"] is not None
    # A replay says why there is nothing to take in.
    result = await dead_letters.replay(ctx, emptied["id"])
    assert (result.stored, result.error) == (False, DEAD_LETTER_SENDER_ERASED)


def test_the_sender_is_read_from_the_headers_alone():
    assert sender_in_headers(mail("x", sender="Elnur@Mail.RU")) == "elnur@mail.ru"
    reply_to_only = mail("x", sender="", headers="\r\nReply-To: <aytan@yandex.ru>")
    assert sender_in_headers(reply_to_only) == "aytan@yandex.ru"
    assert sender_in_headers(mail("x", sender="")) is None
    assert sender_in_headers(b"\x00\xff garbage without headers") is None
    # A body the parser cannot read does not stop the headers being read.
    broken = (b"From: Nigar <nigar@mail.ru>\r\nContent-Type: multipart/mixed; boundary=\"b\""
              b"\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@")
    assert sender_in_headers(broken) == "nigar@mail.ru"
