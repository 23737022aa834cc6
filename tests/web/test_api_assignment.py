"""Presence, pulling work, merging and splitting through /api/v1 on the real app."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from inbox.auth import hash_password
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow

REGISTRATION = "Salam, reintegrasiya prosesinə ilkin qeydiyyatdan keçmək istəyirəm"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def person(ctx, email, role, queues) -> tuple[int, dict[str, str]]:
    token = secrets.token_urlsafe(32)
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save(email, name=email.split("@")[0], role=role,
                                     queues=queues, languages=["az", "ru"],
                                     capacity={"chat": 2, "email": 5},
                                     password_hash=hash_password("irrelevant"))
        await tx.users.save_token(token, user_id, "csrf", utcnow() + timedelta(hours=1))
    return user_id, {"Authorization": f"Bearer {token}"}


def chat(text, session, client_id="1", **extra):
    return InboundMessage(channel="webchat", external_id=f"{session}:{client_id}",
                          address=session, text=text, received_at=datetime.now(UTC),
                          language="az", **extra)


async def test_going_online_takes_waiting_work_and_away_gives_it_back(client, ctx):
    waiting = (await ingest(ctx, chat(REGISTRATION, "s1"))).conversation_id
    nigar, headers = await person(ctx, "nigar@example.gov.az", "agent",
                                  ["migration-registration"])
    response = await client.post("/api/v1/me/presence", json={"presence": "online"},
                                 headers=headers)
    assert response.status == 200
    assert (await response.json())["presence"] == "online"
    detail = await (await client.get(f"/api/v1/conversations/{waiting}",
                                     headers=headers)).json()
    assert detail["assignee"] == nigar and detail["status"] == "open"
    assert [e["type"] for e in detail["events"]][-1] == "assigned"
    response = await client.post("/api/v1/me/presence", json={"presence": "away"},
                                 headers=headers)
    detail = await (await client.get(f"/api/v1/conversations/{waiting}",
                                     headers=headers)).json()
    assert detail["assignee"] is None and detail["status"] == "waiting"
    bad = await client.post("/api/v1/me/presence", json={"presence": "busy"}, headers=headers)
    assert bad.status == 400


async def test_queue_next_pulls_the_oldest_then_answers_204(client, ctx):
    first = (await ingest(ctx, chat("Pensiya ödənişim dayanıb", "a",
                                    queue_hint="dost-baku-1"))).conversation_id
    second = (await ingest(ctx, chat("Ünvanlı yardım kəsilib", "b",
                                     queue_hint="dost-baku-1"))).conversation_id
    _, headers = await person(ctx, "clerk@example.gov.az", "agent", ["dost-baku-1"])
    taken = []
    for _ in range(2):
        response = await client.post("/api/v1/queue/next", headers=headers)
        assert response.status == 200
        taken.append((await response.json())["id"])
    assert taken == [first, second]
    assert (await client.post("/api/v1/queue/next", headers=headers)).status == 204


async def test_opening_an_offer_marks_it_opened(client, ctx):
    nigar, headers = await person(ctx, "nigar@example.gov.az", "agent",
                                  ["migration-registration"])
    await client.post("/api/v1/me/presence", json={"presence": "online"}, headers=headers)
    conversation_id = (await ingest(ctx, chat(REGISTRATION, "s1"))).conversation_id
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(conversation_id))["offered_at"] is not None
    await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    async with ctx.store.read() as tx:
        row = await tx.conversations.get(conversation_id)
    assert row["offered_at"] is None and row["opened_at"] is not None and \
        row["assignee_id"] == nigar


async def test_split_then_merge_over_http(client, ctx):
    _, headers = await person(ctx, "boss@example.gov.az", "supervisor", [])
    first = await ingest(ctx, chat(REGISTRATION, "s1", "1"))
    later = await ingest(ctx, chat("Həm də pensiyam gecikir", "s1", "2"))
    response = await client.post(f"/api/v1/conversations/{first.conversation_id}/split",
                                 json={"message_id": later.message_id}, headers=headers)
    assert response.status == 201
    new_id = (await response.json())["id"]
    assert new_id != first.conversation_id
    response = await client.post(f"/api/v1/conversations/{first.conversation_id}/merge",
                                 json={"conversation_id": new_id}, headers=headers)
    assert response.status == 200
    detail = await (await client.get(f"/api/v1/conversations/{first.conversation_id}",
                                     headers=headers)).json()
    assert later.message_id in [m["id"] for m in detail["messages"]]
    assert "conversations_merged" in [e["type"] for e in detail["events"]]
    missing = await client.post(f"/api/v1/conversations/{first.conversation_id}/merge",
                                json={"conversation_id": 9999}, headers=headers)
    assert missing.status == 404


async def test_merge_contacts_over_http(client, ctx):
    _, headers = await person(ctx, "boss@example.gov.az", "supervisor", [])
    a = await ingest(ctx, chat("Salam", "chat-a"))
    b = await ingest(ctx, InboundMessage(channel="sms", external_id="SM1", address="+994551112233",
                                         text="Salam", received_at=datetime.now(UTC),
                                         phone="+994551112233"))
    async with ctx.store.read() as tx:
        ca = (await tx.conversations.get(a.conversation_id))["contact_id"]
        cb = (await tx.conversations.get(b.conversation_id))["contact_id"]
    response = await client.post(f"/api/v1/contacts/{ca}/merge", json={"contact_id": cb},
                                 headers=headers)
    assert response.status == 200
    body = await response.json()
    assert sorted(i["channel"] for i in body["identities"]) == ["sms", "webchat"]
    assert body["phone"] == "+994551112233"
    assert {c["id"] for c in body["conversations"]} == {a.conversation_id, b.conversation_id}
    again = await client.post(f"/api/v1/contacts/{ca}/merge", json={"contact_id": cb},
                              headers=headers)
    assert again.status == 404


async def test_corrections_export_feeds_training(ctx, environment, tmp_path):
    import json
    import subprocess
    import sys

    from inbox import actions
    from inbox.actions import Actor

    boss, _ = await person(ctx, "boss@example.gov.az", "supervisor", [])
    result = await ingest(ctx, chat("Portalda qeydiyyat səhifəsi açılmır, kömək edin", "s1"))
    await actions.set_category(ctx, Actor(boss, "supervisor", ()), result.conversation_id,
                               "support")
    out = tmp_path / "corrections.jsonl"
    done = subprocess.run([sys.executable, "app.py", "corrections", "export", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"text": "Portalda qeydiyyat səhifəsi açılmır, kömək edin",
                      "label": "support", "lang": "az"}]


async def test_whatsapp_free_text_is_refused_after_24_hours(client, ctx):
    _, headers = await person(ctx, "boss@example.gov.az", "supervisor", [])
    result = await ingest(ctx, InboundMessage(
        channel="whatsapp", external_id="SM1", address="+994501234567", text="Salam",
        received_at=datetime.now(UTC), phone="+994501234567"))
    reply = await client.post(f"/api/v1/conversations/{result.conversation_id}/messages",
                              json={"body": "Salam, buyurun"}, headers=headers)
    assert reply.status == 201
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(result.conversation_id,
                                     last_inbound_at=utcnow() - timedelta(hours=25))
    late = await client.post(f"/api/v1/conversations/{result.conversation_id}/messages",
                             json={"body": "Hələ də gözləyirsiniz?"}, headers=headers)
    assert late.status == 409
    assert "approved template" in (await late.json())["error"]
    note = await client.post(f"/api/v1/conversations/{result.conversation_id}/messages",
                             json={"body": "Sakinə zəng etmək lazımdır", "private": True},
                             headers=headers)
    assert note.status == 201


async def test_an_approved_template_goes_out_after_the_window(client, ctx):
    _, headers = await person(ctx, "boss@example.gov.az", "supervisor", [])
    result = await ingest(ctx, InboundMessage(
        channel="whatsapp", external_id="SM2", address="+994501234567", text="Salam",
        received_at=datetime.now(UTC), phone="+994501234567"))
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(result.conversation_id,
                                     last_inbound_at=utcnow() - timedelta(days=3))
    url = f"/api/v1/conversations/{result.conversation_id}/messages"
    sent = await client.post(url, json={"template": "reply_waiting", "variables": {
        "name": "Günel", "conversation": str(result.conversation_id)}}, headers=headers)
    assert sent.status == 201
    message = await sent.json()
    assert message["body"] == (f"Hörmətli Günel, {result.conversation_id} nömrəli "
                               "müraciətiniz üzrə cavab hazırdır. Yazmaq üçün bu mesaja "
                               "cavab verin.")
    async with ctx.store.read() as tx:
        stored = await tx.messages.get(message["id"])
    assert stored["extra"] == {"content_sid": "HX0123456789abcdef0123456789abcdef",
                               "content_variables":
                                   f'{{"1": "Günel", "2": "{result.conversation_id}"}}'}
    missing = await client.post(url, json={"template": "reply_waiting",
                                           "variables": {"name": "Günel"}}, headers=headers)
    assert missing.status == 422 and "needs conversation" in (await missing.json())["error"]
    unknown = await client.post(url, json={"template": "nope"}, headers=headers)
    assert unknown.status == 422


async def test_the_console_learns_the_channels_and_their_templates_from_the_server(client, ctx):
    _, headers = await person(ctx, "agent@example.gov.az", "agent", ["migration-registration"])
    channels = await (await client.get("/api/v1/channels", headers=headers)).json()
    assert [c["name"] for c in channels] == ["webchat", "sms", "whatsapp", "voice", "email",
                                            "telegram"]
    assert {c["name"] for c in channels if c["templates"]} == {"whatsapp"}
    assert {c["name"] for c in channels if c["phone_address"]} == {"sms", "whatsapp", "voice"}
    assert {c["name"] for c in channels if c["heard"]} == {"voice"}
    assert {c["name"] for c in channels if c["subject"]} == {"email"}
    templates = await (await client.get("/api/v1/templates", headers=headers)).json()
    # By name: the answer's template and the result notices' (config notifications).
    assert [t["name"] for t in templates] == [
        "outcome_approved", "outcome_more_info", "outcome_pickup", "outcome_rejected",
        "reply_waiting"]
    assert templates[-1] == {"channel": "whatsapp", "name": "reply_waiting",
                             "variables": ["name", "conversation"],
                             "preview": "Hörmətli {{1}}, {{2}} nömrəli müraciətiniz üzrə "
                                        "cavab hazırdır. Yazmaq üçün bu mesaja cavab verin."}
