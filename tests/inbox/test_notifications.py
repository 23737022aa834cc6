"""Result notifications end to end: the resident writes on WhatsApp and SMS through the signed
Twilio webhook, an operator records the outcome through the API, the notifications consumer
queues the notice and the delivery job sends it to the fake Twilio; status callbacks come
back through the signed status webhook. Real database (SQLite and PostgreSQL) and Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from channels.delivery import deliver_message
from inbox.consumers import consume
from inbox.notifications import NOTIFICATIONS_CONSUMER, routes
from inbox.storage import utcnow
from tests.channels.twilio.test_messaging import (  # noqa: F401 (fixtures)
    MESSAGING_URL,
    STATUS_URL,
    client,
    fake_twilio,
    fixture,
    post,
)
from tests.web.test_api import people  # noqa: F401 (fixture)

PHONE = "+994501234567"
WHATSAPP = "whatsapp:" + PHONE
BAKU_1 = ("Бакинский центр DOST № 1", "Баку, Ясамальский район, ул. Шарифзаде, 206",
          "Пн–Пт 09:00–18:00")


async def resident_case(client, ctx, *, preferred: str = "whatsapp",  # noqa: F811
                        window_closed: bool = False) -> int:
    """Günel Əliyeva writes on WhatsApp (in Russian) and by SMS; her WhatsApp conversation is
    a registration case. Its id."""
    assert (await post(client, MESSAGING_URL, fixture("whatsapp_inbound.txt"))).status == 200
    assert (await post(client, MESSAGING_URL, fixture(
        "sms_inbound.txt", From=PHONE, MessageSid="SM9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"))
    ).status == 200
    async with ctx.store.transaction() as tx:
        identity = await tx.contacts.identity("whatsapp", PHONE)
        conversation = await tx.conversations.latest_of_identity(identity["id"])
        await tx.contacts.update(identity["contact_id"], preferred_channel=preferred,
                                 language="ru")
        changes = {"category": "registration"}
        if window_closed:
            changes["last_inbound_at"] = utcnow() - timedelta(hours=25)
        await tx.conversations.update(conversation["id"], **changes)
        # The acknowledgements are not what these tests look at.
        for message in await tx.messages.of_conversation(conversation["id"]):
            if message["direction"] == "out":
                await tx.messages.update(message["id"], delivery_status="delivered")
    return conversation["id"]


async def record(client, people, conversation_id: int, **body) -> dict:  # noqa: F811
    response = await client.post(f"/api/v1/conversations/{conversation_id}/outcome",
                                 json=body, headers=people["nigar"].headers)
    assert response.status == 201, await response.text()
    return (await response.json())[-1]


async def outcomes_of(client, people, conversation_id: int) -> list[dict]:  # noqa: F811
    response = await client.get(f"/api/v1/conversations/{conversation_id}/outcomes",
                                headers=people["nigar"].headers)
    assert response.status == 200
    return await response.json()


async def notify_and_send(ctx) -> list[int]:
    """The worker's round: the consumer queues notices, the delivery job sends them."""
    async with ctx.store.read() as tx:
        before = {m["id"] for m in await all_out(tx)}
    await consume(ctx, NOTIFICATIONS_CONSUMER)
    async with ctx.store.read() as tx:
        queued = [m["id"] for m in await all_out(tx) if m["id"] not in before]
    for message_id in queued:
        await deliver_message(ctx, message_id)
    return queued


async def all_out(tx) -> list[dict]:
    from sqlalchemy import select

    from inbox.storage.schema import messages
    result = await tx.conn.execute(select(messages).where(messages.c.direction == "out")
                                   .order_by(messages.c.id))
    return [dict(row._mapping) for row in result]


def test_the_preferred_channel_comes_first_then_the_others_and_never_a_call() -> None:
    from channels.registry import channel_book
    book = channel_book()
    identities = [{"id": 1, "channel": "sms"}, {"id": 2, "channel": "voice"},
                  {"id": 3, "channel": "whatsapp"}, {"id": 4, "channel": "telegram"}]
    found = [r.channel for r in routes("telegram", identities, book)]
    assert found[0] == "telegram" and sorted(found[1:]) == ["sms", "whatsapp"]
    assert [r.channel for r in routes(None, identities[:1], book)] == ["sms"]


async def test_inside_the_whatsapp_window_the_notice_is_text_in_her_language(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx)
    outcome = await record(client, people, conversation_id, kind="pickup", centre="baku-1")
    assert outcome["notification"] == "pending" and outcome["attempts"] == []
    assert len(await notify_and_send(ctx)) == 1
    fields = fake_twilio.requests[-1].fields()
    assert fields["To"] == WHATSAPP and "ContentSid" not in fields
    assert all(part in fields["Body"] for part in BAKU_1)
    assert f"№ {conversation_id}" in fields["Body"] and "Günel" in fields["Body"]
    [shown] = await outcomes_of(client, people, conversation_id)
    assert [(a["attempt"], a["channel"], a["delivery_status"]) for a in shown["attempts"]] \
        == [(1, "whatsapp", "sent")]


async def test_outside_the_window_the_approved_template_goes_by_content_sid(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx, window_closed=True)
    await record(client, people, conversation_id, kind="pickup", centre="baku-1")
    await notify_and_send(ctx)
    fields = fake_twilio.requests[-1].fields()
    assert fields["To"] == WHATSAPP and "Body" not in fields
    assert fields["ContentSid"] == "HX7c3a2d4e5f60718293a4b5c6d7e8f90a"
    assert json.loads(fields["ContentVariables"]) == {
        "1": "Günel Əliyeva", "2": str(conversation_id), "3": BAKU_1[0], "4": BAKU_1[1],
        "5": BAKU_1[2]}
    [shown] = await outcomes_of(client, people, conversation_id)
    assert shown["attempts"][0]["delivery_status"] == "sent"


async def test_an_undelivered_notice_falls_back_to_the_next_channel_and_shows_on_the_case(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx)
    await record(client, people, conversation_id, kind="rejected",
                 reason="FIN 5ZK2QJ7 üzrə sənədlər natamamdır")
    fake_twilio.next_sids = ["SM0a1b2c3d4e5f60718293a4b5c6d7e8f9"]
    await notify_and_send(ctx)
    # WhatsApp reports it undelivered (the number is not on WhatsApp any more).
    status = fixture("status_undelivered.txt", MessageSid="SM0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                     SmsSid="SM0a1b2c3d4e5f60718293a4b5c6d7e8f9", To=WHATSAPP,
                     From="whatsapp:+994125550142", ErrorCode="63024")
    assert (await post(client, STATUS_URL, status)).status == 200
    assert len(await notify_and_send(ctx)) == 1
    fields = fake_twilio.requests[-1].fields()
    assert fields["To"] == PHONE and "FIN 5ZK2QJ7" in fields["Body"]
    [shown] = await outcomes_of(client, people, conversation_id)
    assert [(a["channel"], a["delivery_status"]) for a in shown["attempts"]] == [
        ("whatsapp", "failed"), ("sms", "sent")]
    assert shown["attempts"][0]["error"]
    assert shown["notification"] == "sent"
    # Nothing is sent again on a later round.
    assert await notify_and_send(ctx) == []


async def test_a_worker_restart_sends_each_notice_once(
        client, ctx, fake_twilio, people) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx, preferred="sms")
    await record(client, people, conversation_id, kind="approved")
    assert len(await notify_and_send(ctx)) == 1
    sent = len(fake_twilio.requests)
    # The worker died after handling the batch but before its watermark moved: the next
    # worker sees the same events again.
    await ctx.redis.delete(NOTIFICATIONS_CONSUMER.watermark_key)
    assert await notify_and_send(ctx) == []
    assert len(fake_twilio.requests) == sent
    assert fake_twilio.requests[-1].fields()["To"] == PHONE


@pytest.mark.parametrize(("body", "code"), [
    ({"kind": "granted"}, "outcome_kind_unknown"),
    ({"kind": "rejected"}, "outcome_reason_required"),
    ({"kind": "pickup", "centre": "ganja-9"}, "outcome_centre_unknown"),
    ({"kind": "approved", "centre": "baku-1"}, "outcome_centre_unknown"),
])
async def test_a_bad_outcome_is_a_clear_400(client, ctx, people, body, code) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx)
    response = await client.post(f"/api/v1/conversations/{conversation_id}/outcome",
                                 json=body, headers=people["nigar"].headers)
    assert response.status == 400
    assert (await response.json())["code"] == code
    assert await outcomes_of(client, people, conversation_id) == []
