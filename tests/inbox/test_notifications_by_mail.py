"""A notice to a resident who prefers e-mail, on a case that came by WhatsApp: it leaves from
a DOST mailbox through the local SMTP server."""

from __future__ import annotations

import pytest

from app import create_app
from tests.channels.email.mail_server import MailServer
from tests.channels.email.test_smtp import config_for
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    fake_twilio,  # noqa: F401 (fixture)
)
from tests.inbox.test_notifications import (
    PHONE,
    notify_and_send,
    outcomes_of,
    record,
    resident_case,
)
from tests.web.test_api import people  # noqa: F401 (fixture)

EMAIL = "gunel.aliyeva@example.az"


@pytest.fixture
def mail_server():
    with MailServer() as server:
        yield server


@pytest.fixture
def config(mail_server):
    return config_for({"host": "127.0.0.1", "port": mail_server.port, "security": "none"})


@pytest.fixture
async def client(aiohttp_client, environment, config, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


async def test_a_notice_by_mail_leaves_from_a_dost_mailbox(
        client, ctx, fake_twilio, people, mail_server) -> None:  # noqa: F811
    conversation_id = await resident_case(client, ctx)
    async with ctx.store.transaction() as tx:
        identity = await tx.contacts.identity("sms", PHONE)
        await tx.contacts.create_identity(identity["contact_id"], "email", EMAIL,
                                          "Günel Əliyeva")
        await tx.contacts.update(identity["contact_id"], preferred_channel="email")
    await record(client, people, conversation_id, kind="more_info",
                 reason="ID kartınızın arxa tərəfinin şəklini göndərin")
    await notify_and_send(ctx)
    [mail] = [received.mail for received in mail_server.accepted]
    assert mail["To"] == EMAIL and "baku1@" in mail["From"]
    body = mail.get_body(("plain",)).get_content()
    assert f"№ {conversation_id}" in body and "дополнительная информация" in body
    [shown] = await outcomes_of(client, people, conversation_id)
    assert [(a["channel"], a["delivery_status"]) for a in shown["attempts"]] == [
        ("email", "sent")]
