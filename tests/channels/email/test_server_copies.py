"""Erasing a resident deletes their mails from the mailbox's server: a real Dovecot, the real
database (SQLite and PostgreSQL) and Redis. The mails are listed with the erasure and deleted
by the worker's job, found by Message-ID and told apart by the hash of their bytes, in every
folder the poll leaves mail in; while the server cannot be reached they are tried again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels import provider_records
from channels.email import imap, server_copies
from channels.email.channel import EMAIL_CHANNEL
from channels.email.imap import fetch_raw, poll_mailbox
from channels.email.inbound import external_id
from channels.email.server_copies import folders_of, locator
from inbox import actions, erasure
from inbox.actions import Actor
from inbox.storage import utcnow
from inbox.storage.schema import audit_events, provider_erasures
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.test_imap import mail, stored_mails, the_mailbox
from tests.inbox.test_erasure import admin, row

ELNUR = "elnur@mail.ru"
AYTAN = "aytan@yandex.ru"


@pytest.fixture
def box(new_account) -> str:
    return new_account()


@pytest.fixture
def config(config, dovecot, box, tmp_path):
    return with_mailboxes(config, str(tmp_path / "media"), mailbox_on(dovecot, box))


def on_server(dovecot, box: str, folder: str = "INBOX") -> set[bytes]:
    """The mails in the folder, byte for byte."""
    with dovecot.session(box) as session:
        session.folder.set(folder, readonly=True)
        uids = [int(uid) for uid in session.uids()]
        return {raw for _, raw in fetch_raw(session, uids)} if uids else set()


def message_ids_on_server(dovecot, box: str, folder: str = "INBOX") -> list[str]:
    with dovecot.session(box) as session:
        session.folder.set(folder, readonly=True)
        return sorted(m.headers.get("message-id", ("",))[0]
                      for m in session.fetch(mark_seen=False, headers_only=True))


async def erase(ctx, address: str):
    """Resolve the resident's conversations and erase them, as an admin does."""
    boss, _ = await admin(ctx)
    mine = [r for r in await stored_mails(ctx) if r["extra"]["email"]["from"] == address]
    for conversation_id in {r["conversation_id"] for r in mine}:
        await actions.set_status(ctx, Actor(boss, "admin", ()), conversation_id, "resolved")
    async with ctx.store.read() as tx:
        contact_id = (await tx.conversations.get(mine[0]["conversation_id"]))["contact_id"]
    return await erasure.erase_contact(ctx, contact_id, reason="resident_request",
                                       actor_id=boss)


async def test_an_erasure_deletes_the_residents_mails_from_the_server_and_no_one_elses(
        ctx, dovecot, box, monkeypatch):
    # The four mails the search finds are read two at a time.
    monkeypatch.setattr(server_copies, "FETCH_AT_ONCE", 2)
    first = mail("Salam, FIN 5ZK7HXM, pensiyam gəlməyib.", message_id="<e1@mail.ru>")
    second = mail("Şəxsiyyət vəsiqəmin surəti əlavədədir.", message_id="<e2@mail.ru>",
                  subject="Re: Pensiya")
    # Another resident's program reused Elnur's Message-ID for a mail of her own.
    aytans = mail("Здравствуйте, как получить справку?", sender=AYTAN, name="Aytən",
                  message_id="<e1@mail.ru>")
    without_id = mail("Bir sualım da var.")
    # Aytən's mail without a Message-ID: the search by Elnur's address passes it over.
    aytans_without_id = mail("Ещё один вопрос.", sender=AYTAN, name="Aytən")
    for raw in (first, second, aytans, without_id, aytans_without_id):
        dovecot.append(box, raw)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "5 stored"

    done = await erase(ctx, ELNUR)

    # Listed with the erasure, each with what finds it: its Message-ID, else its sender.
    listed = {(r["channel"], r["external_id"], r["locator"])
              for r in await row(ctx, provider_erasures)}
    assert listed == {("email", external_id(box, first), "<e1@mail.ru>"),
                      ("email", external_id(box, second), "<e2@mail.ru>"),
                      ("email", external_id(box, without_id), f"from:{ELNUR}")}
    assert done.at_providers == 3
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert audit["details"]["at_providers"] == 3
    assert on_server(dovecot, box) == {first, second, aytans, without_id, aytans_without_id}

    assert await provider_records.forget_due(ctx) == (3, 0)

    # Elnur's mails are gone from the server; Aytən's, under the same Message-ID, stays.
    assert on_server(dovecot, box) == {aytans, aytans_without_id}
    for record in await row(ctx, provider_erasures):
        assert record["done_at"] is not None and record["next_attempt_at"] is None
        assert record["locator"] is None      # the Message-ID is not kept once it is done
    # Nothing is due any more; Aytən is still a resident with her mail.
    assert await provider_records.forget_due(ctx) == (0, 0)
    assert [r["extra"]["email"]["from"] for r in await stored_mails(ctx)
            if not r["extra"].get("erased")] == [AYTAN, AYTAN]


async def test_mail_is_deleted_from_the_folder_it_was_moved_to_and_any_copy_filed_elsewhere(
        ctx, dovecot, box):
    mailbox = mailbox_on(dovecot, box, after="move", move_to="Oxunub")
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir), mailbox)
    with dovecot.session(box) as session:
        session.folder.create("Oxunub")
    raw = mail("Salam", message_id="<m1@mail.ru>")
    dovecot.append(box, raw)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    assert message_ids_on_server(dovecot, box, "Oxunub") == ["<m1@mail.ru>"]
    # Someone at the centre filed a copy in a folder of their own.
    dovecot.append(box, raw, "Vacib.2026")
    with dovecot.session(box) as session:
        assert {"INBOX", "Oxunub", "Vacib.2026"} <= set(folders_of(session))

    await erase(ctx, ELNUR)
    assert await provider_records.forget_due(ctx) == (1, 0)

    for folder in ("INBOX", "Oxunub", "Vacib.2026"):
        assert message_ids_on_server(dovecot, box, folder) == []


async def test_a_mail_that_named_its_sender_only_in_reply_to_is_found_by_it(ctx, dovecot,
                                                                             box):
    raw = mail("Cavab bu ünvana", sender="", headers=f"\r\nReply-To: Elnur <{ELNUR}>")
    dovecot.append(box, raw)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    await erase(ctx, ELNUR)
    [record] = await row(ctx, provider_erasures)
    assert record["locator"] == f"from:{ELNUR}"
    assert await provider_records.forget_due(ctx) == (1, 0)
    assert on_server(dovecot, box) == set()


async def test_a_mail_someone_deleted_already_counts_as_gone(ctx, dovecot, box):
    dovecot.append(box, mail("Salam", message_id="<g1@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    with dovecot.session(box) as session:
        session.folder.set("INBOX")
        session.delete([m.uid for m in session.fetch(mark_seen=False)])
    await erase(ctx, ELNUR)
    assert await provider_records.forget_due(ctx) == (1, 0)


async def test_a_server_that_cannot_be_reached_keeps_the_mails_listed_until_it_can(
        ctx, dovecot, box):
    dovecot.append(box, mail("Salam", message_id="<d1@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    await erase(ctx, ELNUR)
    working = ctx.config
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, password="wrong"))
    now = utcnow()

    assert await provider_records.forget_due(ctx, now=now) == (0, 1)

    [record] = await row(ctx, provider_erasures)
    assert record["attempts"] == 1 and record["error"]
    assert record["locator"] == "<d1@mail.ru>"      # still needed to find it
    assert message_ids_on_server(dovecot, box) == ["<d1@mail.ru>"]
    # Not before its pause; then, with the password mended, it goes.
    ctx.config = working
    assert await provider_records.forget_due(ctx, now=now + timedelta(seconds=30)) == (0, 0)
    assert await provider_records.forget_due(ctx, now=now + timedelta(seconds=61)) == (1, 0)
    assert message_ids_on_server(dovecot, box) == []


async def test_a_mailbox_gone_from_the_config_keeps_its_mails_listed(ctx, dovecot, box):
    dovecot.append(box, mail("Salam", message_id="<c1@mail.ru>"))
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "1 stored"
    await erase(ctx, ELNUR)
    ctx.config = with_mailboxes(ctx.config, str(ctx.media_dir),
                                mailbox_on(dovecot, box, mailbox_id="dost-baku-2"))
    assert await provider_records.forget_due(ctx) == (0, 1)
    [record] = await row(ctx, provider_erasures)
    assert record["error"] == f"mailbox {box} is not configured"


def test_inbound_mails_are_located_by_message_id_else_by_sender():
    digest = "ab" * 32
    inbound = f"dost-baku-1:{digest}"
    assert EMAIL_CHANNEL.traits.kept_by_provider
    assert EMAIL_CHANNEL.traits.provider_locator is locator

    def extra(message_id, sender=ELNUR):
        return {"email": {"message_id": message_id, "from": sender}}

    assert locator(inbound, extra("<x.1@mail.ru>")) == "<x.1@mail.ru>"
    assert locator(inbound, extra(None)) == f"from:{ELNUR}"
    # A sent mail's external id is our Message-ID: no copy of it is on the server.
    assert locator("<r.5@dost.example.gov.az>", extra("<x.1@mail.ru>")) is None
    assert locator(inbound, {}) is None
    # What would not stay one quoted string in an IMAP command is not searched for.
    for odd in ('<a"b@mail.ru>', "<a\\b@mail.ru>", "<a b@mail.ru>", "no-brackets@mail.ru"):
        assert locator(inbound, extra(odd)) == f"from:{ELNUR}"
    for odd in ('a"b@mail.ru', "a\\b@mail.ru", "a b@mail.ru", "aytən@mail.ru"):
        assert locator(inbound, extra(None, sender=odd)) is None


async def test_without_uidplus_a_plain_expunge_removes_the_mail(ctx, dovecot, box,
                                                                 monkeypatch):
    dovecot.append(box, mail("Salam", message_id="<u1@mail.ru>"))
    kept = mail("Başqa məktub", sender=AYTAN, name="Aytən", message_id="<u2@mail.ru>")
    dovecot.append(box, kept)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    await erase(ctx, ELNUR)
    connect = imap.connect

    def without_uidplus(settings):
        client = connect(settings)
        client.client.capabilities = tuple(c for c in client.client.capabilities
                                           if c != "UIDPLUS")
        return client

    monkeypatch.setattr(imap, "connect", without_uidplus)
    assert await provider_records.forget_due(ctx) == (1, 0)
    assert on_server(dovecot, box) == {kept}


async def test_with_uidplus_only_the_erased_mail_is_expunged(ctx, dovecot, box):
    dovecot.append(box, mail("Salam", message_id="<p1@mail.ru>"))
    marked = mail("Köhnə", sender=AYTAN, name="Aytən", message_id="<p2@mail.ru>")
    dovecot.append(box, marked)
    assert await poll_mailbox(ctx, the_mailbox(ctx)) == "2 stored"
    # Someone at the centre marks Aytən's mail deleted, without expunging it yet.
    with dovecot.session(box) as session:
        session.folder.set("INBOX")
        session.client.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
    await erase(ctx, ELNUR)
    assert await provider_records.forget_due(ctx) == (1, 0)
    assert on_server(dovecot, box) == {marked}
