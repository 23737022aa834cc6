"""E-mail conversations through the agent API: a mail's facts (subject, from, to, cc, the
quoted part, notes) and its sanitized HTML reach the agents who may see the conversation; the
reply's subject and signature are prefilled; an agent's subject is stored with the reply and
refused, storing nothing, when it could break the mail's headers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from inbox import outbox
from inbox.ingest import ingest
from inbox.storage.schema import messages
from settings import load_config
from tests.conftest import TEST_CONFIG, with_test_channels
from tests.inbox.test_auth import add_user
from tests.web.email_samples import (
    CHILDCARE_SUBJECT,
    DISABILITY_QUOTED,
    DISABILITY_SUBJECT,
    DISABILITY_TEXT,
    SIGNATURES,
    childcare_mail,
    disability_mail,
    mailbox_yaml,
)
from tests.web.test_api import error_of, mint_token, seed

SEVDA = "sevda.karimova@dost.gov.az"      # agent of Baku DOST No. 1
RAUF = "rauf.huseynov@142.gov.az"         # agent of the 142 line only


@pytest.fixture
def config(tmp_path):
    """The tests' configuration with the Baku No. 1 mailbox and its signatures."""
    text = TEST_CONFIG.read_text(encoding="utf-8")
    assert "    mailboxes: []\n" in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("    mailboxes: []\n", "    mailboxes:\n" + mailbox_yaml()),
                    encoding="utf-8")
    return load_config(path, env={})


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(with_test_channels(create_app(config)))


@pytest.fixture
async def staff(ctx) -> dict[str, dict[str, str]]:
    sevda = await add_user(ctx, SEVDA, name="Sevda Kərimova", queues=("dost-baku-1",))
    rauf = await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=("call-centre-142",))
    return {"sevda": await mint_token(ctx, sevda), "rauf": await mint_token(ctx, rauf)}


async def message_count(ctx) -> int:
    async with ctx.store.read() as tx:
        return (await tx.conn.execute(select(func.count()).select_from(messages))).scalar_one()


async def test_a_mails_facts_and_html_reach_the_agent_with_the_reply_prefilled(client, ctx,
                                                                             staff):
    received = await ingest(ctx, disability_mail())
    response = await client.get(f"/api/v1/conversations/{received.conversation_id}",
                                headers=staff["sevda"])
    assert response.status == 200
    view = await response.json()
    [mail] = [m for m in view["messages"] if m["direction"] == "in"]
    assert mail["body"] == DISABILITY_TEXT
    # Exactly what the console shows: no Message-ID, no mailbox id.
    assert mail["email"] == {
        "subject": DISABILITY_SUBJECT, "from": "aygun.rehimova@mail.ru",
        "from_name": "Aygün Rəhimova", "to": ["baku1@dost.example.gov.az"],
        "cc": ["elvin.rehimov@gmail.com", "Baku2 <baku2@dost.example.gov.az>"],
        "quoted": DISABILITY_QUOTED,
        "notes": ["The part “arayis.tif” could not be read (broken base64); it is left out."]}
    assert "<script" not in mail["html"] and "onclick" not in mail["html"]
    assert "<b>şəxsiyyət vəsiqəmin surəti</b>" in mail["html"]
    assert view["mail_reply"] == {
        "subject": f"Re: Əlillik dərəcəsinin təyini üçün müraciət [DOST-{view['id']}]",
        "signature": SIGNATURES["az"]}
    # The automatic acknowledgement is ours: it is no mail of the resident's.
    assert all(m["email"] is None for m in view["messages"] if m["direction"] == "out")


async def test_the_signature_follows_the_residents_language(client, ctx, staff):
    received = await ingest(ctx, childcare_mail())
    response = await client.get(f"/api/v1/conversations/{received.conversation_id}",
                                headers=staff["sevda"])
    view = await response.json()
    assert view["language"] == "ru"
    assert view["mail_reply"] == {
        "subject": f"Re: {CHILDCARE_SUBJECT} [DOST-{view['id']}]",
        "signature": SIGNATURES["ru"]}


async def test_an_agent_outside_the_queue_gets_no_mail_facts(client, ctx, staff):
    received = await ingest(ctx, disability_mail())
    response = await client.get(f"/api/v1/conversations/{received.conversation_id}",
                                headers=staff["rauf"])
    assert response.status == 403
    assert "email" not in await response.text()
    listed = await client.get("/api/v1/conversations", headers=staff["rauf"])
    assert (await listed.json())["items"] == []


async def test_a_chat_conversation_has_no_mail_reply(client, ctx, staff):
    c = await seed(ctx, queue="dost-baku-1", text="Salam, pensiyam gecikir.", name="Vüqar")
    response = await client.get(f"/api/v1/conversations/{c.id}", headers=staff["sevda"])
    view = await response.json()
    assert view["mail_reply"] is None
    assert view["messages"][0]["email"] is None


async def test_a_reply_carries_the_agents_subject_to_the_channel(client, ctx, staff):
    received = await ingest(ctx, disability_mail())
    subject = f"Müraciətiniz qəbul edildi — sənədlər tamdır [DOST-{received.conversation_id}]"
    response = await client.post(
        f"/api/v1/conversations/{received.conversation_id}/messages",
        json={"body": "Hörmətli Aygün xanım, sənədləriniz qəbul edildi.",
              "subject": f"  {subject} "}, headers=staff["sevda"])
    assert response.status == 201, await response.text()
    reply = await response.json()
    assert reply["email"]["subject"] == subject
    async with ctx.store.read() as tx:
        row = await tx.messages.get(reply["id"])
    assert row["extra"] == {"email": {"subject": subject}}
    # What the delivery job hands the e-mail channel's send.
    claimed = await outbox.claim(ctx, reply["id"])
    assert claimed.message.extra == {"email": {"subject": subject}}


async def test_a_blank_subject_leaves_the_reply_its_own(client, ctx, staff):
    received = await ingest(ctx, disability_mail())
    response = await client.post(
        f"/api/v1/conversations/{received.conversation_id}/messages",
        json={"body": "Sənədləriniz qəbul edildi.", "subject": "   "}, headers=staff["sevda"])
    assert response.status == 201
    reply = await response.json()
    async with ctx.store.read() as tx:
        assert (await tx.messages.get(reply["id"]))["extra"] is None
    assert reply["email"] is None


async def test_a_subject_of_250_characters_is_accepted(client, ctx, staff):
    received = await ingest(ctx, disability_mail())
    response = await client.post(
        f"/api/v1/conversations/{received.conversation_id}/messages",
        json={"body": "Qəbul edildi.", "subject": "ə" * 250}, headers=staff["sevda"])
    assert response.status == 201
    assert (await response.json())["email"]["subject"] == "ə" * 250


@pytest.mark.parametrize(("payload", "status", "error"), [
    ({"subject": 42}, 400, "subject must be a string"),
    ({"subject": ["Re: x"]}, 400, "subject must be a string"),
    ({"subject": "Re: sənədlər\r\nBcc: everyone@example.com"}, 400,
     "subject must be one line without control characters"),
    ({"subject": "Re: sənədlər\nBcc: everyone@example.com"}, 400,
     "subject must be one line without control characters"),
    ({"subject": "Re: sənədlər\rBcc: everyone@example.com"}, 400,
     "subject must be one line without control characters"),
    ({"subject": "Re: sənədlər\u2028Bcc: everyone@example.com"}, 400,
     "subject must be one line without control characters"),
    ({"subject": "Re: sənədlər\x85Bcc: x@example.com"}, 400,
     "subject must be one line without control characters"),
    ({"subject": "Re:\tsənədlər"}, 400, "subject must be one line without control characters"),
    ({"subject": "ə" * 251}, 400, "subject must be at most 250 characters"),
    ({"subject": "Daxili qeyd", "private": True}, 422, "a private note has no subject"),
    ({"subject": "Şablon", "template": "x"}, 400, "a template has no subject"),
])
async def test_a_bad_subject_is_refused_and_stores_nothing(client, ctx, staff, payload, status,
                                                          error):
    received = await ingest(ctx, disability_mail())
    before = await message_count(ctx)
    response = await client.post(
        f"/api/v1/conversations/{received.conversation_id}/messages",
        json={"body": "Sənədləriniz qəbul edildi.", **payload}, headers=staff["sevda"])
    assert response.status == status
    assert error_of(await response.json()) == error
    assert await message_count(ctx) == before


async def test_a_subject_on_a_channel_without_subjects_is_422(client, ctx, staff):
    c = await seed(ctx, queue="dost-baku-1", text="Salam, pensiyam gecikir.", name="Vüqar")
    before = await message_count(ctx)
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Salam!", "subject": "Pensiya"},
                                 headers=staff["sevda"])
    assert response.status == 422
    assert await response.json() == {"error": "webchat messages have no subject",
                                     "code": "not_possible"}
    assert await message_count(ctx) == before
