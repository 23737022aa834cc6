"""Reading a backlog in reading processes (`channels.email.readers`): the same messages as
the poll's thread reads, a mail that cannot be read fails alone, a reading process that dies
loses nothing; and a poll that reads ahead stores nothing past a mail it must try again."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import pytest

from channels.email import imap, readers
from channels.email.imap import poll_mailbox
from channels.email.inbound import pack_path
from channels.email.readers import (
    PIECE,
    READER_NICENESS,
    MailReader,
    ReadMail,
    Unread,
    keep_raw,
    read_mails,
)
from inbox.kept_mail import place_of, read_kept
from inbox.storage import utcnow
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.test_imap import mail, stored_mails
from tests.channels.email.test_mime import FIXTURES


def fixtures() -> list[tuple[bytes, str]]:
    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    raws.append(mail("Kimdən?", sender=""))      # nobody to answer: cannot be taken in
    return [(raw, hashlib.sha256(raw).hexdigest()) for raw in raws]


@pytest.fixture
def mailbox(dovecot, new_account):
    return mailbox_on(dovecot, new_account())


async def test_reading_processes_read_what_the_thread_reads(mailbox, tmp_path):
    mails = fixtures()
    at = utcnow()
    in_thread = read_mails(mails, mailbox, tmp_path / "thread", (), at)
    reader = MailReader(mailbox, tmp_path / "processes", (), workers=2)
    await reader.start()
    try:
        read = await reader.read(mails)
    finally:
        await reader.stop()
    assert len(read) == len(mails) and isinstance(read[-1], Unread)
    assert read[-1].kind == "NoSender" and read[-1].error.startswith("NoSender: ")
    for ours, theirs in zip(read, in_thread, strict=True):
        if isinstance(ours, ReadMail):
            # The same message, but for when it was read and where its raw mail is kept.
            assert replace(ours.message, received_at=at, attachments=(), extra=None) == \
                replace(theirs.message, attachments=(), extra=None)
            assert ours.bounce == theirs.bounce
        else:
            assert ours == theirs
    # Each piece in one pack, each mail at its place in it, byte for byte.
    for root, read_by in ((tmp_path / "thread", in_thread), (tmp_path / "processes", read)):
        for (raw, _), one in zip(mails, read_by, strict=True):
            if isinstance(one, ReadMail):
                kept, span = place_of(one.message.extra["email"])
                assert read_kept(root / kept, span) == raw
    [pack] = (tmp_path / "thread").rglob("*.mails")
    # Only the mails made messages are kept: the one naming nobody is not.
    assert pack.stat().st_size == sum(len(raw) for (raw, _), one in zip(mails, in_thread,
                                                                        strict=True)
                                      if isinstance(one, ReadMail))
    assert pack.stat().st_size < sum(len(raw) for raw, _ in mails)
    packs = len(list((tmp_path / "processes").rglob("*.mails")))
    assert packs == -(-len(mails) // PIECE) and not list(tmp_path.rglob("*.eml"))


async def test_reading_processes_yield_the_cores_to_the_poll(mailbox, tmp_path):
    """The poll stores what they read, one chunk after another: it goes first when the
    cores are busy, and so does everything else the machine serves."""
    reader = MailReader(mailbox, tmp_path, (), workers=2)
    await reader.start()
    try:
        await reader.read(fixtures() * 4)   # a piece for each: each has started and answered
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert [os.getpriority(os.PRIO_PROCESS, p.process.pid) for p in reader._processes] \
            == [min(19, own + READER_NICENESS)] * 2
    finally:
        await reader.stop()


def test_a_pack_that_cannot_be_written_fails_its_mails_and_nothing_else(mailbox, tmp_path):
    mails = fixtures()
    (tmp_path / "media").write_text("a file where the media directory should be")
    read = read_mails(mails, mailbox, tmp_path / "media", (), utcnow())
    assert [r.kind for r in read] == ["NotADirectoryError"] * len(mails)


def test_a_mail_whose_message_cannot_be_built_is_not_packed(mailbox, tmp_path, monkeypatch):
    """Parsed, but its message fails (a fact the inbox refuses): it fails alone, and the pack
    holds the others' bytes only, each at the place its message names."""
    mails = fixtures()[:-1]
    refused = mails[2][0]
    build = readers.inbound_message

    def inbound_message(mail, raw, *args):
        if raw == refused:
            raise ValueError("a fact the inbox refuses")
        return build(mail, raw, *args)

    monkeypatch.setattr(readers, "inbound_message", inbound_message)
    read = read_mails(mails, mailbox, tmp_path, (), utcnow())
    assert read[2] == Unread("ValueError", "ValueError: a fact the inbox refuses")
    others = [(raw, one) for (raw, _), one in zip(mails, read, strict=True) if raw != refused]
    assert all(isinstance(one, ReadMail) for _, one in others)
    for raw, one in others:
        kept, span = place_of(one.message.extra["email"])
        assert read_kept(tmp_path / kept, span) == raw
    [pack] = tmp_path.rglob("*.mails")
    assert pack.stat().st_size == sum(len(raw) for raw, _ in others)
    # Named by the mails it holds: the others read again without the refused one are kept
    # in the same pack, not in a second copy.
    assert pack == pack_path(tmp_path, mailbox.id, [d for r, d in mails if r != refused])


async def test_a_reading_process_that_dies_leaves_its_mails_to_the_thread(mailbox, tmp_path):
    mails = fixtures() * 3
    reader = MailReader(mailbox, tmp_path, (), workers=2)
    await reader.start()
    try:
        reader._processes[0].process.kill()
        read = await reader.read(mails)
        assert len(reader._processes) == 1
    finally:
        await reader.stop()
    alone = read_mails(mails, mailbox, tmp_path, (), utcnow())
    assert [r.message.text if isinstance(r, ReadMail) else r for r in read] == \
        [r.message.text if isinstance(r, ReadMail) else r for r in alone]


@pytest.fixture
def box(new_account) -> str:
    return new_account()


@pytest.fixture
def config(config, dovecot, box, tmp_path):
    return with_mailboxes(config, str(tmp_path / "media"), mailbox_on(dovecot, box),
                          fetch_batch=3)


async def test_a_backlog_read_ahead_stores_nothing_past_a_mail_tried_again(
        ctx, dovecot, box, monkeypatch):
    monkeypatch.setattr(imap, "PARALLEL_FROM", 2)    # this backlog in reading processes
    for n in range(1, 8):
        dovecot.append(box, mail(f"Ərizə {n}", sender="" if n == 5 else f"r{n}@mail.ru"))
    [mailbox] = ctx.config.channels.email.mailboxes
    # Chunks of three: the third is read ahead while the second is stored, but the cursor
    # stops before the mail that failed (the second chunk's others are stored, and found
    # stored when read again), and the chunk read ahead waits for the next poll.
    assert await poll_mailbox(ctx, mailbox) == "5 stored"
    assert [row["body"] for row in await stored_mails(ctx)] == [
        f"Ərizə {n}" for n in (1, 2, 3, 4, 6)]
    async with ctx.store.read() as tx:
        assert (await tx.mail.cursor(box, "INBOX"))["last_uid"] == 4
    assert await poll_mailbox(ctx, mailbox) == "1 stored"    # 5, 6, 7 again: 7 is new
    assert await poll_mailbox(ctx, mailbox) == "0 stored"    # 5 buried at its third failure
    assert [row["body"] for row in await stored_mails(ctx)] == [
        f"Ərizə {n}" for n in (1, 2, 3, 4, 6, 7)]
    async with ctx.store.read() as tx:
        assert (await tx.mail.cursor(box, "INBOX"))["last_uid"] == 7


async def test_the_kept_mail_is_served_to_those_who_may_see_its_conversation(
        aiohttp_client, ctx, dovecot, box):
    from app import create_app
    from tests.conftest import with_test_channels
    from tests.inbox.test_auth import add_user
    from tests.web.test_api import mint_token

    dovecot.append(box, mail("Salam, arayış lazımdır.", sender="orxan@mail.ru"))
    raw = mail("Arayış əlavə olunub.", sender="aysel@mail.ru")
    dovecot.append(box, raw)
    [mailbox] = ctx.config.channels.email.mailboxes
    assert await poll_mailbox(ctx, mailbox) == "2 stored"
    [_, row] = await stored_mails(ctx)
    assert row["extra"]["email"]["raw_span"][0] > 0    # the second mail of a pack
    ours = await add_user(ctx, "leyla@dost.example.gov.az", name="Leyla",
                          queues=("dost-baku-1",))
    other = await add_user(ctx, "murad@dost.example.gov.az", name="Murad",
                           queues=("migration-registration",))
    client = await aiohttp_client(with_test_channels(create_app(ctx.config)))
    response = await client.get(f"/api/v1/messages/{row['id']}/raw",
                                headers=await mint_token(ctx, ours))
    assert response.status == 200 and await response.read() == raw
    assert response.headers["Content-Type"] == "message/rfc822"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="mail-{row["id"]}.eml"'
    response = await client.get(f"/api/v1/messages/{row['id']}/raw",
                                headers=await mint_token(ctx, other))
    assert response.status == 403
    assert (await client.get(f"/api/v1/messages/{row['id']}/raw")).status == 401
    response = await client.get(f"/api/v1/messages/{row['id'] + 100}/raw",
                                headers=await mint_token(ctx, ours))
    assert response.status == 404
    # A pack cut short (a disk restored from an older copy): gone, said so, never a 500.
    pack = ctx.media_dir / row["extra"]["email"]["raw_pack"]
    pack.write_bytes(pack.read_bytes()[:row["extra"]["email"]["raw_span"][0] + 10])
    response = await client.get(f"/api/v1/messages/{row['id']}/raw",
                                headers=await mint_token(ctx, ours))
    assert response.status == 404
    assert (await response.json())["error"] == "the kept mail is gone"


def test_a_raw_mail_kept_already_is_touched_not_written_again(tmp_path):
    path = tmp_path / "email" / "dost-baku-1" / "ab" / "ab12.eml"
    raw = mail("Salam")
    keep_raw(path, raw)
    a_week_ago = path.stat().st_mtime - 7 * 24 * 3600
    os.utime(path, (a_week_ago, a_week_ago))

    keep_raw(path, b"other bytes under the same name are never written over it")

    assert path.read_bytes() == raw
    # In use again: the sweep of files no message names must not take it for an old one.
    assert path.stat().st_mtime > a_week_ago + 6 * 24 * 3600
