"""A resident's copy of their personal data (inbox.subject_access): what an admin exports,
what stays out, who may, on the real app, SQLite and PostgreSQL."""

import base64
import hashlib
import re
from pathlib import Path

import pytest

from app import create_app
from channels.registry import CHANNELS
from inbox import actions, outcomes
from inbox.actions import Actor
from inbox.ingest import ingest
from inbox.matching import CLAIMED_KINDS
from inbox.replies import REPLY_LANGUAGES
from inbox.storage.schema import audit_events
from settings.model import CATEGORIES, OUTCOME_KINDS
from tests.inbox.test_erasure import NAME, admin, resolve, row
from tests.inbox.test_matching import FIN, GUNEL_PHONE, carrier, contact_of, person
from web import subject_access_copy

NOTE = "Daxili qeyd: sənədləri yoxlamaq lazımdır"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def test_an_admin_exports_what_the_resident_wrote_and_was_told(client, ctx):
    boss, headers = await admin(ctx)
    agent = Actor(boss, "admin", ())
    sms = await ingest(ctx, carrier("sms", f"Salam, pensiyam gecikir. FIN {FIN}", "SM1"))
    contact_id = await contact_of(ctx, sms.conversation_id)
    await actions.update_contact(ctx, agent, contact_id, {"name": NAME})
    await actions.reply(ctx, agent, sms.conversation_id, "Müraciətiniz qeydə alındı")
    await actions.reply(ctx, agent, sms.conversation_id, NOTE, private=True)

    response = await client.get(f"/api/v1/contacts/{contact_id}/export", headers=headers)

    assert response.status == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="contact-{contact_id}.json"'
    document = await response.json()
    assert (document["contact"]["name"], document["contact"]["phone"]) == (NAME, GUNEL_PHONE)
    assert [(i["channel"], i["address"]) for i in document["contact"]["identities"]] == [
        ("sms", GUNEL_PHONE)]
    assert document["typed_identifiers"] == [
        {"kind": "fin", "value": "7QX****", "found_at": document["typed_identifiers"][0][
            "found_at"]}]
    [conversation] = document["conversations"]
    bodies = [(m["direction"], m["body"]) for m in conversation["messages"]]
    assert ("in", f"Salam, pensiyam gecikir. FIN {FIN}") in bodies
    assert ("out", "Müraciətiniz qeydə alındı") in bodies
    # The staff's own records stay out: notes, and which account sent what.
    assert NOTE not in await response.text()
    assert all("author" not in m and "whisper" not in m for m in conversation["messages"])
    [audit] = await row(ctx, audit_events, action="contact.exported")
    assert (audit["actor_id"], audit["target_id"], audit["details"]) == (
        boss, str(contact_id), {"conversations": 1, "messages": len(bodies), "format": "json"})


@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_only_an_admin_may_export(client, ctx, role):
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    async with ctx.store.read() as tx:
        queue = (await tx.conversations.get(sms.conversation_id))["queue"]
    _, headers = await person(ctx, f"{role}@example.gov.az", role, [queue])

    response = await client.get(
        f"/api/v1/contacts/{await contact_of(ctx, sms.conversation_id)}/export", headers=headers)

    assert (response.status, (await response.json())["code"]) == (403, "admins_only")
    assert await row(ctx, audit_events, action="contact.exported") == []


async def test_an_unknown_or_merged_contact_is_a_4xx(client, ctx):
    boss, headers = await admin(ctx)
    first = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    second = await ingest(ctx, carrier("sms", "Salam", "SM2", phone="+994553333333"))
    into, other = (await contact_of(ctx, first.conversation_id),
                   await contact_of(ctx, second.conversation_id))
    await actions.merge_contacts(ctx, Actor(boss, "admin", ()), into, other)

    unknown = await client.get("/api/v1/contacts/99999/export", headers=headers)
    merged = await client.get(f"/api/v1/contacts/{other}/export", headers=headers)

    assert (unknown.status, (await unknown.json())["code"]) == (404, "contact_not_found")
    assert (merged.status, (await merged.json())["code"], (await merged.json())["into"]) == (
        409, "contact_merged", into)


async def russian_speaker(ctx, boss):
    """A resident who writes by SMS in Russian, with markup in her text; told her documents
    are ready at a DOST centre; with a staff note beside."""
    agent = Actor(boss, "admin", ())
    sms = await ingest(ctx, carrier(
        "sms", f"Здравствуйте, мой ФИН {FIN}. <script>alert(1)</script> Когда паспорт?", "SM1"))
    contact_id = await contact_of(ctx, sms.conversation_id)
    await actions.update_contact(ctx, agent, contact_id, {"name": NAME, "language": "ru"})
    await actions.set_category(ctx, agent, sms.conversation_id, "registration")
    await actions.reply(ctx, agent, sms.conversation_id, "Ваш паспорт готов")
    await actions.reply(ctx, agent, sms.conversation_id, NOTE, private=True)
    await outcomes.record(ctx, agent, sms.conversation_id, {"kind": "pickup",
                                                            "centre": "sumqayit"})
    return contact_id, sms.conversation_id


async def test_the_printable_copy_is_written_to_the_resident_in_her_language(client, ctx):
    boss, headers = await admin(ctx)
    contact_id, conversation_id = await russian_speaker(ctx, boss)

    response = await client.get(f"/api/v1/contacts/{contact_id}/export?format=html",
                                headers=headers)

    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["Content-Disposition"] == \
        f'inline; filename="contact-{contact_id}.html"'
    page = await response.text()
    # Nothing runs, nothing loads; the one inline stylesheet is the one the policy allows.
    [style] = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    allowed = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert response.headers["Content-Security-Policy"].startswith(
        f"default-src 'none'; style-src 'sha256-{allowed}'")
    assert '<html lang="ru">' in page
    for russian in ("Сведения о вас, которые хранит контакт-центр", NAME, GUNEL_PHONE,
                    f"Обращение № {conversation_id}", "Тема</dt><dd>первичная регистрация",
                    "Вы</span>", "Контакт-центр</span>", "Ваш паспорт готов",
                    "Итог: документы готовы", "Центр DOST: Сумгаитский центр DOST",
                    "ФИН: 7QX****", "Внутренние заметки сотрудников в эту копию не входят."):
        assert russian in page, russian
    # What she wrote is shown as text, never run; the staff's note stays out.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert NOTE not in page
    [audit] = await row(ctx, audit_events, action="contact.exported")
    assert audit["details"]["format"] == "html"


async def test_the_printable_copy_in_another_language_and_bad_asks(client, ctx):
    boss, headers = await admin(ctx)
    contact_id, _ = await russian_speaker(ctx, boss)
    path = f"/api/v1/contacts/{contact_id}/export"

    english = await (await client.get(f"{path}?format=html&language=en",
                                      headers=headers)).text()
    azerbaijani = await (await client.get(f"{path}?format=html&language=az",
                                          headers=headers)).text()
    bad_format = await client.get(f"{path}?format=pdf", headers=headers)
    bad_language = await client.get(f"{path}?format=html&language=de", headers=headers)

    assert "Outcome: documents ready to pick up" in english
    assert "DOST centre: Sumgait DOST Centre" in english
    assert "Əlaqə mərkəzinin sizin haqqınızda saxladığı məlumatlar" in azerbaijani
    assert "Mövzu</dt><dd>ilkin qeydiyyat" in azerbaijani
    assert (bad_format.status, (await bad_format.json())["code"]) == (400, "format_invalid")
    assert (bad_language.status, (await bad_language.json())["code"]) == (
        400, "unknown_language")
    assert len(await row(ctx, audit_events, action="contact.exported")) == 2


async def test_an_erased_residents_copy_says_so_and_holds_nothing_of_hers(client, ctx):
    boss, headers = await admin(ctx)
    contact_id, conversation_id = await russian_speaker(ctx, boss)
    await resolve(ctx, conversation_id, boss)
    erased = await client.post(f"/api/v1/contacts/{contact_id}/erase", headers=headers,
                               json={"reason": "resident_request"})
    assert erased.status == 200

    page = await (await client.get(f"/api/v1/contacts/{contact_id}/export?format=html",
                                   headers=headers)).text()

    assert "Ваши персональные данные удалены" in page
    assert "Текст удалён." in page
    for personal in (NAME, GUNEL_PHONE, FIN[:3], "паспорт", "erased:"):
        assert personal not in page, personal


def test_the_printed_copy_names_every_channel_subject_outcome_and_number_and_uses_each_text():
    """templates/subject_access/texts.yaml: a name for every value the copy shows by name,
    and no text nothing shows."""
    catalogue = subject_access_copy.copy_texts()
    named = {*(f"channel_{name}" for name in CHANNELS), *(f"category_{c}" for c in CATEGORIES),
             *(f"outcome_{kind}" for kind in OUTCOME_KINDS),
             *(f"kind_{kind}" for kind in CLAIMED_KINDS),
             *(f"language_{language}" for language in REPLY_LANGUAGES)}
    for language in REPLY_LANGUAGES:
        assert named <= set(catalogue[language]), language
    sources = "".join(path.read_text(encoding="utf-8") for path in (
        subject_access_copy.COPY_DIR / "copy.html", Path(subject_access_copy.__file__)))
    looked_up = set(re.findall(r"""\bt\(\s*["'](\w+)["']""", sources))
    assert set(catalogue["en"]) - named - looked_up == set()
