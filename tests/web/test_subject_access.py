"""A resident's copy of their personal data (inbox.subject_access): what an admin exports,
what stays out, who may, on the real app, SQLite and PostgreSQL."""

import pytest

from app import create_app
from inbox import actions
from inbox.actions import Actor
from inbox.ingest import ingest
from inbox.storage.schema import audit_events
from tests.inbox.test_erasure import NAME, admin, row
from tests.inbox.test_matching import FIN, GUNEL_PHONE, carrier, contact_of, person

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
        boss, str(contact_id), {"conversations": 1, "messages": len(bodies)})


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
