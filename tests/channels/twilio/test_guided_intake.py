"""A guided intake in English over WhatsApp, through Twilio's real webhook and the fake
Twilio REST server: paused with "stop", reminded by the sweep, carried on by a new app
instance after a restart, with a document sent as a photo; and a whole one in Azerbaijani by
SMS, its choices a numbered list."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from app import create_app
from inbox.guided_intake import reminders
from inbox.storage import utcnow
from settings import load_config
from tests.channels.twilio.test_messaging import (  # noqa: F401 (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGING_URL,
    fake_twilio,
    fixture,
    post,
)
from tests.conftest import TEST_CONFIG
from tests.inbox.guided_intake.support import (
    HAPPY_AZ,
    conversation,
    deliver_bot_messages,
    intake_of,
    with_intake,
)

RESIDENT = "whatsapp:+994552345678"
sids = itertools.count(1)


@pytest.fixture
def config():
    return with_intake(load_config(TEST_CONFIG, env={}))


@pytest.fixture
def app_factory(environment, config, monkeypatch, aiohttp_client):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)

    async def start():
        return await aiohttp_client(create_app(config))
    return start


def whatsapp(text: str, media: int = 0) -> dict[str, str]:
    sid = f"SM{next(sids):032x}"
    changes = {"Body": text, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
               "From": RESIDENT, "WaId": RESIDENT.removeprefix("whatsapp:+"),
               "ProfileName": "Rashad Mammadov", "NumMedia": str(media)}
    form = fixture("whatsapp_media.txt" if media else "whatsapp_inbound.txt", **changes)
    if not media:
        for key in ("MediaUrl0", "MediaContentType0"):
            form.pop(key, None)
    return form


async def turn(app_client, ctx, fake, form: dict[str, str]) -> list[str]:
    """Post the resident's WhatsApp message; what the bot answered, as Twilio was asked to
    send it."""
    before = len(fake.requests)
    assert (await post(app_client, MESSAGING_URL, form)).status == 200
    await deliver_bot_messages(ctx)
    return [r.field("Body") for r in fake.requests[before:]]


async def test_an_intake_paused_reminded_and_finished_after_a_restart(
        app_factory, ctx, fake_twilio):  # noqa: F811
    app = await app_factory()
    sent = await turn(app, ctx, fake_twilio,
                      whatsapp("Hello, I want to register for reintegration"))
    [offer] = sent
    assert offer.startswith("Hello, Rashad Mammadov!")
    assert offer.endswith("1. Yes, I agree\n2. No, let me talk to an operator")
    for answer in ["1", "Rashad Mammadov", "3RT8XN2"]:
        sent = await turn(app, ctx, fake_twilio, whatsapp(answer))
    assert sent[-1].startswith("Please write your ID card's series and number")
    sent = await turn(app, ctx, fake_twilio, whatsapp("stop"))
    assert sent == ["Paused. Write at any time and we will continue where we stopped."]
    row = await _live_intake(ctx)
    conversation_id = row["conversation_id"]
    assert row["status"] == "paused"

    # Nobody answers: one reminder after `remind_after`, none before and none twice.
    assert await reminders.sweep(ctx, utcnow() + timedelta(minutes=29)) == \
        {"reminded": [], "handed_over": []}
    later = utcnow() + timedelta(minutes=31)
    assert await reminders.sweep(ctx, later) == {"reminded": [conversation_id],
                                                 "handed_over": []}
    assert await reminders.sweep(ctx, later) == {"reminded": [], "handed_over": []}
    before = len(fake_twilio.requests)
    await deliver_bot_messages(ctx)
    assert [r.field("Body") for r in fake_twilio.requests[before:]] == [
        "Your registration is not finished yet. To continue, answer the question below "
        "(or write \"operator\").\n\nPlease write your ID card's series and number (for "
        "example AZE12345678 or AA1234567)."]

    # The app restarts: a new instance continues from the row in the database.
    await app.close()
    app = await app_factory()
    sent = await turn(app, ctx, fake_twilio, whatsapp("Hi, I am back"))
    assert sent[0].startswith("Let us continue.\n\nPlease write your ID card")
    for answer in ["AZE 1234 5678", "1990-07-21", "Baku, Yasamal, Sharifzade 40", "4", "2"]:
        sent = await turn(app, ctx, fake_twilio, whatsapp(answer))
    assert sent[-1].startswith("Please send a photo or PDF of these documents: Copy of the "
                               "foreign passport; Proof of residence; 3x4 photograph.")
    sent = await turn(app, ctx, fake_twilio, whatsapp("My passport", media=2))
    assert sent[0].startswith("Received (1).")
    sent = await turn(app, ctx, fake_twilio, whatsapp("done"))
    assert sent == [f"Thank you! Your application is recorded (reference {conversation_id}) "
                    "and waits for a registration operator. We will tell you the result on "
                    "the channel you chose."]
    row = await intake_of(ctx, conversation_id)
    assert row["status"] == "complete"
    assert row["state"]["answers"]["result_channel"] == "sms"
    assert row["state"]["answers"]["service"] == "residence-permit"
    assert len(row["state"]["documents"]) == 1
    assert (await conversation(ctx, conversation_id))["status"] == "waiting"


async def test_silence_after_the_reminder_hands_over_what_was_collected(
        app_factory, ctx, fake_twilio):  # noqa: F811
    app = await app_factory()
    for answer in ["Hello, I want to register for reintegration", "yes", "Rashad Mammadov"]:
        await turn(app, ctx, fake_twilio, whatsapp(answer))
    row = await _live_intake(ctx)
    conversation_id = row["conversation_id"]
    assert (await conversation(ctx, conversation_id))["sla_due_at"] is None
    await reminders.sweep(ctx, utcnow() + timedelta(minutes=31))
    assert await reminders.sweep(ctx, utcnow() + timedelta(hours=25)) == \
        {"reminded": [], "handed_over": [conversation_id]}
    row = await intake_of(ctx, conversation_id)
    assert (row["status"], row["reason"]) == ("handed_over", "no answer after the reminder")
    held = await conversation(ctx, conversation_id)
    assert held["status"] == "waiting" and held["sla_due_at"] is not None


async def _live_intake(ctx) -> dict:
    async with ctx.store.read() as tx:
        [row] = await tx.intakes.due(utcnow() + timedelta(days=30))
    return row


def sms(text: str) -> dict[str, str]:
    sid = f"SM{next(sids):032x}"
    return fixture("sms_inbound.txt", Body=text, MessageSid=sid, SmsSid=sid,
                   SmsMessageSid=sid, From="+994702345678")


async def test_a_whole_intake_by_sms_in_azerbaijani(app_factory, ctx, fake_twilio):  # noqa: F811
    # SMS shows no buttons: the choices come as a numbered list, answered by their number.
    app = await app_factory()
    [offer] = await turn(app, ctx, fake_twilio,
                         sms("Salam, ilkin qeydiyyatdan keçmək istəyirəm"))
    assert offer.endswith("1. Bəli, razıyam\n2. Xeyr, operatorla danışım")
    assert fake_twilio.requests[-1].field("To") == "+994702345678"
    for answer in HAPPY_AZ:
        sent = await turn(app, ctx, fake_twilio, sms(answer))
    sent = await turn(app, ctx, fake_twilio, sms("hazırdır"))
    conversation_id = await conversation_of_address(ctx, "+994702345678")
    assert sent == [f"Təşəkkür edirik! Müraciətiniz qeydə alındı (istinad nömrəsi "
                    f"{conversation_id}) və qeydiyyat operatorlarının növbəsindədir. "
                    "Nəticəni seçdiyiniz kanalla bildirəcəyik."]
    row = await intake_of(ctx, conversation_id)
    assert row["status"] == "complete"
    assert row["state"]["answers"]["fin"] == "5ZK2QJ7"
    assert (await conversation(ctx, conversation_id))["status"] == "waiting"


async def conversation_of_address(ctx, address: str) -> int:
    async with ctx.store.read() as tx:
        identity = await tx.contacts.identity("sms", address)
        return (await tx.conversations.latest_of_identity(identity["id"]))["id"]
