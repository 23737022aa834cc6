"""The mailboxes' poll against a real Dovecot, on SQLite and PostgreSQL: each mail stored
once whatever happens between the server, the database and the worker."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select

from channels.email import dead_letters, imap, kept_sweep
from channels.email.imap import MailboxLock, chunks, poll_due, poll_mailbox, uid_set
from channels.email.inbound import external_id
from inbox import mailboxes
from inbox.kept_mail import place_of, read_kept
from inbox.storage import utcnow
from inbox.storage.schema import messages
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.dovecot import free_port
from tests.channels.email.test_mime import FIXTURES


def mail(text: str = "Salam, pensiyam gəlməyib.", *, sender: str = "elnur@mail.ru",
         name: str = "Elnur Quliyev", subject: str = "Pensiya", message_id: str | None = None,
         headers: str = "") -> bytes:
    lines = [f"From: {name} <{sender}>" if sender else None,
             "To: baku1@dost.example.gov.az",
             f"Subject: {subject}",
             f"Date: {format_datetime(utcnow())}",
             f"Message-ID: {message_id}" if message_id else None,
             "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit"]
    head = "\r\n".join(line for line in lines if line) + headers
    return f"{head}\r\n\r\n{text}\r\n".encode()


@pytest.fixture
def box(new_account) -> str:
    return new_account()


@pytest.fixture
def config(config, dovecot, box, tmp_path):
    return with_mailboxes(config, str(tmp_path / "media"), mailbox_on(dovecot, box))


def the_mailbox(ctx):
    [mailbox] = ctx.config.channels.email.mailboxes
    return mailbox


async def stored_mails(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        result = await tx.conn.execute(select(messages).where(messages.c.channel == "email",
                                                              messages.c.direction == "in")
                                       .order_by(messages.c.id))
        return [dict(row._mapping) for row in result]


def kept_bytes(ctx, row) -> bytes:
    """The raw mail the poll kept for the message `row`, where its extra says."""
    kept, span = place_of(row["extra"]["email"])
    return read_kept(ctx.media_dir / kept, span)


async def message_count(ctx) -> int:
    async with ctx.store.read() as tx:
        return (await tx.conn.execute(select(func.count()).select_from(messages)
                                      .where(messages.c.channel == "email",
                                             messages.c.direction == "in"))).scalar_one()


async def test_a_residents_mail_becomes_a_conversation_in_the_mailboxs_queue(ctx, dovecot,
                                                                              box):
    raw = mail(message_id="<a1@mail.ru>")
    dovecot.append(box, raw)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    [row] = await stored_mails(ctx)
    assert row["external_id"] == external_id(box, raw)
    assert (row["body"], row["direction"]) == ("Salam, pensiyam gəlməyib.", "in")
    assert row["extra"]["email"]["subject"] == "Pensiya"
    assert row["extra"]["email"]["message_id"] == "<a1@mail.ru>"
    assert row["extra"]["email"]["mailbox"] == box
    # The full mail, byte for byte, one click away.
    assert kept_bytes(ctx, row) == raw
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(row["conversation_id"])
        identity = await tx.contacts.identity("email", "elnur@mail.ru")
    assert conversation["queue"] == "dost-baku-1"
    assert identity is not None
    # Flagged \Seen (the default) only after the commit; the cursor is past it.
    assert dovecot.flags(box) == {1: ("\\Seen",)}
    async with ctx.store.read() as tx:
        cursor = await tx.mail.cursor(box, "INBOX")
    assert cursor["last_uid"] == 1


async def test_mail_is_read_without_setting_seen_and_flagged_with_the_configured_keyword(
        ctx, dovecot, box):
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, flag="$Imported"))
    dovecot.append(box, mail())
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert dovecot.flags(box) == {1: ("$Imported",)}


async def test_after_none_leaves_the_mail_as_it_was_and_move_moves_it(ctx, dovecot, box):
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, after="none"))
    dovecot.append(box, mail("first"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert dovecot.flags(box) == {1: ()}
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, after="move", move_to="Done"))
    with dovecot.session(box) as session:
        session.folder.create("Done")
    dovecot.append(box, mail("second"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert list(dovecot.flags(box)) == [1]
    assert len(dovecot.flags(box, "Done")) == 1


async def test_moving_read_mail_leaves_what_staff_marked_deleted_alone(ctx, dovecot, box):
    """The move is the server's MOVE, which it announces only once we are logged in: a copy
    and an expunge would also remove a mail someone at the centre marked deleted."""
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, after="move", move_to="Done"))
    dovecot.append(box, mail("Köhnə məktub", sender="staff@dost.example.gov.az"))
    with dovecot.session(box) as session:
        session.folder.create("Done")
        session.folder.set("INBOX")
        [marked] = [m.uid for m in session.fetch(mark_seen=False)]
        # By the command itself: imap-tools' flag() expunges what it marks deleted.
        session.client.uid("STORE", marked, "+FLAGS", r"(\Deleted)")
        uidvalidity = int(session.folder.status("INBOX", ["UIDVALIDITY"])["UIDVALIDITY"])
    # Behind the cursor, as mail there before the mailbox was added to the config would be.
    async with ctx.store.transaction() as tx:
        await tx.mail.set_cursor(box, "INBOX", uidvalidity, int(marked))
    dovecot.append(box, mail("Yeni məktub"))

    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"

    assert dovecot.flags(box) == {int(marked): ("\\Deleted",)}
    assert len(dovecot.flags(box, "Done")) == 1


async def test_a_reused_message_id_with_other_content_is_a_second_mail(ctx, dovecot, box):
    dovecot.append(box, mail("Birinci məktub", message_id="<same@mail.ru>"))
    dovecot.append(box, mail("İkinci məktub, başqa", message_id="<same@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    assert [row["body"] for row in await stored_mails(ctx)] == ["Birinci məktub",
                                                               "İkinci məktub, başqa"]


async def test_a_mail_without_message_id_is_stored(ctx, dovecot, box):
    dovecot.append(box, mail("Message-ID yoxdur"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    [row] = await stored_mails(ctx)
    assert row["body"] == "Message-ID yoxdur"
    assert row["extra"]["email"]["message_id"] is None


async def test_the_same_raw_mail_in_two_polls_is_stored_once(ctx, dovecot, box):
    raw = mail(message_id="<twice@mail.ru>")
    dovecot.append(box, raw)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    dovecot.append(box, raw)    # delivered again: another UID, the same bytes
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "0 stored"
    assert await message_count(ctx) == 1
    async with ctx.store.read() as tx:
        assert (await tx.mail.cursor(box, "INBOX"))["last_uid"] == 2


def kept_files(ctx) -> set[tuple[str, int]]:
    """The raw mails kept under the media directory: (path, size) of each file."""
    return {(str(path), path.stat().st_size)
            for path in (ctx.media_dir / "email").rglob("*") if path.is_file()}


async def test_kept_mail_no_message_names_is_removed_once_a_day_old(ctx, dovecot, box):
    dovecot.append(box, mail(message_id="<k1@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    for n in (2, 3):
        dovecot.append(box, mail(f"Ərizə {n}", sender=f"r{n}@mail.ru",
                                 message_id=f"<k{n}@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    rows = await stored_mails(ctx)
    named = {place_of(row["extra"]["email"])[0] for row in rows}
    # What a poll killed between keeping its chunk and storing it leaves: a pack no message
    # names, and a write that died half-way.
    folder = ctx.media_dir / "email" / box / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / f"ab{'0' * 62}.mails"
    orphan.write_bytes(mail("Köhnə məktub") + mail("Başqa məktub", sender="x@mail.ru"))
    partial = folder / f".{orphan.name}.4242.deadbeef"
    partial.write_bytes(mail("Yarımçıq")[:40])

    def left() -> set[str]:
        return {str(path.relative_to(ctx.media_dir)) for path in (ctx.media_dir / "email")
                .rglob("*") if path.is_file() and path.name != kept_sweep.HORIZON_FILE}

    # Younger than a day: a poll might still be storing them.
    assert await kept_sweep.sweep(ctx) == 0
    assert left() == named | {str(orphan.relative_to(ctx.media_dir)),
                              str(partial.relative_to(ctx.media_dir))}
    # A day later the two go, and every stored message's mail is still there.
    a_day_later = utcnow() + timedelta(days=1, minutes=1)
    assert await kept_sweep.sweep(ctx, now=a_day_later) == 2
    assert left() == named
    assert [kept_bytes(ctx, row)[:5] for row in rows] == [b"From:"] * 3
    # The next sweep looks only at what was written since the last one's horizon.
    assert await kept_sweep.sweep(ctx, now=a_day_later + timedelta(hours=1)) == 0
    assert left() == named


async def test_a_uidvalidity_reset_reads_the_folder_again_without_doubling(ctx, dovecot, box):
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, folders=("Applications",)))
    first, second, third = (mail(f"Ərizə {n}", message_id=f"<app{n}@mail.ru>")
                            for n in (1, 2, 3))
    dovecot.recreate(box, "Applications")
    dovecot.append(box, first, "Applications")
    dovecot.append(box, second, "Applications")
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    async with ctx.store.read() as tx:
        before = await tx.mail.cursor(box, "Applications")
    # The server's folder is made anew (a restore, a migration): UIDs start again at 1, and
    # the new mail has a UID the old cursor had passed.
    dovecot.recreate(box, "Applications")
    for raw in (third, first, second):
        dovecot.append(box, raw, "Applications")
    kept_before = kept_files(ctx)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert [row["body"] for row in await stored_mails(ctx)] == ["Ərizə 1", "Ərizə 2", "Ərizə 3"]
    # Only the new mail was read and kept: the two stored before are not kept a second time.
    [(_path, size)] = kept_files(ctx) - kept_before
    assert size == len(third)
    async with ctx.store.read() as tx:
        after = await tx.mail.cursor(box, "Applications")
    assert after["uidvalidity"] != before["uidvalidity"] and after["last_uid"] == 3


async def test_a_poll_that_died_before_its_cursor_moved_stores_every_mail_once(ctx, dovecot,
                                                                              box):
    for n in range(5):
        dovecot.append(box, mail(f"Məktub {n}", sender=f"resident{n}@mail.ru"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "5 stored"
    # As if the worker was killed after the commit, before the cursor moved (and before the
    # mails were flagged), with its lock left behind until the TTL.
    async with ctx.store.transaction() as tx:
        await tx.mail.set_cursor(box, "INBOX", (await tx.mail.cursor(box, "INBOX"))
                                 ["uidvalidity"], 0)
    assert await MailboxLock(ctx.redis, box, ttl_s=1).acquire()
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "busy"
    await asyncio.sleep(1.1)    # the dead poller's lock lapses
    new = mail("Yeni məktub", sender="resident9@mail.ru")
    dovecot.append(box, new)
    kept_before = kept_files(ctx)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert await message_count(ctx) == 6
    [(_path, size)] = kept_files(ctx) - kept_before   # the new mail; the five not again
    assert size == len(new)
    assert len(await stored_mails(ctx)) == len({r["external_id"] for r in await stored_mails(ctx)})


async def test_only_one_poller_reads_a_mailbox_at_a_time(ctx, dovecot, box):
    for n in range(3):
        dovecot.append(box, mail(f"Məktub {n}", sender=f"r{n}@mail.ru"))
    outcomes = await asyncio.gather(*(poll_mailbox(ctx, the_mailbox(ctx)) for _ in range(3)))
    assert sorted(outcomes) == ["3 stored", "busy", "busy"]
    assert await message_count(ctx) == 3


async def test_a_poison_mail_ends_in_the_dead_letters_and_the_next_mails_still_arrive(
        ctx, dovecot, box):
    poison = mail("Kimdən?", sender="")          # nobody to answer: cannot be taken in
    dovecot.append(box, mail("Əvvəl", sender="before@mail.ru"))
    dovecot.append(box, poison)
    dovecot.append(box, mail("Sonra", sender="after@mail.ru"))
    for attempt in (1, 2):
        assert await poll_mailbox(ctx, the_mailbox(ctx)) == ("2 stored" if attempt == 1
                                                            else "0 stored")
        async with ctx.store.read() as tx:
            assert (await tx.mail.cursor(box, "INBOX"))["last_uid"] == 1   # waits for it
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "0 stored"   # the third failure
    [letter] = await dead_letters.dead_letters(ctx)
    assert (letter["mailbox"], letter["uid"], letter["attempts"]) == (box, 2, 3)
    assert letter["error"].startswith("NoSender")
    async with ctx.store.read() as tx:
        assert bytes((await tx.mail.dead_letter(letter["id"]))["raw"]) == poison
        assert (await tx.mail.cursor(box, "INBOX"))["last_uid"] == 3   # past it
    dovecot.append(box, mail("Ən sonra", sender="later@mail.ru"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert [r["body"] for r in await stored_mails(ctx)] == ["Əvvəl", "Sonra", "Ən sonra"]
    # Replaying it fails the same way: it stays, with the attempt counted.
    result = await dead_letters.replay(ctx, letter["id"])
    assert not result.stored and result.error.startswith("NoSender")
    [letter] = await dead_letters.dead_letters(ctx)
    assert letter["attempts"] == 4


async def test_a_replayed_dead_letter_is_stored_and_removed(ctx, box):
    raw = mail("Bu dəfə alınsın", sender="nigar@mail.ru")
    async with ctx.store.transaction() as tx:
        letter_id = await tx.mail.bury(box, "INBOX", 7, external_id(box, raw).split(":")[1],
                                       raw, "OperationalError: database is locked", 3)
    result = await dead_letters.replay(ctx, letter_id)
    assert result.stored and not result.duplicate
    [row] = await stored_mails(ctx)
    assert (row["id"], row["body"]) == (result.message_id, "Bu dəfə alınsın")
    # A mail read alone is kept in a file of its own.
    assert {"raw_pack", "raw_span"}.isdisjoint(row["extra"]["email"])
    assert row["extra"]["email"]["raw"].endswith(".eml") and kept_bytes(ctx, row) == raw
    assert await dead_letters.dead_letters(ctx) == []
    assert await dead_letters.replay(ctx, letter_id) is None


async def test_a_wrong_password_is_reported_and_the_other_mailbox_still_polled(
        ctx, dovecot, box, new_account):
    other = new_account()
    wrong = mailbox_on(dovecot, other, mailbox_id="dost-baku-2", queue="dost-baku-2",
                       password="not-the-password")
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir), the_mailbox(ctx), wrong)
    dovecot.append(box, mail())
    dovecot.append(other, mail("Bakı 2"))
    assert await poll_due(ctx) == {box: "1 stored", "dost-baku-2": "failed: login"}
    health = await mailboxes.health(ctx.redis)
    assert health[box].ok and not health["dost-baku-2"].ok
    assert (health["dost-baku-2"].error, health["dost-baku-2"].failures) == ("login", 1)
    # Backing off: not tried again before its time, and longer after each failure.
    assert await poll_due(ctx) == {}
    failing = health["dost-baku-2"]
    # Both are due again by then: the healthy box's interval runs from when its (slower)
    # poll ended, which on a loaded machine is later than the failed login.
    later = max(failing.due_at, health[box].due_at) + 1
    assert await poll_due(ctx, now=later) == {box: "0 stored", "dost-baku-2": "failed: login"}
    again = (await mailboxes.health(ctx.redis))["dost-baku-2"]
    assert again.failures == 2 and again.since == failing.since
    assert again.due_at - failing.due_at > 30


async def test_a_server_that_does_not_answer_is_a_connection_failure(ctx, dovecot, box):
    down = replace(the_mailbox(ctx), imap=replace(the_mailbox(ctx).imap, port=free_port()))
    assert await poll_mailbox(ctx, down) == "failed: connection"
    assert (await mailboxes.health(ctx.redis))[box].error == "connection"


def test_backoff_doubles_up_to_its_ceiling():
    assert [mailboxes.backoff_s(30, n) for n in (1, 2, 3, 6, 20)] == [30, 60, 120, 900, 900]
    assert mailboxes.backoff_s(3600, 5) == 3600


def with_attachments(parts: list[tuple[str, str, bytes]]) -> bytes:
    """A mail with a text body and these (filename, content type, bytes) attachments."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Nigar Əliyeva <nigar@gmail.com>"
    message["To"] = "baku1@dost.example.gov.az"
    message["Subject"] = "Sənədlər"
    message["Message-ID"] = "<docs@gmail.com>"
    message.set_content("Sənədləri əlavə edirəm.")
    for filename, content_type, data in parts:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


async def test_attachments_are_kept_from_the_raw_mail_within_the_media_limits(ctx, dovecot,
                                                                              box):
    from channels.media import fetch_message_media

    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 3000
    ctx.config = replace(ctx.config, media=replace(ctx.config.media, max_bytes=2048))
    dovecot.append(box, mail("Salam, sənədləri sonra göndərəcəm.", sender="rauf@mail.ru"))
    dovecot.append(box, with_attachments([("ərizə.pdf", "application/pdf", pdf),
                                          ("scan.png", "image/png", big),
                                          ("run.exe", "application/x-msdownload", b"MZ")]))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    [first, row] = await stored_mails(ctx)
    # Read together, both are kept in one pack; the mail with attachments after the other.
    assert first["extra"]["email"]["raw_pack"] == row["extra"]["email"]["raw_pack"]
    assert row["extra"]["email"]["raw_span"][0] == len(kept_bytes(ctx, first)) > 0
    assert "raw" not in row["extra"]["email"]   # what an earlier version would read whole
    assert [(a["filename"], a["size"]) for a in row["attachments"]] == [
        ("ərizə.pdf", len(pdf)), ("scan.png", len(big)), ("run.exe", 2)]
    assert await fetch_message_media(ctx, row["id"]) == 1
    async with ctx.store.read() as tx:
        kept = (await tx.messages.get(row["id"]))["attachments"]
    assert (ctx.media_dir / kept[0]["stored"]).read_bytes() == pdf
    assert kept[0]["url"] == f"/api/v1/messages/{row['id']}/attachments/0"
    assert kept[1]["error"] == "the attachment is larger than 2048 bytes"
    assert kept[2]["error"] == "content type application/x-msdownload is not accepted"


async def test_a_tls_failure_is_reported_as_such(ctx, dovecot, box):
    # The test server speaks no TLS: the handshake fails as a certificate error would.
    tls = replace(the_mailbox(ctx), imap=replace(the_mailbox(ctx).imap, security="tls"))
    assert await poll_mailbox(ctx, tls) == "failed: tls"
    starttls = replace(the_mailbox(ctx), imap=replace(the_mailbox(ctx).imap,
                                                      security="starttls"))
    assert await poll_mailbox(ctx, starttls) in ("failed: tls", "failed: server")
    assert (await mailboxes.health(ctx.redis))[box].failures == 2


async def test_a_bounce_of_our_mail_fails_it_with_the_reason_and_opens_nothing(ctx, dovecot,
                                                                               box):
    """A delivery report naming the Message-ID of our reply fails that reply with the
    server's words and is kept as a note beside it; the mailer daemon gets no conversation
    and no acknowledgement."""
    dovecot.append(box, mail(message_id="<q1@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    [question] = await stored_mails(ctx)
    ours = "<dost.1234.98.a1b2c3d4e5f60718@dost.example.gov.az>"   # the report's original
    async with ctx.store.transaction() as tx:
        reply_id = await tx.messages.insert(
            conversation_id=question["conversation_id"], channel="email", direction="out",
            external_id=ours, body="Hörmətli Elnur, sənədlərinizi gözləyirik.",
            author_kind="agent", author_id=None, created_at=utcnow(), delivery_status="sent")
    report = (FIXTURES / "postfix_dsn_bounce.eml").read_bytes()
    dovecot.append(box, report)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    async with ctx.store.read() as tx:
        reply = await tx.messages.get(reply_id)
        thread = await tx.messages.of_conversation(question["conversation_id"])
        daemon = await tx.contacts.identity("email", "mailer-daemon@dost.example.gov.az")
    assert reply["delivery_status"] == "failed"
    assert "invalid mailbox" in reply["delivery_error"]
    assert [m["direction"] for m in thread if m["author_kind"] == "system"][-1] == "note"
    assert daemon is None
    assert [row["id"] for row in await stored_mails(ctx)] == [question["id"]]


def test_uids_are_asked_for_as_ranges():
    assert uid_set([7]) == "7"
    assert uid_set([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert uid_set(list(range(1, 5001))) == "1:5000"


def test_a_chunk_holds_at_most_its_count_of_mails_and_its_bytes():
    sizes = {1: 10, 2: 10, 3: 50, 4: 10, 5: 10, 6: 10}
    # 3 is larger than the budget: a chunk alone.
    assert list(chunks([1, 2, 3, 4, 5, 6], sizes, 3, 30)) == [[1, 2], [3], [4, 5, 6]]
    assert list(chunks([1, 2, 3, 4, 5, 6], sizes, 2, 1000)) == [[1, 2], [3, 4], [5, 6]]
    assert list(chunks([1, 2], {}, 5, 1)) == [[1, 2]]     # sizes unknown: counted as none


async def test_a_backlog_of_scanned_documents_is_fetched_within_the_chunks_byte_budget(
        ctx, dovecot, box, monkeypatch):
    scans = [with_attachments([(f"scan-{n}.pdf", "application/pdf",
                                b"%PDF-1.4\n" + bytes([n]) * 40_000)]) for n in range(5)]
    for scan in scans:
        dovecot.append(box, scan)
    fetched = []

    def fetch_raw(client, uids):
        fetched.append(len(uids))
        return real_fetch_raw(client, uids)

    real_fetch_raw = imap.fetch_raw
    monkeypatch.setattr(imap, "fetch_raw", fetch_raw)
    monkeypatch.setattr(imap, "CHUNK_BYTES", len(scans[0]) * 5 // 2)   # two and a half
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "5 stored"
    assert fetched == [2, 2, 1]
    # Each as the server keeps it (with CRLF line ends).
    assert [kept_bytes(ctx, row).replace(b"\r\n", b"\n")
            for row in await stored_mails(ctx)] == scans
