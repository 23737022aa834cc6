"""Erasing a resident's personal data (inbox.erasure): what goes, what the reports keep, the
files in the media store, who may ask, and the retention's sweep; on the real app, SQLite
and PostgreSQL."""

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app import main as app_main
from inbox import actions, amend, channel_traits, erasure, outbox
from inbox.actions import ActionError, Actor
from inbox.ingest import ingest
from inbox.kept_mail import kept_facts, read_kept
from inbox.storage import utcnow
from inbox.storage.erasure import ERASED_ADDRESS, NOT_SENT
from inbox.storage.schema import (
    audit_events,
    contact_claims,
    contact_matches,
    events,
    provider_erasures,
)
from tests.inbox.test_matching import FIN, GUNEL_PHONE, carrier, contact_of, person, webchat

NAME = "Günel Məmmədova"
OTHER_FIN = "5ZK7HXM"
GUNEL_MAIL = (b"From: Gunel <gunel@mail.ru>\r\nSubject: =?utf-8?b?UmVpbnRlcXJhc2l5YQ==?=\r\n"
              b"\r\nSalam, FIN " + FIN.encode() + b", pasport AZE 12345678.\r\n")
LEYLA_MAIL = b"From: Leyla <leyla@yandex.ru>\r\nSubject: DOST\r\n\r\nID kart AA1234567.\r\n"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def admin(ctx, email="admin@example.gov.az"):
    return await person(ctx, email, "admin")


async def resolve(ctx, conversation_id: int, user_id: int) -> None:
    await actions.set_status(ctx, Actor(user_id, "admin", ()), conversation_id, "resolved")


async def row(ctx, table, **where) -> dict:
    async with ctx.store.read() as tx:
        query = select(table)
        for key, value in where.items():
            query = query.where(table.c[key] == value)
        return [dict(r._mapping) for r in await tx.conn.execute(query)]


async def gunels_case(ctx):
    """Günel writes by SMS with her FIN, then her address; an agent names her, answers,
    corrects the category, she edits a message, and the conversation is resolved. Leyla,
    another resident, types the same FIN (a possible match) and stays."""
    boss, _ = await admin(ctx, "boss@example.gov.az")
    sms = await ingest(ctx, carrier("sms", f"Salam, pensiyam gecikir. FIN {FIN}", "SM1"))
    contact_id = await contact_of(ctx, sms.conversation_id)
    await ingest(ctx, carrier("sms", "Ünvanım: Bakı, Nəsimi r., Azadlıq pr. 12", "SM2"))
    leyla = await ingest(ctx, webchat(f"Salam, FIN {FIN} mənimdir?", "leyla-chat"))
    agent = Actor(boss, "admin", ())
    await actions.update_contact(ctx, agent, contact_id, {"name": NAME})
    await actions.set_category(ctx, agent, sms.conversation_id, "support")
    await amend.edit_message(ctx, "sms", "SM2", "Ünvanım dəyişdi", utcnow())
    await actions.reply(ctx, agent, sms.conversation_id, f"Hörmətli {NAME}, FIN {FIN} yoxlandı")
    await resolve(ctx, sms.conversation_id, boss)
    return contact_id, sms, await contact_of(ctx, leyla.conversation_id), boss


async def test_erasure_empties_what_is_personal_and_keeps_what_reports_count(ctx):
    contact_id, sms, leyla_contact, boss = await gunels_case(ctx)
    async with ctx.store.read() as tx:
        before = await tx.conversations.get(sms.conversation_id)
        claims = await tx.contacts.open_matches_of(leyla_contact)
    assert claims, "the shared FIN raised a possible match"

    result = await erasure.erase_contact(ctx, contact_id, reason=erasure.RESIDENT_REQUEST,
                                         actor_id=boss, reference="DOST-2026/481")

    assert (result.contacts, result.conversations) == (1, 1)
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(contact_id)
        identities = await tx.contacts.identities_of(contact_id)
        after = await tx.conversations.get(sms.conversation_id)
        messages = await tx.messages.of_conversations([sms.conversation_id], before=None,
                                                      limit=50)
        leyla_matches = await tx.contacts.open_matches_of(leyla_contact)
    assert (contact["name"], contact["phone"], contact["email"]) == (None, None, None)
    assert contact["erased_at"] is not None
    assert [i["address"] for i in identities] == [f"{ERASED_ADDRESS}{identities[0]['id']}"]
    assert len(messages) == result.messages >= 3
    assert {(m["body"], m["html"], json.dumps(m["extra"])) for m in messages} \
        == {("", None, '{"erased": true}')}
    # What the reports count is as it was.
    for field in ("status", "queue", "category", "channel", "created_at", "first_response_at",
                  "resolved_at", "assignee_id", "language"):
        assert after[field] == before[field], field
    # No typed identifier, possible match, earlier text or name is left anywhere.
    assert await row(ctx, contact_claims, contact_id=contact_id) == []
    assert await row(ctx, contact_matches, contact_id=leyla_contact) == []
    assert leyla_matches == []
    stored = json.dumps([r["data"] for r in await row(ctx, events,
                                                      conversation_id=sms.conversation_id)],
                        ensure_ascii=False)
    for personal in (NAME, FIN, "Ünvanım", "Azadlıq", "7QX"):
        assert personal not in stored
    async with ctx.store.read() as tx:
        assert await tx.events.corrections() == []
    # The erasure is on the thread and in the audit trail, with who asked and why.
    kinds = [(r["type"], r["actor_id"], r["data"])
             for r in await row(ctx, events, conversation_id=sms.conversation_id)]
    assert ("contact_erased", boss, {"reason": "resident_request"}) in kinds
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert (audit["actor_id"], audit["target_id"]) == (boss, str(contact_id))
    assert audit["details"] == {"reason": "resident_request", "reference": "DOST-2026/481",
                                "contacts": 1, "conversations": 1,
                                "messages": result.messages, "files": 0,
                                # Her two SMS, which Twilio keeps; the replies never left.
                                "at_providers": 2, "dead_letters": 0}
    # Leyla is untouched.
    async with ctx.store.read() as tx:
        assert (await tx.contacts.get(leyla_contact))["erased_at"] is None
    # Günel writing again is met as someone new: nothing joins the erased contact.
    again = await ingest(ctx, carrier("sms", "Salam, yenə mənəm", "SM9"))
    assert await contact_of(ctx, again.conversation_id) != contact_id
    assert again.conversation_id != sms.conversation_id


async def test_files_go_and_a_shared_pack_keeps_the_other_mails(ctx, tmp_path):
    ctx.config = replace(ctx.config, media=replace(ctx.config.media,
                                                   directory=str(tmp_path / "media")))
    boss, _ = await admin(ctx)
    gunel = await ingest(ctx, webchat("Sənədlərimi göndərirəm", "gunel-chat"))
    leyla = await ingest(ctx, webchat("Salam", "leyla-chat"))
    upload = ctx.media_dir / "agent-uploads" / "7" / "passport.jpg"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"\xff\xd8 a scanned passport")
    pack = ctx.media_dir / "email" / "dost-baku-1" / "ab" / "abcd.mails"
    pack.parent.mkdir(parents=True)
    pack.write_bytes(GUNEL_MAIL + LEYLA_MAIL)
    gunel_span, leyla_span = (0, len(GUNEL_MAIL)), (len(GUNEL_MAIL), len(LEYLA_MAIL))
    relative = str(pack.relative_to(ctx.media_dir))
    async with ctx.store.transaction() as tx:
        await tx.messages.update(gunel.message_id, attachments=[
            {"content_type": "image/jpeg", "filename": "passport.jpg", "size": 22,
             "stored": str(upload.relative_to(ctx.media_dir))}],
            extra={"email": kept_facts(relative, gunel_span)})
        await tx.messages.update(leyla.message_id,
                                 extra={"email": kept_facts(relative, leyla_span)})
    await resolve(ctx, gunel.conversation_id, boss)

    result = await erasure.erase_contact(ctx, await contact_of(ctx, gunel.conversation_id),
                                         reason=erasure.LEGAL_ORDER, actor_id=boss)

    assert result.files == 2
    assert not upload.exists()
    assert read_kept(pack, gunel_span) == b"\0" * len(GUNEL_MAIL)
    assert read_kept(pack, leyla_span) == LEYLA_MAIL
    assert FIN.encode() not in pack.read_bytes()


async def test_a_contact_with_a_conversation_not_resolved_is_not_erased(ctx):
    boss, _ = await admin(ctx)
    first = await ingest(ctx, carrier("sms", f"FIN {FIN}", "SM1"))
    await resolve(ctx, first.conversation_id, boss)
    second = await ingest(ctx, carrier("whatsapp", "Cavab gözləyirəm", "WA1"))
    contact_id = await contact_of(ctx, first.conversation_id)
    assert await contact_of(ctx, second.conversation_id) == contact_id

    with pytest.raises(ActionError) as refused:
        await erasure.erase_contact(ctx, contact_id, reason=erasure.RESIDENT_REQUEST,
                                    actor_id=boss)

    assert (refused.value.status, refused.value.code) == (409, "contact_has_open_conversations")
    assert refused.value.values == {"conversations": [second.conversation_id]}
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(contact_id)
        [message] = [m for m in await tx.messages.of_conversations(
            [first.conversation_id], before=None, limit=5) if m["direction"] == "in"]
    assert (contact["phone"], contact["erased_at"]) == (GUNEL_PHONE, None)
    assert message["body"] == f"FIN {FIN}"
    assert await row(ctx, audit_events, action="contact.erased") == []


async def test_a_send_queued_for_an_erased_resident_is_failed_not_sent(ctx):
    boss, _ = await admin(ctx)
    first = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    await resolve(ctx, first.conversation_id, boss)
    await erasure.erase_contact(ctx, await contact_of(ctx, first.conversation_id),
                                reason=erasure.RESIDENT_REQUEST, actor_id=boss)
    async with ctx.store.transaction() as tx:     # an outcome's notice, say, queued after
        conversation = await tx.conversations.get(first.conversation_id)
        late = await outbox.queue_message(tx, conversation, "Müraciətiniz təsdiqləndi",
                                          author_kind="system")

    assert await outbox.claim(ctx, late) is None

    async with ctx.store.read() as tx:
        message = await tx.messages.get(late)
    assert (message["delivery_status"], message["delivery_error"]) == ("failed", NOT_SENT)
    # An agent cannot write to them either.
    with pytest.raises(ActionError) as refused:
        await actions.reply(ctx, Actor(boss, "admin", ()), first.conversation_id, "Salam")
    assert (refused.value.status, refused.value.code) == (409, "contact_erased")


async def test_a_send_still_queued_at_the_erasure_never_goes(ctx):
    boss, _ = await admin(ctx)
    first = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    agent = Actor(boss, "admin", ())
    answer = await actions.reply(ctx, agent, first.conversation_id, "Cavabınız hazırdır")
    await resolve(ctx, first.conversation_id, boss)

    await erasure.erase_contact(ctx, await contact_of(ctx, first.conversation_id),
                                reason=erasure.RESIDENT_REQUEST, actor_id=boss)

    async with ctx.store.read() as tx:
        message = await tx.messages.get(answer["id"])
    assert (message["delivery_status"], message["delivery_error"], message["body"]) \
        == ("failed", NOT_SENT, "")
    assert await outbox.claim(ctx, answer["id"]) is None


# --- who may ask, and bad requests -----------------------------------------------------------

async def test_an_admin_erases_through_the_api_and_the_console_sees_it(client, ctx):
    contact_id, sms, _leyla, _boss = await gunels_case(ctx)
    _, headers = await admin(ctx)

    response = await client.post(f"/api/v1/contacts/{contact_id}/erase", headers=headers,
                                 json={"reason": "resident_request", "reference": " № 481 "})

    assert response.status == 200
    view = await response.json()
    assert (view["name"], view["phone"], view["erased_at"] is not None) == (None, None, True)
    assert view["erasure"]["conversations"] == 1
    [identity] = view["identities"]
    assert identity["address"].startswith(ERASED_ADDRESS)
    detail = await (await client.get(f"/api/v1/conversations/{sms.conversation_id}",
                                     headers=headers)).json()
    assert {(m["body"], m["erased"]) for m in detail["messages"]} == {("", True)}
    assert (detail["contact"]["name"], detail["contact"]["erased"]) == (None, True)
    listed = await (await client.get("/api/v1/conversations?status=resolved,open,waiting",
                                     headers=headers)).json()
    assert {(c["id"], c["contact"]["erased"]) for c in listed["items"]} >= \
        {(sms.conversation_id, True)}
    audit = await (await client.get("/api/v1/admin/audit?target_kind=contact",
                                    headers=headers)).json()
    assert audit["items"][0]["details"]["reference"] == "№ 481"
    again = await client.post(f"/api/v1/contacts/{contact_id}/erase", headers=headers,
                              json={"reason": "resident_request"})
    assert (again.status, (await again.json())["code"]) == (409, "contact_erased")


@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_only_an_admin_may_erase(client, ctx, role):
    contact_id, sms, *_ = await gunels_case(ctx)
    async with ctx.store.read() as tx:
        queue = (await tx.conversations.get(sms.conversation_id))["queue"]
    _, headers = await person(ctx, f"{role}@example.gov.az", role, [queue])

    response = await client.post(f"/api/v1/contacts/{contact_id}/erase", headers=headers,
                                 json={"reason": "resident_request"})

    assert (response.status, (await response.json())["code"]) == (403, "admins_only")
    async with ctx.store.read() as tx:
        assert (await tx.contacts.get(contact_id))["name"] == NAME


@pytest.mark.parametrize("path, body, status, code", [
    ("/api/v1/contacts/{id}/erase", {}, 400, "reason_invalid"),
    ("/api/v1/contacts/{id}/erase", {"reason": "retention"}, 400, "reason_invalid"),
    ("/api/v1/contacts/{id}/erase", {"reason": "resident_request", "reference": 481}, 400,
     "reference_invalid"),
    ("/api/v1/contacts/{id}/erase", {"reason": "resident_request", "reference": "9" * 101},
     400, "reference_invalid"),
    ("/api/v1/contacts/{id}/erase", {"reason": "resident_request", "why": "x"}, 400,
     "unknown_fields"),
    ("/api/v1/contacts/99999/erase", {"reason": "resident_request"}, 404,
     "contact_not_found"),
    ("/api/v1/contacts/-1/erase", {"reason": "resident_request"}, 404, None),
    ("/api/v1/contacts/{id}/erase", [1], 400, "malformed_json"),
])
async def test_a_bad_erasure_request_is_a_4xx_and_erases_nothing(client, ctx, path, body,
                                                                 status, code):
    contact_id, *_ = await gunels_case(ctx)
    _, headers = await admin(ctx)

    response = await client.post(path.format(id=contact_id), headers=headers, json=body)

    assert response.status == status
    if code:
        assert (await response.json())["code"] == code
    async with ctx.store.read() as tx:
        assert (await tx.contacts.get(contact_id))["name"] == NAME
    assert await row(ctx, audit_events, action="contact.erased") == []


# --- retention -------------------------------------------------------------------------------

async def test_the_sweep_erases_only_residents_resolved_longer_than_the_retention(ctx):
    boss, _ = await admin(ctx)
    now = utcnow()
    old = await ingest(ctx, carrier("sms", "Köhnə müraciət", "SM1", phone="+994501111111"))
    recent = await ingest(ctx, carrier("sms", "Təzə müraciət", "SM2", phone="+994502222222"))
    still_open = await ingest(ctx, carrier("sms", "Açıq müraciət", "SM3", phone="+994503333333"))
    for result in (old, recent):
        await resolve(ctx, result.conversation_id, boss)
    retention = timedelta(seconds=ctx.config.privacy.retention_s)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(old.conversation_id,
                                      resolved_at=now - retention - timedelta(hours=1))
        await tx.conversations.update(recent.conversation_id,
                                      resolved_at=now - retention + timedelta(hours=1))
        await tx.conversations.update(still_open.conversation_id,
                                      created_at=now - 2 * retention)

    assert await erasure.sweep(ctx, now) == 1
    assert await erasure.sweep(ctx, now) == 0      # done once

    async with ctx.store.read() as tx:
        erased = {result.conversation_id: (await tx.contacts.get(
            (await tx.conversations.get(result.conversation_id))["contact_id"]))["erased_at"]
            is not None for result in (old, recent, still_open)}
    assert erased == {old.conversation_id: True, recent.conversation_id: False,
                      still_open.conversation_id: False}
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert (audit["actor_id"], audit["details"]["reason"]) == (None, "retention")


async def test_a_sweep_goes_batch_after_batch_within_its_time(ctx, monkeypatch):
    boss, _ = await admin(ctx)
    resolved = []
    for n in range(5):
        result = await ingest(ctx, carrier("sms", "Köhnə müraciət", f"SM{n}",
                                           phone=f"+99450111111{n}"))
        await resolve(ctx, result.conversation_id, boss)
        resolved.append(result.conversation_id)
    later = utcnow() + timedelta(seconds=ctx.config.privacy.retention_s, days=1)
    monkeypatch.setattr(erasure, "SWEEP_BATCH", 2)

    assert await erasure.sweep(ctx, later, budget_s=0) == 0     # no time: the next run's
    assert await erasure.sweep(ctx, later) == 5

    async with ctx.store.read() as tx:
        for conversation_id in resolved:
            contact = await tx.contacts.get(
                (await tx.conversations.get(conversation_id))["contact_id"])
            assert contact["erased_at"] is not None and contact["phone"] is None


async def test_one_batch_audits_each_resident_with_their_own_counts(ctx):
    boss, _ = await admin(ctx)
    agent = Actor(boss, "admin", ())
    # Günel wrote by SMS, twice, and (as another contact, joined into hers) on the web chat.
    first = await ingest(ctx, carrier("sms", "Birinci müraciət", "SM1"))
    await resolve(ctx, first.conversation_id, boss)
    second = await ingest(ctx, carrier("sms", "İkinci müraciət", "SM2"))
    await resolve(ctx, second.conversation_id, boss)
    visitor = await ingest(ctx, webchat("Salam", "gunel-chat", display_name="Günel"))
    await resolve(ctx, visitor.conversation_id, boss)
    gunel = await contact_of(ctx, first.conversation_id)
    joined = await contact_of(ctx, visitor.conversation_id)
    await actions.merge_contacts(ctx, agent, gunel, joined)
    leyla = await ingest(ctx, carrier("sms", "Salam", "SM3", phone="+994552222222"))
    await resolve(ctx, leyla.conversation_id, boss)
    later = utcnow() + timedelta(seconds=ctx.config.privacy.retention_s, days=1)

    assert await erasure.sweep(ctx, later) == 2

    audits = {int(r["target_id"]): r["details"]
              for r in await row(ctx, audit_events, action="contact.erased")}
    messages_of = {}
    async with ctx.store.read() as tx:
        for contact_id in (gunel, await contact_of(ctx, leyla.conversation_id)):
            ids = [c["id"] for c in await tx.conversations.of_contact(contact_id)]
            messages_of[contact_id] = len(await tx.messages.of_conversations(
                ids, before=None, limit=100))
        merged = await tx.contacts.get(joined)
    assert {contact_id: (d["contacts"], d["conversations"], d["messages"], d["reason"])
            for contact_id, d in audits.items()} == {
        gunel: (2, 3, messages_of[gunel], "retention"),
        await contact_of(ctx, leyla.conversation_id):
            (1, 1, messages_of[await contact_of(ctx, leyla.conversation_id)], "retention")}
    # The contact joined into hers is erased with it: its name is gone too.
    assert (merged["name"], merged["erased_at"] is not None) == (None, True)


async def test_dead_letters_kept_past_the_retention_lose_their_mail(ctx):
    from channels.email.dead_letters import replay
    from inbox.storage.erasure import DEAD_LETTER_ERASED
    from inbox.storage.schema import mail_attempts, mail_dead_letters
    retention = timedelta(seconds=ctx.config.privacy.retention_s)
    async with ctx.store.transaction() as tx:
        old = await tx.mail.bury("dost-baku-1", "INBOX", 7, "a" * 64, GUNEL_MAIL,
                                 "UnicodeDecodeError at gunel@mail.ru", 3, "d" * 64)
        new = await tx.mail.bury("dost-baku-1", "INBOX", 8, "b" * 64, LEYLA_MAIL,
                                 "ValueError", 3, "e" * 64)
        await tx.mail.count_attempt("dost-baku-1", "c" * 64, "a failure naming leyla@yandex.ru")
        await tx.conn.execute(mail_dead_letters.update()
                              .where(mail_dead_letters.c.id == old)
                              .values(created_at=utcnow() - retention - timedelta(days=1)))
        await tx.conn.execute(mail_attempts.update()
                              .values(updated_at=utcnow() - retention - timedelta(days=1)))

    await erasure.sweep(ctx)

    letters = {r["id"]: r for r in await row(ctx, mail_dead_letters)}
    assert (bytes(letters[old]["raw"]), letters[old]["error"],
            letters[old]["sender_digest"]) == (b"", DEAD_LETTER_ERASED, None)
    assert (bytes(letters[new]["raw"]), letters[new]["sender_digest"]) == (LEYLA_MAIL,
                                                                            "e" * 64)
    assert await row(ctx, mail_attempts) == []
    # Still buried (a folder read again does not take it up), but nothing left to replay.
    async with ctx.store.read() as tx:
        assert await tx.mail.buried_digests("dost-baku-1", ["a" * 64]) == {"a" * 64}
    replayed = await replay(ctx, old)
    assert (replayed.stored, replayed.error) == (False, DEAD_LETTER_ERASED)


async def test_without_a_retention_the_sweep_erases_nothing(ctx, config):
    from settings import Privacy
    boss, _ = await admin(ctx)
    old = await ingest(ctx, carrier("sms", "Köhnə müraciət", "SM1"))
    await resolve(ctx, old.conversation_id, boss)
    ctx.config = replace(config, privacy=Privacy(retention_s=None))

    assert await erasure.sweep(ctx, utcnow() + timedelta(days=10_000)) == 0


def test_the_worker_runs_the_sweep_only_with_a_retention(config):
    from settings import Privacy
    from worker import periodic_jobs
    assert periodic_jobs(config)[erasure.SWEEP_JOB] == erasure.SWEEP_INTERVAL_S
    assert erasure.SWEEP_JOB not in periodic_jobs(replace(config,
                                                          privacy=Privacy(retention_s=None)))


# --- the operators' command line ---------------------------------------------------------------

async def test_the_command_line_erases_and_says_why_not(ctx, capsys, monkeypatch):
    # A command runs in a process that installed no channels of its own.
    monkeypatch.setattr(channel_traits, "_installed", channel_traits.ChannelBook())
    boss, _ = await admin(ctx)
    first = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    contact_id = await contact_of(ctx, first.conversation_id)

    refused = await _run(["contact", "erase", str(contact_id), "--reason", "legal_order"])
    assert refused == 1
    assert "resolve the resident's conversations first" in capsys.readouterr().err

    await resolve(ctx, first.conversation_id, boss)
    done = await _run(["contact", "erase", str(contact_id), "--reason", "legal_order",
                       "--reference", "Məhkəmə qərarı 2-1234/2026"])
    assert done == 0
    assert f"contact {contact_id} erased: 1 conversation(s)" in capsys.readouterr().out
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert (audit["actor_id"], audit["details"]["reference"]) \
        == (None, "Məhkəmə qərarı 2-1234/2026")
    # What Twilio keeps of her SMS is listed to delete there, as from the console.
    assert [(r["channel"], r["external_id"]) for r in await row(ctx, provider_erasures)] == [
        ("sms", "SM1")]


async def _run(argv: list[str]) -> int:
    import asyncio
    return await asyncio.to_thread(app_main, argv)


def test_a_retention_shorter_than_a_day_is_refused():
    from settings import ConfigError, load_config_text
    from tests.conftest import TEST_CONFIG
    text = TEST_CONFIG.read_text(encoding="utf-8").replace("retention: 30d", "retention: 2h")
    with pytest.raises(ConfigError) as problem:
        load_config_text(text, "config.yaml", {})
    assert "privacy.retention" in str(problem.value) and "at least 1d" in str(problem.value)


def test_an_event_keeps_only_what_is_not_personal():
    assert erasure.event_data("message_edited", {"message_id": 4, "previous": "FIN 7QX3M9P",
                                                 "edited_at": "2026-12-05T10:00:00+04:00"}) \
        == {"message_id": 4, "previous": None, "edited_at": "2026-12-05T10:00:00+04:00"}
    assert erasure.event_data("contacts_merged", {"from": 2, "into": 1, "match": {
        "id": 3, "kind": "fin", "value": "7QX****"}}) \
        == {"from": 2, "into": 1, "match": {"id": 3, "kind": "fin", "value": None}}
    assert erasure.event_data("classified", {"category": "support", "entities": [
        {"kind": "fin", "value": "7QX****"}]}) \
        == {"category": "support", "entities": [{"kind": "fin", "value": None}]}
    assert erasure.event_data("routed", {"queue": "dost-baku-1"}) is None
    assert erasure.event_data("delivery_failed", {"message_id": 4, "error": None}) is None
