"""A contact's name: a resident's name given after their first message fills an empty one,
and agents set it (and the resident's language and preferred channel) through
PATCH /api/v1/contacts/{id}, on the real app and both databases."""

import json
from datetime import UTC, datetime

import pytest

from app import create_app
from inbox.ingest import ingest
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.messages import InboundMessage
from tests.inbox.test_matching import person

GUNEL = "Günel Əliyeva"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


def chat(text: str, client_id: str, name: str | None = None) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"visitor:{client_id}",
                          address="visitor", text=text, received_at=datetime.now(UTC),
                          display_name=name, language="az")


async def contact(ctx, conversation_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.contacts.get((await tx.conversations.get(conversation_id))["contact_id"])


async def test_a_name_given_later_fills_an_empty_contact_name_and_tells_consoles(ctx):
    first = await ingest(ctx, chat("Salam", "1"))
    assert (await contact(ctx, first.conversation_id))["name"] is None
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    await pubsub.get_message(timeout=1)
    named = await ingest(ctx, chat("Pensiyam gecikir", "2", name=GUNEL))
    assert named.named
    assert (await contact(ctx, first.conversation_id))["name"] == GUNEL
    updates = []
    while (published := await pubsub.get_message(timeout=1)) is not None:
        if published["type"] == "message":
            updates.append(json.loads(published["data"]))
    await pubsub.aclose()
    assert any(u.get("type") == "conversation.updated"
               and u["data"]["conversation"]["contact"]["name"] == GUNEL for u in updates)
    # A name is only filled in: a later, different one does not replace it.
    again = await ingest(ctx, chat("Təşəkkürlər", "3", name="Başqa Ad"))
    assert not again.named
    assert (await contact(ctx, first.conversation_id))["name"] == GUNEL


async def test_an_agent_sets_a_contacts_name_and_each_conversation_records_who(client, ctx):
    result = await ingest(ctx, chat("Salam, reintegrasiya prosesinə ilkin qeydiyyatdan "
                                    "keçmək istəyirəm", "1"))
    contact_id = (await contact(ctx, result.conversation_id))["id"]
    async with ctx.store.read() as tx:
        queue = (await tx.conversations.get(result.conversation_id))["queue"]
    leyla, headers = await person(ctx, "leyla@example.gov.az", "agent", [queue])
    response = await client.patch(f"/api/v1/contacts/{contact_id}",
                                  json={"name": f"  {GUNEL}\n"}, headers=headers)
    assert response.status == 200
    assert (await response.json())["name"] == GUNEL
    detail = await (await client.get(f"/api/v1/conversations/{result.conversation_id}",
                                     headers=headers)).json()
    assert detail["contact"]["name"] == GUNEL
    [renamed] = [e for e in detail["events"] if e["type"] == "contact_renamed"]
    assert (renamed["actor"], renamed["data"]) == (
        leyla, {"contact_id": contact_id, "from": None, "to": GUNEL})
    # The same name again changes nothing and records nothing.
    await client.patch(f"/api/v1/contacts/{contact_id}", json={"name": GUNEL},
                       headers=headers)
    detail = await (await client.get(f"/api/v1/conversations/{result.conversation_id}",
                                     headers=headers)).json()
    assert [e["type"] for e in detail["events"]].count("contact_renamed") == 1


@pytest.mark.parametrize("body, error, code", [
    ({"name": ""}, "name must not be empty", "name_empty"),
    ({"name": " \n\t "}, "name must not be empty", "name_empty"),
    ({"name": None}, "name must be a string", "name_invalid"),
    ({"name": 42}, "name must be a string", "name_invalid"),
    ({"name": "Ə" * 201}, "name must be at most 200 characters", "name_too_long"),
    ({"name": "Günel\u202eəvəyilƏ"}, "name must not contain control characters",
     "name_invalid"),
    ({"name": GUNEL, "phone": "+994501234567"},
     "only name, language, preferred_channel may be changed", "contact_field_fixed"),
    ({}, "only name, language, preferred_channel may be changed", "contact_field_fixed"),
    ({"name": GUNEL, "language": "tr"}, "language must be one of az, ru, en",
     "unknown_language"),
    ({"name": GUNEL, "preferred_channel": "whatsapp"},
     "preferred_channel must be null or a channel the resident has written on (webchat)",
     "unknown_preferred_channel"),
    ({"preferred_channel": {"channel": "webchat"}},
     "preferred_channel must be null or a channel the resident has written on (webchat)",
     "unknown_preferred_channel"),
])
async def test_a_bad_name_is_a_400_and_changes_nothing(client, ctx, body, error, code):
    result = await ingest(ctx, chat("Salam", "1", name="Aysel"))
    contact_id = (await contact(ctx, result.conversation_id))["id"]
    _, headers = await person(ctx, "boss@example.gov.az")
    response = await client.patch(f"/api/v1/contacts/{contact_id}", json=body, headers=headers)
    assert response.status == 400
    answer = await response.json()
    assert (answer["error"], answer["code"]) == (error, code)
    assert (await contact(ctx, result.conversation_id))["name"] == "Aysel"
    assert (await contact(ctx, result.conversation_id))["language"] == "az"


async def test_an_agent_sets_the_residents_language_and_preferred_channel(client, ctx):
    result = await ingest(ctx, chat("Здравствуйте, пенсия не пришла", "1", name="Aysel"))
    contact_id = (await contact(ctx, result.conversation_id))["id"]
    leyla, headers = await person(ctx, "boss@example.gov.az")
    response = await client.patch(f"/api/v1/contacts/{contact_id}",
                                  json={"language": "ru", "preferred_channel": "webchat"},
                                  headers=headers)
    assert response.status == 200
    view = await response.json()
    assert (view["language"], view["preferred_channel"]) == ("ru", "webchat")
    stored = await contact(ctx, result.conversation_id)
    assert (stored["language"], stored["preferred_channel"]) == ("ru", "webchat")
    detail = await (await client.get(f"/api/v1/conversations/{result.conversation_id}",
                                     headers=headers)).json()
    updated = [(e["actor"], e["data"]) for e in detail["events"]
               if e["type"] == "contact_updated"]
    assert updated == [
        (leyla, {"contact_id": contact_id, "field": "language", "from": "az", "to": "ru"}),
        (leyla, {"contact_id": contact_id, "field": "preferred_channel", "from": None,
                 "to": "webchat"})]
    # Null forgets the preference.
    response = await client.patch(f"/api/v1/contacts/{contact_id}",
                                  json={"preferred_channel": None}, headers=headers)
    assert (await response.json())["preferred_channel"] is None


async def test_renaming_follows_the_queue_checks(client, ctx):
    result = await ingest(ctx, chat("Salam", "1", name="Aysel"))
    contact_id = (await contact(ctx, result.conversation_id))["id"]
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(result.conversation_id, queue="call-centre-142")
    _, outsider = await person(ctx, "leyla@example.gov.az", "agent", ["migration-registration"])
    response = await client.patch(f"/api/v1/contacts/{contact_id}", json={"name": GUNEL},
                                  headers=outsider)
    assert response.status == 403
    missing = await client.patch("/api/v1/contacts/999999", json={"name": GUNEL},
                                 headers=outsider)
    assert missing.status == 404
    assert (await contact(ctx, result.conversation_id))["name"] == "Aysel"
