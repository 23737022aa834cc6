"""Twilio SMS and WhatsApp: pure parsing and decisions on captured payloads, then the real app,
the real database (SQLite and PostgreSQL), real Redis and the real twilio client talking to a
fake Twilio REST server."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app import create_app
from channels.base import PermanentSendError, TransientSendError
from channels.delivery import deliver_message
from channels.twilio.common import (
    ERROR_REASONS,
    error_reason,
    rewrite_api_url,
    send_error,
    signature_valid,
)
from channels.twilio.messaging import (
    EMPTY_TWIML,
    RECONCILE_CLOCK_SKEW,
    SMS_MAX_CHARS,
    STATUS_PATH,
    WHATSAPP_CHANNEL,
    WHATSAPP_MAX_CHARS,
    ListedMessage,
    MessagingSettings,
    PayloadError,
    create_requests,
    messaging_settings,
    parse,
    parse_status,
    reconcile,
    split_text,
    whatsapp_window_open,
)
from channels.twilio.templates import template_extra, whatsapp_templates
from inbox import intake as intake_module
from inbox import outbox
from inbox.messages import Attachment, OutboundMessage
from inbox.storage import utcnow
from inbox.storage.schema import messages
from tests.channels.fake_twilio import FakeTwilio
from web.appkeys import CONTEXT, INTAKE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
ACCOUNT_SID = "AC3f1b2c4d5e6f708192a3b4c5d6e7f809"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "http://127.0.0.1:8080"      # the test config's public_url
MESSAGING_URL = PUBLIC_URL + "/webhooks/twilio/messaging"
STATUS_URL = PUBLIC_URL + STATUS_PATH
NOW = datetime(2025, 7, 14, 10, 30, tzinfo=UTC)


def fixture(name: str, **changes: str) -> dict[str, str]:
    """A captured webhook form, with some fields changed (or removed when given "")."""
    form = dict(parse_qsl((FIXTURES / name).read_text().strip(), keep_blank_values=True))
    for key, value in changes.items():
        if value == "":
            form.pop(key, None)
        else:
            form[key] = value
    return form


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


# --- parse: pure ---------------------------------------------------------------------------


def test_sms_is_parsed_into_the_normalized_message() -> None:
    message = parse(fixture("sms_inbound.txt"), NOW, raw_size=512)
    assert message.channel == "sms"
    assert message.external_id == "SM8f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f"
    assert message.address == "+994501234567"
    assert message.text == "Salam, pensiyam bu ay gəlməyib. Nə etməliyəm?"
    assert message.display_name is None and message.attachments == ()
    assert message.received_at == NOW and message.raw_size == 512


def test_whatsapp_is_recognised_by_its_from_prefix() -> None:
    message = parse(fixture("whatsapp_inbound.txt"), NOW)
    assert message.channel == "whatsapp"
    assert message.address == "+994501234567"       # the same address as the phone's SMS
    assert message.display_name == "Günel Əliyeva"
    assert message.text.startswith("Здравствуйте")


def test_whatsapp_media_become_attachments_with_twilio_urls() -> None:
    message = parse(fixture("whatsapp_media.txt"), NOW)
    base = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
            "MM9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b/Media/")
    assert message.attachments == (
        Attachment(content_type="image/jpeg", url=base + "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        Attachment(content_type="application/pdf", url=base + "ME1b2c3d4e5f60718293a4b5c6d7e8f9a0"),
    )


def test_a_national_number_is_read_as_azerbaijani() -> None:
    assert parse(fixture("sms_inbound.txt", From="0501234567"), NOW).address == "+994501234567"


@pytest.mark.parametrize(("changes", "error"), [
    ({"From": ""}, "From is missing"),
    ({"MessageSid": ""}, "MessageSid is missing"),
    ({"MessageSid": "SM'; drop table"}, "MessageSid is not"),
    ({"NumMedia": "two"}, "NumMedia must be"),
    ({"NumMedia": "11"}, "NumMedia must be"),
    ({"NumMedia": "1"}, "MediaUrl0 is missing"),
    ({"From": "+99412"}, "not a valid phone number"),
    ({"From": "whatsapp:hello"}, "not a phone number"),
])
def test_malformed_forms_are_refused(changes: dict[str, str], error: str) -> None:
    with pytest.raises(PayloadError, match=error):
        parse(fixture("sms_inbound.txt", **changes), NOW)


# --- outbound decisions: pure --------------------------------------------------------------


@pytest.mark.parametrize("limit", [SMS_MAX_CHARS, WHATSAPP_MAX_CHARS])
def test_long_text_is_split_on_word_boundaries(limit: int) -> None:
    words = [f"söz{i}" for i in range(2000)]
    text = " ".join(words)
    parts = split_text(text, limit)
    assert len(parts) > 1 and all(0 < len(part) <= limit for part in parts)
    assert " ".join(parts).split(" ") == words          # no word cut, none lost
    for part, following in pairwise(parts):
        assert len(part) + 1 + len(following.split(" ")[0]) > limit   # each part is full


def test_split_keeps_short_text_whole_and_cuts_a_giant_word_hard() -> None:
    assert split_text("  Salam  ", 10) == ["Salam"]
    assert split_text("", 10) == [""]
    assert split_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]
    assert split_text("bir iki\nüç dörd", 8) == ["bir iki", "üç dörd"]


def test_whatsapp_window_is_24_hours_from_the_last_inbound_message() -> None:
    assert whatsapp_window_open(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not whatsapp_window_open(NOW - timedelta(hours=24), NOW)
    assert not whatsapp_window_open(None, NOW)


def outbound(channel: str = "sms", body: str = "Müraciətiniz qəbul edildi", **extra) -> \
        OutboundMessage:
    return OutboundMessage(message_id=1, conversation_id=1, channel=channel,
                           address="+994501234567", body=body, language="az", created_at=NOW,
                           **extra)


def test_create_requests_address_sms_and_whatsapp_from_the_configured_senders(config) -> None:
    settings = messaging_settings(config.channels.section("twilio"))
    [sms] = create_requests(settings, outbound("sms"), STATUS_URL)
    assert sms == {"to": "+994501234567", "from_": "+994125550142",
                   "status_callback": STATUS_URL, "body": "Müraciətiniz qəbul edildi"}
    [whatsapp] = create_requests(settings, outbound(
        "whatsapp", attachments=(Attachment("image/png", url="https://x.test/a.png"),)),
        STATUS_URL)
    assert whatsapp["to"] == "whatsapp:+994501234567"
    assert whatsapp["from_"] == "whatsapp:+994125550142"
    assert whatsapp["media_url"] == ["https://x.test/a.png"]
    service = MessagingSettings(messaging_service_sid="MG0123")
    [via_service] = create_requests(service, outbound("sms"), STATUS_URL)
    assert via_service["messaging_service_sid"] == "MG0123" and "from_" not in via_service


def test_a_template_send_carries_content_sid_and_numbered_variables(config) -> None:
    settings = messaging_settings(config.channels.section("twilio"))
    template = whatsapp_templates(config.channels.section("twilio"))["reply_waiting"]
    extra = template_extra(template, "reply_waiting", {"name": "Günel", "conversation": "42"})
    assert extra == {"content_sid": "HX0123456789abcdef0123456789abcdef",
                     "content_variables": '{"1": "Günel", "2": "42"}'}
    [request] = create_requests(settings, outbound("whatsapp", extra=extra), STATUS_URL)
    assert request["content_sid"] == extra["content_sid"] and "body" not in request
    with pytest.raises(ValueError, match="needs conversation"):
        template_extra(template, "reply_waiting", {"name": "Günel"})


def test_status_reports_map_to_delivery_states() -> None:
    assert parse_status(fixture("status_sent.txt")).delivery_status == "sent"
    assert parse_status(fixture("status_sent.txt", MessageStatus="queued")).delivery_status \
        is None
    read = parse_status(fixture("status_read.txt"))
    assert read.delivery_status == "read" and read.channels[0] == "whatsapp"
    failed = parse_status(fixture("status_failed.txt"))
    assert failed.delivery_status == "failed"
    assert failed.error == f"63016: {ERROR_REASONS[63016]}"
    with pytest.raises(PayloadError):
        parse_status(fixture("status_sent.txt", MessageStatus="exploded"))


@pytest.mark.parametrize(("status", "code", "kind", "reason"), [
    (500, None, TransientSendError, None),
    (503, 20500, TransientSendError, None),
    (429, 20429, TransientSendError, None),
    (400, 21211, PermanentSendError, "invalid 'To' phone number"),
    (400, 21610, PermanentSendError, "unsubscribed"),
    (400, 63016, PermanentSendError, "24-hour window"),
    (400, 21408, PermanentSendError, "not enabled"),
    (400, 21999, PermanentSendError, "Something new"),
])
def test_rest_errors_are_classified(status: int, code: int | None, kind: type, reason) -> None:
    error = send_error(status, code, "Something new")
    assert isinstance(error, kind)
    if reason:
        assert reason in error.reason and error.code == str(code)


def test_unknown_codes_keep_a_readable_fallback() -> None:
    assert error_reason("30003") == ERROR_REASONS[30003]
    assert error_reason("99999") == "Twilio error 99999"
    assert error_reason(None) == "unknown error"


@pytest.mark.parametrize(("signed", "checked"), [
    ("https://cc.example.gov.az/webhooks/twilio/messaging",
     "https://cc.example.gov.az:443/webhooks/twilio/messaging"),
    ("https://cc.example.gov.az:443/webhooks/twilio/messaging",
     "https://cc.example.gov.az/webhooks/twilio/messaging"),
    ("http://127.0.0.1/webhooks/twilio/messaging", "http://127.0.0.1:80/webhooks/twilio/messaging"),
])
def test_signatures_hold_with_and_without_the_default_port(signed: str, checked: str) -> None:
    form = fixture("sms_inbound.txt")
    assert signature_valid(AUTH_TOKEN, checked, form, sign(signed, form))
    assert not signature_valid(AUTH_TOKEN, checked, form, sign(signed, form, token="other"))
    assert not signature_valid(AUTH_TOKEN, checked, {**form, "Body": "x"}, sign(signed, form))
    assert not signature_valid(AUTH_TOKEN, checked, form, None)


def test_the_api_base_rewrites_only_twilios_api_origin() -> None:
    base = "http://127.0.0.1:9999/"
    assert rewrite_api_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
                           base) == "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Messages.json"
    assert rewrite_api_url("https://api.twilio.com.evil.test/x", base) == \
        "https://api.twilio.com.evil.test/x"


# --- reconciliation: pure ------------------------------------------------------------------

SMS_FROM = "+994125550142"
RESIDENT = "+994501234567"


def sms_part(body: str) -> dict[str, str]:
    return {"to": RESIDENT, "from_": SMS_FROM, "status_callback": STATUS_URL, "body": body}


def listed(sid: str, body: str, at: datetime = NOW + timedelta(seconds=3), *, to: str = RESIDENT,
           from_: str = SMS_FROM, service: str | None = None) -> ListedMessage:
    return ListedMessage(sid=sid, to=to, from_=from_, messaging_service_sid=service, body=body,
                         direction="outbound-api", date_created=at, status="sent")


def test_reconcile_takes_the_parts_twilio_holds_and_resumes_at_the_first_missing() -> None:
    parts = [sms_part("birinci hissə"), sms_part("ikinci hissə"), sms_part("üçüncü hissə")]
    held = [listed("SM2", "ikinci hissə"), listed("SM1", "birinci hissə")]   # newest first
    result = reconcile(parts, held, NOW, taken=set())
    assert [m.sid for m in result.found] == ["SM1", "SM2"] and result.doubt is None
    assert reconcile(parts, [], NOW, taken=set()).found == ()


@pytest.mark.parametrize("copy", [
    listed("SM9", "Salam", to="+994551112233"),                             # another resident
    listed("SM9", "Salam", from_="+994125550000"),                          # another sender
    listed("SM9", "Salam!"),                                                # another text
    listed("SM9", "Salam", NOW - RECONCILE_CLOCK_SKEW - timedelta(seconds=1)),   # before it
    ListedMessage("SM9", RESIDENT, SMS_FROM, None, "Salam", "inbound", NOW),     # the resident's
])
def test_reconcile_ignores_what_is_not_a_copy_of_the_part(copy: ListedMessage) -> None:
    assert reconcile([sms_part("Salam")], [copy], NOW, taken=set()).found == ()


def test_reconcile_ignores_messages_other_sends_account_for() -> None:
    held = [listed("SM1", "Salam")]
    assert reconcile([sms_part("Salam")], held, NOW, taken={"SM1"}).found == ()


def test_two_candidates_for_a_part_are_doubt_not_a_guess() -> None:
    held = [listed("SM1", "Salam"), listed("SM2", "Salam")]
    result = reconcile([sms_part("Salam")], held, NOW, taken=set())
    assert result.found == () and "2 identical messages" in result.doubt


def test_a_later_part_without_the_earlier_one_is_doubt() -> None:
    parts = [sms_part("birinci"), sms_part("ikinci")]
    result = reconcile(parts, [listed("SM2", "ikinci")], NOW, taken=set())
    assert result.found == () and "part 1" in result.doubt


def test_a_template_send_is_matched_without_its_text_twilio_renders() -> None:
    template = {"to": "whatsapp:" + RESIDENT, "from_": "whatsapp:" + SMS_FROM,
                "content_sid": "HX01", "content_variables": "{}"}
    held = [listed("SM1", "Hörmətli Günel, ...", to="whatsapp:" + RESIDENT,
                   from_="whatsapp:" + SMS_FROM)]
    assert [m.sid for m in reconcile([template], held, NOW, taken=set()).found] == ["SM1"]


def test_a_messaging_service_send_is_matched_on_the_service() -> None:
    request = {"to": RESIDENT, "messaging_service_sid": "MG01", "body": "Salam"}
    assert reconcile([request], [listed("SM1", "Salam", from_="+99412", service="MG01")],
                     NOW, taken=set()).found != ()
    assert reconcile([request], [listed("SM1", "Salam", service="MG02")],
                     NOW, taken=set()).found == ()


# --- through the real app and database -----------------------------------------------------


@pytest.fixture
async def fake_twilio(aiohttp_server, monkeypatch) -> FakeTwilio:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    monkeypatch.setenv("TWILIO_API_BASE", str(server.make_url("")).rstrip("/"))
    return fake


@pytest.fixture
async def client(environment, config, monkeypatch, aiohttp_client):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


async def post(client, url: str, form: dict[str, str], signature: str | None = "sign"):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = sign(url, form)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    body = io.BytesIO(urlencode(form).encode())   # a stream: large bodies too, without warnings
    response = await client.post(url.removeprefix(PUBLIC_URL), data=body, headers=headers)
    # Twilio is answered once the message is journalled; the inbox takes it in right after.
    await client.app[INTAKE].settled()
    return response


async def all_messages(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        result = await tx.conn.execute(select(messages).order_by(messages.c.id))
        return [dict(row._mapping) for row in result]


async def inbound(ctx) -> list[dict]:
    return [m for m in await all_messages(ctx) if m["direction"] == "in"]


async def test_signed_sms_is_stored_once_however_often_twilio_retries(client, ctx) -> None:
    form = fixture("sms_inbound.txt")
    for _ in range(3):
        response = await post(client, MESSAGING_URL, form)
        assert response.status == 200
        assert response.content_type == "text/xml"
        assert await response.text() == EMPTY_TWIML
    [message] = await inbound(ctx)
    assert message["channel"] == "sms" and message["external_id"] == form["MessageSid"]
    assert message["body"] == form["Body"] and message["delivery_status"] == "received"
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(message["conversation_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
    assert conversation["channel"] == "sms" and identity["address"] == "+994501234567"


async def test_metrics_show_webhooks_and_the_intake_backlog(client, ctx, monkeypatch) -> None:
    release = asyncio.Event()
    store_many = intake_module.store_many

    async def held_store_many(*args, **kwargs):
        await release.wait()
        return await store_many(*args, **kwargs)

    monkeypatch.setattr(intake_module, "store_many", held_store_many)
    form = fixture("sms_inbound.txt")
    response = await client.post(MESSAGING_URL.removeprefix(PUBLIC_URL), data=form, headers={
        "X-Twilio-Signature": sign(MESSAGING_URL, form)})
    assert response.status == 200                 # answered, not yet in the inbox
    await asyncio.sleep(0.05)
    held = await (await client.get("/metrics")).text()
    assert "cc_intake_backlog 1.0" in held
    [lag] = [line for line in held.splitlines() if line.startswith("cc_intake_lag_seconds ")]
    assert float(lag.split()[1]) >= 0.05
    release.set()
    await client.app[INTAKE].settled()
    text = await (await client.get("/metrics")).text()
    assert 'cc_http_requests_total{method="POST",route="/webhooks/twilio/messaging",' \
           'status="200"}' in text
    assert "cc_intake_backlog 0.0" in text        # settled: everything is in the inbox
    assert "cc_intake_lag_seconds 0.0" in text


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl", "wrong-url"])
async def test_bad_or_missing_signature_is_403_and_stores_nothing(client, ctx, signature) -> None:
    form = fixture("sms_inbound.txt")
    if signature == "wrong-url":
        signature = sign("http://evil.test/webhooks/twilio/messaging", form)
    response = await post(client, MESSAGING_URL, form, signature=signature)
    assert response.status == 403
    assert "X-Twilio-Signature" in (await response.json())["error"]
    assert await all_messages(ctx) == []


async def test_without_an_auth_token_webhooks_refuse_with_503(client, ctx, monkeypatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    response = await post(client, MESSAGING_URL, fixture("sms_inbound.txt"))
    assert response.status == 503
    assert "TWILIO_AUTH_TOKEN" in (await response.json())["error"]
    assert await all_messages(ctx) == []


@pytest.mark.parametrize(("changes", "error"), [
    ({"From": ""}, "From is missing"),
    ({"MessageSid": ""}, "MessageSid is missing"),
    ({"NumMedia": "many"}, "NumMedia"),
    ({"From": "+99412"}, "valid phone number"),
])
async def test_malformed_signed_form_is_400_and_stores_nothing(client, ctx, changes,
                                                               error) -> None:
    response = await post(client, MESSAGING_URL, fixture("sms_inbound.txt", **changes))
    assert response.status == 400
    assert error in (await response.json())["error"]
    assert await all_messages(ctx) == []


async def test_a_body_over_the_limit_is_413_and_stores_nothing(client, ctx, config) -> None:
    form = fixture("sms_inbound.txt", Body="x" * (config.limits.max_body_bytes + 1))
    response = await post(client, MESSAGING_URL, form)
    assert response.status == 413
    assert "error" in await response.json()
    assert await all_messages(ctx) == []


async def test_when_the_message_cannot_be_committed_twilio_gets_a_500_to_retry(
        client, ctx, monkeypatch) -> None:
    async def unavailable(entries):
        raise OSError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(client.app[CONTEXT].store, "journal", unavailable)
        response = await post(client, MESSAGING_URL, fixture("sms_inbound.txt"))
    assert response.status == 500
    assert (await response.json()) == {"error": "internal error", "code": "internal_error"}
    assert await all_messages(ctx) == []
    # Twilio's retry, once the database is back, is taken in as usual.
    assert (await post(client, MESSAGING_URL, fixture("sms_inbound.txt"))).status == 200
    assert len(await inbound(ctx)) == 1


async def test_whatsapp_message_opens_a_whatsapp_conversation_with_the_profile_name(
        client, ctx) -> None:
    assert (await post(client, MESSAGING_URL, fixture("whatsapp_inbound.txt"))).status == 200
    [message] = await inbound(ctx)
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(message["conversation_id"])
        contact = await tx.contacts.get(conversation["contact_id"])
    assert message["channel"] == conversation["channel"] == "whatsapp"
    assert contact["name"] == "Günel Əliyeva"


async def test_whatsapp_media_are_stored_as_attachments(client, ctx) -> None:
    form = fixture("whatsapp_media.txt")
    assert (await post(client, MESSAGING_URL, form)).status == 200
    [message] = await inbound(ctx)
    # Twilio's URLs are where the media job fetches them; `url` waits until they are ours.
    assert message["attachments"] == [
        {"content_type": "image/jpeg", "filename": None, "size": None,
         "source_url": form["MediaUrl0"], "url": None},
        {"content_type": "application/pdf", "filename": None, "size": None,
         "source_url": form["MediaUrl1"], "url": None},
    ]


# --- sending through the real twilio client ------------------------------------------------


async def acknowledgement(client, ctx, name: str = "sms_inbound.txt") -> dict:
    """Receive a resident's message; the queued acknowledgement is the outbound message."""
    assert (await post(client, MESSAGING_URL, fixture(name))).status == 200
    [ack] = [m for m in await all_messages(ctx) if m["direction"] == "out"]
    assert ack["delivery_status"] == "queued"
    return ack


async def message_row(ctx, message_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.messages.get(message_id)


async def test_delivery_sends_the_exact_twilio_request(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    [request] = fake_twilio.requests
    assert request.account_sid == ACCOUNT_SID
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.fields() == {"To": "+994501234567", "From": "+994125550142",
                                "Body": ack["body"], "StatusCallback": STATUS_URL}
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "sent" and row["external_id"] == fake_twilio.sids[0]
    assert await deliver_message(ctx, ack["id"]) == "skipped"
    assert len(fake_twilio.requests) == 1


async def test_whatsapp_reply_goes_to_the_whatsapp_address(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx, "whatsapp_inbound.txt")
    assert await deliver_message(ctx, ack["id"]) == "sent"
    [request] = fake_twilio.requests
    assert request.field("To") == "whatsapp:+994501234567"
    assert request.field("From") == "whatsapp:+994125550142"


async def test_a_long_sms_goes_out_in_parts(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    long_body = " ".join(["Hörmətli vətəndaş, müraciətiniz qeydə alındı."] * 80)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(ack["id"], body=long_body)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    bodies = [r.field("Body") for r in fake_twilio.requests]
    assert bodies == split_text(long_body, SMS_MAX_CHARS) and len(bodies) == 3
    assert (await message_row(ctx, ack["id"]))["external_id"] == fake_twilio.sids[0]


async def test_a_template_send_uses_the_content_api_fields(client, ctx, config,
                                                           fake_twilio) -> None:
    ack = await acknowledgement(client, ctx, "whatsapp_inbound.txt")
    extra = template_extra(whatsapp_templates(config.channels.section("twilio"))["reply_waiting"],
                           "reply_waiting",
                           {"name": "Günel", "conversation": "17"})
    message = OutboundMessage(message_id=ack["id"], conversation_id=ack["conversation_id"],
                              channel="whatsapp",
                              address="+994501234567", body="", language="az",
                              created_at=NOW, extra=extra)
    result = await WHATSAPP_CHANNEL.send(ctx, message)
    [request] = fake_twilio.requests
    assert request.fields() == {"To": "whatsapp:+994501234567", "From": "whatsapp:+994125550142",
                                "StatusCallback": STATUS_URL,
                                "ContentSid": "HX0123456789abcdef0123456789abcdef",
                                "ContentVariables": '{"1": "Günel", "2": "17"}'}
    assert result.external_id == fake_twilio.sids[0]


async def parts_recorded(ctx, message_id: int) -> list[str]:
    async with ctx.store.read() as tx:
        return await tx.messages.parts_of(message_id)


async def expire_lease(ctx, message_id: int) -> None:
    """As if the worker holding the send died long enough ago for the sweep to re-drive it."""
    long_ago = utcnow() - timedelta(seconds=ctx.config.outbox.lease_s + 1)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(message_id, claimed_at=long_ago)


async def killed_mid_send(ctx, fake_twilio, message_id: int, *, accept_first: bool,
                          skip: int = 0) -> None:
    """Run the send until Twilio holds its request open, then stop it dead (nothing after
    the held request runs, as when the worker is killed), and let its lease run out."""
    hold = fake_twilio.hold_next(accept_first=accept_first, skip=skip)
    send = asyncio.create_task(deliver_message(ctx, message_id))
    await asyncio.wait_for(hold.entered.wait(), 10)
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await send
    assert (await message_row(ctx, message_id))["delivery_status"] == "sending"
    await expire_lease(ctx, message_id)


@pytest.mark.parametrize("accept_first", [True, False], ids=["accepted", "not-accepted"])
async def test_a_send_cut_short_reaches_the_resident_once(client, ctx, fake_twilio,
                                                          accept_first) -> None:
    ack = await acknowledgement(client, ctx)
    await killed_mid_send(ctx, fake_twilio, ack["id"], accept_first=accept_first)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    [sms] = fake_twilio.messages           # what Twilio holds: one message to the resident
    assert (sms["to"], sms["from"], sms["body"]) == (RESIDENT, SMS_FROM, ack["body"])
    assert len(fake_twilio.requests) == (1 if accept_first else 2)
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "sent" and row["attempts"] == 2
    assert row["external_id"] == sms["sid"]
    assert await parts_recorded(ctx, ack["id"]) == [sms["sid"]]
    [query] = fake_twilio.list_requests    # asked Twilio once, for this resident since then
    assert query["To"] == RESIDENT and query["From"] == SMS_FROM
    since = datetime.strptime(query["DateSent>"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert since <= ack["created_at"].replace(tzinfo=UTC) - RECONCILE_CLOCK_SKEW + \
        timedelta(seconds=1)


async def test_asking_twilio_logs_no_phone_number(client, ctx, fake_twilio, caplog) -> None:
    ack = await acknowledgement(client, ctx)
    await killed_mid_send(ctx, fake_twilio, ack["id"], accept_first=True)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert await deliver_message(ctx, ack["id"]) == "sent"
    ours = "\n".join(r.getMessage() for r in caplog.records
                     if r.name != "aiohttp.access")          # the fake Twilio server's log
    assert fake_twilio.list_requests and ours
    assert RESIDENT.lstrip("+") not in ours and SMS_FROM.lstrip("+") not in ours


async def test_a_long_reply_cut_short_resumes_at_the_first_part_not_accepted(
        client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    long_body = " ".join(["Hörmətli vətəndaş, müraciətiniz qeydə alındı."] * 80)
    parts = split_text(long_body, SMS_MAX_CHARS)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(ack["id"], body=long_body)
    # Part 1 goes out; Twilio accepts part 2 and the worker dies before hearing so.
    await killed_mid_send(ctx, fake_twilio, ack["id"], accept_first=True, skip=1)
    assert len(await parts_recorded(ctx, ack["id"])) == 1
    assert await deliver_message(ctx, ack["id"]) == "sent"
    assert [m["body"] for m in fake_twilio.messages] == parts and len(parts) == 3
    assert [r.field("Body") for r in fake_twilio.requests] == parts   # no part sent twice
    assert await parts_recorded(ctx, ack["id"]) == [m["sid"] for m in fake_twilio.messages]
    assert (await message_row(ctx, ack["id"]))["external_id"] == fake_twilio.messages[0]["sid"]


async def test_a_failed_later_part_is_retried_from_that_part(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    long_body = " ".join(["Hörmətli vətəndaş, müraciətiniz qeydə alındı."] * 80)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(ack["id"], body=long_body)
    fake_twilio.fail_next(503, skip=1)          # part 1 goes out, part 2 meets trouble
    assert await deliver_message(ctx, ack["id"]) == "retry"
    assert len(await parts_recorded(ctx, ack["id"])) == 1
    assert await deliver_message(ctx, ack["id"]) == "sent"
    assert [m["body"] for m in fake_twilio.messages] == split_text(long_body, SMS_MAX_CHARS)


async def test_doubt_fails_the_send_with_a_reason_and_sends_nothing(client, ctx,
                                                                    fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    for _ in range(2):   # two identical copies already at Twilio, neither accounted for
        fake_twilio.add_message(RESIDENT, SMS_FROM, ack["body"], utcnow())
    assert await outbox.claim(ctx, ack["id"]) is not None     # an attempt that died
    await expire_lease(ctx, ack["id"])
    assert await deliver_message(ctx, ack["id"]) == "failed"
    assert fake_twilio.requests == []
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "failed"
    assert row["delivery_error"].startswith("not sent again: Twilio holds 2 identical messages")
    async with ctx.store.read() as tx:
        events = [e["type"] for e in await tx.events.of_conversation(ack["conversation_id"])]
    assert events.count("delivery_failed") == 1


async def test_an_identical_text_another_send_accounts_for_is_not_taken(client, ctx,
                                                                        fake_twilio) -> None:
    first = await acknowledgement(client, ctx)
    assert await deliver_message(ctx, first["id"]) == "sent"
    async with ctx.store.transaction() as tx:    # the same words again, in a new message
        conversation = await tx.conversations.get(first["conversation_id"])
        again = await outbox.queue_message(tx, conversation, first["body"], author_kind="system")
    await killed_mid_send(ctx, fake_twilio, again, accept_first=False)
    assert await deliver_message(ctx, again) == "sent"
    assert [m["body"] for m in fake_twilio.messages] == [first["body"]] * 2
    assert (await message_row(ctx, again))["external_id"] == fake_twilio.messages[1]["sid"]


async def test_reconciliation_pages_through_twilios_list(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    await killed_mid_send(ctx, fake_twilio, ack["id"], accept_first=True)
    for n in range(120):     # newer messages to the same resident push it to the third page
        fake_twilio.add_message(RESIDENT, SMS_FROM, f"başqa mesaj {n}",
                                utcnow() + timedelta(seconds=1))
    assert await deliver_message(ctx, ack["id"]) == "sent"
    assert len(fake_twilio.requests) == 1
    assert [q.get("Page", "0") for q in fake_twilio.list_requests] == ["0", "1", "2"]


async def test_when_twilio_cannot_be_asked_nothing_is_sent_until_it_can(client, ctx,
                                                                        fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    await killed_mid_send(ctx, fake_twilio, ack["id"], accept_first=True)
    fake_twilio.fail_next(503)              # the list call: Twilio has trouble
    assert await deliver_message(ctx, ack["id"]) == "retry"
    assert len(fake_twilio.messages) == 1 and len(fake_twilio.requests) == 1
    assert await deliver_message(ctx, ack["id"]) == "sent"
    assert len(fake_twilio.messages) == 1 and len(fake_twilio.requests) == 1


async def test_a_server_error_puts_the_message_back_in_the_queue(client, ctx,
                                                                 fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    fake_twilio.fail_next(503)
    assert await deliver_message(ctx, ack["id"]) == "retry"
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "queued" and "503" in row["delivery_error"]
    assert await deliver_message(ctx, ack["id"]) == "sent"


async def test_an_invalid_number_fails_the_message_with_the_reason(client, ctx,
                                                                   fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    fake_twilio.fail_next(400, 21211, "The 'To' number +994501234567 is not a valid phone number.")
    assert await deliver_message(ctx, ack["id"]) == "failed"
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "failed"
    assert row["delivery_error"] == "21211: invalid 'To' phone number"


async def test_wrong_credentials_fail_with_a_reason_an_operator_can_act_on(
        client, ctx, fake_twilio, monkeypatch) -> None:
    ack = await acknowledgement(client, ctx)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
    assert await deliver_message(ctx, ack["id"]) == "failed"
    assert (await message_row(ctx, ack["id"]))["delivery_error"].startswith("20003: ")


async def test_an_unreachable_twilio_is_a_transient_error(client, ctx, monkeypatch) -> None:
    ack = await acknowledgement(client, ctx)
    monkeypatch.setenv("TWILIO_API_BASE", "http://127.0.0.1:9")   # nothing listens there
    assert await deliver_message(ctx, ack["id"]) == "retry"
    assert "could not be reached" in (await message_row(ctx, ack["id"]))["delivery_error"]


# --- status callbacks ----------------------------------------------------------------------


async def sent_ack(client, ctx, fake_twilio, name: str = "sms_inbound.txt") -> tuple[dict, str]:
    ack = await acknowledgement(client, ctx, name)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    return ack, fake_twilio.sids[-1]


async def report(client, name: str, sid: str, **changes: str):
    response = await post(client, STATUS_URL, fixture(name, MessageSid=sid, SmsSid=sid,
                                                      **changes))
    assert response.status == 200
    return response


async def test_status_moves_forward_only_whatever_the_order(client, ctx, fake_twilio) -> None:
    ack, sid = await sent_ack(client, ctx, fake_twilio, "whatsapp_inbound.txt")
    await report(client, "status_read.txt", sid)
    await report(client, "status_delivered.txt", sid, To="whatsapp:+994501234567")
    await report(client, "status_sent.txt", sid, To="whatsapp:+994501234567")
    assert (await message_row(ctx, ack["id"]))["delivery_status"] == "read"
    await report(client, "status_failed.txt", sid)            # too late to matter
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "read" and row["delivery_error"] is None


async def test_delivered_then_read(client, ctx, fake_twilio) -> None:
    ack, sid = await sent_ack(client, ctx, fake_twilio)
    await report(client, "status_delivered.txt", sid)
    assert (await message_row(ctx, ack["id"]))["delivery_status"] == "delivered"


async def test_undelivered_marks_the_message_failed_with_the_code(client, ctx,
                                                                  fake_twilio) -> None:
    ack, sid = await sent_ack(client, ctx, fake_twilio)
    await report(client, "status_undelivered.txt", sid)
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "failed"
    assert row["delivery_error"] == f"30003: {ERROR_REASONS[30003]}"
    async with ctx.store.read() as tx:
        events = [e["type"] for e in await tx.events.of_conversation(ack["conversation_id"])]
    assert events.count("delivery_failed") == 1


async def test_a_status_for_an_unknown_sid_is_200_and_changes_nothing(client, ctx) -> None:
    response = await report(client, "status_delivered.txt", "SM" + "0" * 32)
    assert await response.text() == ""
    assert await inbound(ctx) == []


async def test_a_status_signed_wrongly_is_403(client, ctx, fake_twilio) -> None:
    ack, sid = await sent_ack(client, ctx, fake_twilio)
    form = fixture("status_delivered.txt", MessageSid=sid)
    response = await post(client, STATUS_URL, form, signature=sign(MESSAGING_URL, form))
    assert response.status == 403
    assert (await message_row(ctx, ack["id"]))["delivery_status"] == "sent"


async def test_a_status_that_beats_the_send_job_is_applied_when_the_sid_is_recorded(
        client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    sid = "SM" + "ab" * 16
    fake_twilio.next_sids.append(sid)
    await report(client, "status_delivered.txt", sid)          # before the job has the sid
    assert await deliver_message(ctx, ack["id"]) == "sent"
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "delivered" and row["external_id"] == sid


async def test_an_early_failure_fails_the_send(client, ctx, fake_twilio) -> None:
    ack = await acknowledgement(client, ctx)
    sid = "SM" + "cd" * 16
    fake_twilio.next_sids.append(sid)
    await report(client, "status_undelivered.txt", sid)
    assert await deliver_message(ctx, ack["id"]) == "failed"
    row = await message_row(ctx, ack["id"])
    assert row["delivery_status"] == "failed"
    assert row["delivery_error"] == f"30003: {ERROR_REASONS[30003]}"
