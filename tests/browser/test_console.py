"""The agent console, wall-board and reports pages in a real browser against the real system:
live updates without reload, replying with a canned response, delivery status, resolving,
shortcuts, and residents' text that stays inert text. With Twilio configured: WhatsApp
messages through the signed webhook, the 24-hour window and its templates, a phone call from
the menu to the voicemail player; and an e-mail's HTML shown inert in a sandboxed frame."""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
import struct
import time
import wave
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from inbox import sla
from inbox.context import open_context
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    TWILIO_AUTH_TOKEN,
    Resident,
    sign_in,
)
from tests.channels.twilio.test_messaging import FIXTURES

pytestmark = pytest.mark.e2e

RESIDENT = "Rəşad Quliyev"
FIRST_TEXT = "Salam! Reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm, nə etməliyəm?"


async def _agent_reply(resident: Resident, timeout: float = 15) -> dict:
    """The next message an agent wrote, skipping the automatic acknowledgement."""
    deadline = time.monotonic() + timeout
    while True:
        message = await resident.next_reply(max(deadline - time.monotonic(), 0.1))
        if message["author"]["kind"] == "agent":
            return message


async def test_sign_in_rejects_a_wrong_password(system, open_page, http):
    async with http.get(system.base_url + "/console/canned") as response:
        assert response.status == 401
    watched = await open_page()
    page = watched.page
    await page.goto(system.base_url + "/console")
    await page.wait_for_url("**/console/login?next=/console")
    await page.fill("#login-email", AGENT[0])
    await page.fill("#login-password", "not-the-password")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert await page.text_content("#login-error") == "Wrong e-mail or password."
    await page.fill("#login-password", AGENT[1])
    await page.click("#login-submit")
    await page.wait_for_url(system.base_url + "/console")
    assert await page.text_content("#me-name") == AGENT[2]
    canned = await page.evaluate("fetch('/console/canned').then(r => r.json())")
    assert {"reintegration-documents", "dost-hours", "pension-status", "esosial-password",
            "call-142"} <= {entry["id"] for entry in canned["responses"]}
    assert all(set(entry["texts"]) == {"az", "ru", "en"} for entry in canned["responses"])
    # Agents have no wall-board: the page says so instead of showing figures.
    response = await page.goto(system.base_url + "/wallboard")
    assert response.status == 403
    assert "Supervisors only" in await page.text_content("h1")
    assert watched.errors == []


async def test_live_message_reply_with_canned_response_and_resolve(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.evaluate("window.__sameDocument = true")

    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(FIRST_TEXT)
    row = page.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await row.wait_for()
    assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert await row.locator(".ch-icon").get_attribute("title") == "Web chat"
    assert await row.locator(".badge").count() == 1

    await row.click()
    thread = page.locator("#thread")
    await thread.locator(".msg-in .msg-body", has_text=FIRST_TEXT).wait_for()
    conversation_id = int(await row.get_attribute("data-id"))
    await page.locator("#contact-pane h3", has_text=RESIDENT).wait_for()

    await page.click("#canned-open")
    await page.fill("#canned-search", "reintegration")
    await page.press("#canned-search", "Enter")
    composed = await page.input_value("#composer-text")
    assert composed.startswith(f"Hörmətli {RESIDENT}, reintegrasiya proqramında")
    assert f"Müraciət nömrəniz: {conversation_id}." in composed
    assert "{" not in composed

    await page.press("#composer-text", "Control+Enter")
    reply = thread.locator(".msg-out", has_text="reintegrasiya proqramında ilkin qeydiyyat")
    await reply.wait_for()
    assert await page.input_value("#composer-text") == ""
    delivered = await _agent_reply(resident)
    assert delivered["body"] == composed
    # The worker sends it and the console shows how far it got, without a reload.
    progressed = re.compile("^(Sent|Delivered|Read)$")
    await reply.locator(".delivery-label", has_text=progressed).wait_for()
    assert await reply.locator(".msg-author").text_content() == "You"

    await page.click("#thread")
    await page.keyboard.press("e")
    await page.locator("#conv-status", has_text="Resolved").wait_for()
    await thread.locator(".event-resolved", has_text="Resolved by You").wait_for()
    await page.locator("#act-reopen").wait_for()
    await page.screenshot(path="/tmp/console.png")
    assert await page.evaluate("window.__sameDocument") is True
    assert watched.errors == [] and watched.dialogs == []
    await resident.close()


async def test_private_note_take_next_and_shortcuts(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.click("#take-next")
    await page.locator(".toast", has_text="Nothing waiting").wait_for()

    first, second = Resident(http, system.base_url, "Aygün Əliyeva"), \
        Resident(http, system.base_url, "Тимур Ахмедов")
    await first.say("Pensiyam bu ay gəlməyib, nə vaxt köçürüləcək?")
    await page.locator(".conv-row", has_text="Aygün Əliyeva").wait_for()
    await second.say("Здравствуйте, как восстановить пароль на e-sosial.az?", language="ru")
    await page.locator(".conv-row", has_text="Тимур Ахмедов").wait_for()

    names = await page.locator(".conv-row .row-name").all_text_contents()
    assert names == ["Тимур Ахмедов", "Aygün Əliyeva"]   # newest activity first
    await page.keyboard.press("j")
    await page.locator("#conv-name", has_text="Тимур Ахмедов").wait_for()
    await page.keyboard.press("j")
    await page.locator("#conv-name", has_text="Aygün Əliyeva").wait_for()
    await page.keyboard.press("k")
    await page.locator("#conv-name", has_text="Тимур Ахмедов").wait_for()

    await page.keyboard.press("n")
    assert await page.get_attribute("#composer", "data-mode") == "note"
    assert await page.evaluate("document.activeElement.id") == "composer-text"
    await page.keyboard.type("Проверить номер телефона в e-sosial")
    await page.keyboard.press("Control+Enter")
    note = page.locator("#thread .msg-note", has_text="Проверить номер телефона")
    await note.wait_for()
    assert await note.locator(".note-tag").text_content() == "Internal note"
    assert await note.locator(".delivery").count() == 0

    await page.keyboard.press("Escape")
    await page.keyboard.press("?")
    await page.locator("#help-dialog[open]").wait_for()
    await page.keyboard.press("Escape")
    await page.locator("#help-dialog:not([open])").wait_for(state="attached")
    assert watched.errors == [] and watched.dialogs == []
    await first.close()
    await second.close()


async def test_wallboard_waiting_moves_live(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, SUPERVISOR, start="/wallboard")
    await page.locator("#total-waiting", has_text="0").wait_for()
    await page.locator("#queue-tiles .tile").first.wait_for()
    assert await page.locator("#board-agents").is_visible()
    assert AGENT[2] in await page.text_content("#agent-rows")

    resident = Resident(http, system.base_url, "Nigar Səfərova")
    await resident.say("Salam, DOST mərkəzi şənbə günü işləyir?")
    sent = time.monotonic()
    # Sooner than the 10-second refresh: the live event moved it.
    await page.locator("#total-waiting", has_text="1").wait_for(timeout=6000)
    assert time.monotonic() - sent < 6
    tile = page.locator('.tile:has([data-role="waiting"]:text-is("1"))')
    assert await tile.count() == 1
    await page.screenshot(path="/tmp/wallboard.png")
    assert watched.errors == []
    await resident.close()


async def test_reports_page_draws_table_and_charts(system, open_page, http):
    resident = Resident(http, system.base_url, "Kamran Həsənov")
    await resident.say("Vətəndaşlıq üçün hansı sənədlər lazımdır?")
    async with http.post(f"{system.base_url}/api/v1/auth/login",
                         json={"email": AGENT[0], "password": AGENT[1]}) as response:
        auth = {"Authorization": f"Bearer {(await response.json())['token']}"}
    async with http.get(f"{system.base_url}/api/v1/conversations", headers=auth) as response:
        conversation_id = (await response.json())["items"][0]["id"]
    async with http.post(f"{system.base_url}/api/v1/conversations/{conversation_id}/messages",
                         json={"body": "Salam, sənədlərin siyahısını göndərirəm."},
                         headers=auth) as response:
        assert response.status == 201
    async with http.put(f"{system.base_url}/api/v1/conversations/{conversation_id}/tags",
                        json={"tags": ["citizenship"]}, headers=auth) as response:
        assert response.status == 200

    supervisor = await bearer(http, system, SUPERVISOR)

    async def answered() -> int:
        # Reports read facts the worker refreshes every few seconds from the event log: the
        # page is opened once they count the answer, as a supervisor would see it then.
        async with http.get(f"{system.base_url}/api/v1/reports/summary?group_by=channel",
                            headers=supervisor) as response:
            assert response.status == 200
            return sum(row["answered"] for row in await response.json())

    await until(answered, timeout=30)
    watched = await open_page()
    page = watched.page
    await sign_in_without_stream(watched, system.base_url)
    await page.locator("#report-rows tr td.num").first.wait_for()
    rows = await page.locator("#report-rows tr").count()
    assert rows >= 1
    await page.locator("#chart-first-response svg").wait_for()
    await page.locator("#chart-volumes svg").wait_for()
    csv_url = await page.get_attribute("#report-csv", "href")
    assert "format=csv" in csv_url and "group_by=channel" in csv_url
    csv_text = await page.evaluate(
        "url => fetch(url, {credentials: 'same-origin'}).then(r => r.text())", csv_url)
    assert csv_text.splitlines()[0].startswith("key,")
    await page.select_option("#report-group", "queue")
    await page.locator("#report-key-head", has_text="Queue").wait_for()
    # By tag: each row named as the tag reads in the reader's language.
    await page.select_option("#report-group", "tag")
    await page.locator("#report-key-head", has_text="Tag").wait_for()
    await page.locator("#report-rows tr", has_text="Citizenship").wait_for()
    await page.screenshot(path="/tmp/reports.png", full_page=True)
    assert watched.errors == []
    await resident.close()


async def sign_in_without_stream(watched, base_url: str) -> None:
    """The reports page holds no live stream, so it is ready when its form is."""
    page = watched.page
    await page.goto(base_url + "/reports")
    await page.fill("#login-email", SUPERVISOR[0])
    await page.fill("#login-password", SUPERVISOR[1])
    await page.click("#login-submit")
    await page.wait_for_url(base_url + "/reports")


async def test_hostile_text_from_a_resident_stays_inert(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    hostile_name = '<img src=x onerror="window.__pwned=1;alert(1)">'
    hostile_text = ("<script>window.__pwned = 2; alert('script')</script>"
                    '<img src=x onerror="window.__pwned=3;alert(document.cookie)"> pensiya')
    resident = Resident(http, system.base_url, hostile_name)
    await resident.say(hostile_text)
    row = page.locator(".conv-row", has_text="onerror")
    await row.wait_for()
    assert await row.locator(".row-name").text_content() == hostile_name
    await row.click()
    body = page.locator("#thread .msg-in .msg-body")
    await body.wait_for()
    assert await body.text_content() == hostile_text
    assert await page.text_content("#conv-name") == hostile_name
    await page.locator("#contact-pane h3").wait_for()
    assert await page.text_content("#contact-pane h3") == hostile_name
    await page.wait_for_timeout(500)
    for scope in ("#thread", "#conversation-list", "#contact-pane", "#conv-name"):
        assert await page.locator(f"{scope} img[src='x'], {scope} script").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert watched.dialogs == []
    assert watched.errors == []
    await resident.close()


# --- Twilio channels, e-mail HTML ----------------------------------------------------------

WHATSAPP_NAME = "Günel Əliyeva"     # the ProfileName of whatsapp_inbound.txt


def twilio_form(name: str, **changes: str) -> dict[str, str]:
    """A captured Twilio webhook form (tests/fixtures/twilio) with some fields changed."""
    form = dict(parse_qsl((FIXTURES / name).read_text().strip(), keep_blank_values=True))
    form.update(changes)
    return form


async def post_signed(http, url: str, form: dict[str, str]) -> str:
    """POST the form to `url` as Twilio would, signed over that URL; the answer's text."""
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signature}
    async with http.post(url, data=urlencode(form), headers=headers) as response:
        text = await response.text()
        assert response.status == 200, text
        return text


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


async def whatsapp_message(http, system, **changes: str) -> str:
    message_sid = sid("SM")
    await post_signed(http, system.base_url + "/webhooks/twilio/messaging",
                      twilio_form("whatsapp_inbound.txt", MessageSid=message_sid,
                                  SmsMessageSid=message_sid, SmsSid=message_sid, **changes))
    return message_sid


async def bearer(http, system, who=AGENT) -> dict[str, str]:
    async with http.post(f"{system.base_url}/api/v1/auth/login",
                         json={"email": who[0], "password": who[1]}) as response:
        return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def conversation_json(http, system, auth, conversation_id: int) -> dict:
    async with http.get(f"{system.base_url}/api/v1/conversations/{conversation_id}",
                        headers=auth) as response:
        assert response.status == 200
        return await response.json()


async def until(check, timeout: float = 10):
    """Poll an async check until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.2)


async def test_whatsapp_message_arrives_live_through_the_signed_webhook(
        twilio_system, twilio, open_page, http):
    system = twilio_system
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.evaluate("window.__sameDocument = true")

    await whatsapp_message(http, system)
    row = page.locator("#conversation-list .conv-row", has_text=WHATSAPP_NAME)
    await row.wait_for()
    assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert await row.locator(".ch-icon").get_attribute("title") == "WhatsApp"
    assert await row.locator(".sla-dot").get_attribute("data-sla") == "ok"
    assert await row.locator(".row-assignee").text_content() == "Unassigned"

    # Then a photo and a document: the photo is fetched, the document Twilio no longer has.
    twilio.fake.media["ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"] = (PIXEL_PNG, "image/png")
    media_sid = sid("MM")
    await post_signed(http, system.base_url + "/webhooks/twilio/messaging",
                      twilio_form("whatsapp_media.txt", MessageSid=media_sid,
                                  SmsMessageSid=media_sid, SmsSid=media_sid,
                                  ProfileName=WHATSAPP_NAME, WaId="994501234567",
                                  From="whatsapp:+994501234567"))
    conversation_id = int(await row.get_attribute("data-id"))
    auth = await bearer(http, system)

    async def media_settled():
        messages = (await conversation_json(http, system, auth, conversation_id))["messages"]
        attachments = [a for m in messages for a in m["attachments"]]
        return len(attachments) == 2 and all(a["url"] or a["error"] for a in attachments)

    await until(media_settled)
    await row.click()
    thread = page.locator("#thread")
    await thread.locator(".msg-in .msg-body", has_text="зарегистрироваться").wait_for()
    await thread.locator(".attachment-image img").wait_for()
    failed = thread.locator(".attachment-error")
    await failed.wait_for()
    assert "Twilio answered 404" in await failed.text_content()
    assert await failed.locator("a").count() == 0

    # Transfer: a picker of the queue's agents by name, with their presence.
    await page.click("#act-transfer")
    await page.locator("#transfer-dialog[open]").wait_for()
    options = page.locator("#transfer-agents .agent-option")
    await options.filter(has_text=SUPERVISOR[2]).wait_for()
    assert AGENT[2] + " (you)" in await page.text_content("#transfer-agents")
    assert await options.filter(has_text=AGENT[2]).locator(".presence-dot").text_content() in (
        "Online", "Away", "Offline")
    await page.screenshot(path="/tmp/console-transfer.png")
    await options.filter(has_text=SUPERVISOR[2]).click()
    await page.click("#transfer-submit")
    await page.locator(".toast", has_text=f"Transferred to {SUPERVISOR[2]}").wait_for()
    await page.locator("#conv-meta", has_text=f"Assignee: {SUPERVISOR[2]}").wait_for()
    await row.locator(".row-assignee", has_text=SUPERVISOR[2]).wait_for()
    await page.screenshot(path="/tmp/console-whatsapp.png")
    assert watched.errors == [] and watched.dialogs == []


async def test_whatsapp_after_the_window_sends_a_template(twilio_system, twilio, open_page,
                                                           http):
    system = twilio_system
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await whatsapp_message(http, system)
    row = page.locator("#conversation-list .conv-row", has_text=WHATSAPP_NAME)
    await row.wait_for()
    conversation_id = int(await row.get_attribute("data-id"))
    ctx = open_context(pool=False)     # the system's database: the environment points at it
    try:
        async with ctx.store.transaction() as tx:
            await tx.conversations.update(conversation_id,
                                         last_inbound_at=utcnow() - timedelta(days=2))
    finally:
        await ctx.close()

    await row.click()
    await page.locator("#template-open").wait_for()
    await page.fill("#composer-text", "Salam, sənədləriniz hazırdır.")
    await page.press("#composer-text", "Control+Enter")
    notice = page.locator("#composer-notice")
    await notice.wait_for()
    assert "24 hours" in await notice.text_content()
    dialog = page.locator("#template-dialog[open]")
    await dialog.wait_for()
    assert "24 hours" in await page.text_content("#template-reason")
    assert await page.input_value("#composer-text") == "Salam, sənədləriniz hazırdır."
    # The approved templates by name (the result notices' among them): the answer's own.
    await page.select_option("#template-name", "reply_waiting")
    assert await page.input_value('#template-vars input[data-variable="name"]') == WHATSAPP_NAME
    assert await page.input_value('#template-vars input[data-variable="conversation"]') == \
        str(conversation_id)
    expected = (f"Hörmətli {WHATSAPP_NAME}, {conversation_id} nömrəli müraciətiniz üzrə cavab "
                "hazırdır. Yazmaq üçün bu mesaja cavab verin.")
    assert await page.text_content("#template-preview") == expected
    await page.screenshot(path="/tmp/console-template.png")
    await page.click("#template-send")
    sent = page.locator("#thread .msg-out", has_text=expected)
    await sent.wait_for()
    await page.locator("#template-dialog:not([open])").wait_for(state="attached")
    assert await page.locator("#composer-notice").is_hidden()
    # The worker sent it as the approved template through (the stand-in for) Twilio.
    await sent.locator(".delivery-label", has_text=re.compile("^(Sent|Delivered|Read)$")).wait_for()
    [request] = [r for r in twilio.fake.requests if r.field("ContentSid")]
    assert request.field("ContentSid") == "HX0123456789abcdef0123456789abcdef"
    assert watched.errors == [] and watched.dialogs == []


async def test_an_emails_html_is_shown_inert_in_a_sandboxed_frame(system, open_page):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    html = ('<p>Hörmətli mərkəz, <b>şəxsiyyət vəsiqəmin</b> surəti əlavədədir.</p>'
            '<script>window.__pwned = 1; alert("script")</script>'
            '<img src="x" onerror="window.__pwned = 2; alert(\'img\')">'
            '<svg onload="window.__pwned = 3"></svg>'
            '<a href="javascript:window.__pwned = 4; alert(\'link\')">bax</a>'
            '<p onclick="window.__pwned = 5">Təşəkkürlər</p>')
    plain = "Hörmətli mərkəz, şəxsiyyət vəsiqəmin surəti əlavədədir. Təşəkkürlər"
    ctx = open_context(pool=False)
    try:
        await ingest(ctx, InboundMessage(
            channel="sms", external_id=sid("SM"), address="+994502223344", text=plain,
            received_at=utcnow(), html=html, display_name="Orxan Nəbiyev", phone="+994502223344"))
    finally:
        await ctx.close()
    row = page.locator(".conv-row:has(.ch-sms)")
    await row.wait_for()
    await row.click()
    frame_element = page.locator("#thread iframe.email-frame")
    await frame_element.wait_for()
    sandbox = await frame_element.get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    srcdoc = await frame_element.get_attribute("srcdoc")
    assert ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'style-src \'unsafe-inline\'">') in srcdoc
    frame = page.frame_locator("#thread iframe.email-frame")
    await frame.locator("p", has_text="surəti əlavədədir").wait_for()
    assert await frame.locator("b", has_text="şəxsiyyət vəsiqəmin").is_visible()
    assert await frame.locator("script").count() == 0
    assert await frame.locator("[onerror], [onload], [onclick], a[href^='javascript']").count() == 0
    [inner] = [f for f in page.frames if f.url == "about:srcdoc"]
    assert await inner.evaluate("typeof window.__pwned") == "undefined"
    # The frame's own stylesheet is allowed by the page's policy (its hash), nothing else is.
    assert await frame.locator("body").evaluate("b => getComputedStyle(b).fontSize") == "14px"
    await frame.locator("a", has_text="bax").click()
    await page.wait_for_timeout(300)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await inner.evaluate("typeof window.__pwned") == "undefined"
    assert len(page.context.pages) == 1
    await page.screenshot(path="/tmp/console-email.png")

    await page.click("#thread .msg-toggle")
    body = page.locator("#thread .msg-plain")
    await body.wait_for()
    assert await body.text_content() == plain
    assert await frame_element.is_hidden()
    await page.click("#thread .msg-toggle")
    await frame_element.wait_for()
    assert watched.dialogs == [] and watched.errors == []


def silence_wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(struct.pack("<h", 0) * int(8000 * seconds))
    return out.getvalue()


def gather_action(twiml: str) -> str:
    return next(ET.fromstring(twiml).iter("Gather")).get("action")


async def test_a_phone_call_shows_its_timeline_and_voicemail_player(twilio_system, twilio,
                                                                     open_page, http):
    system = twilio_system
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    call_sid, recording_sid = sid("CA"), sid("RE")
    twilio.recordings[recording_sid] = (silence_wav(), "audio/wav")
    call = {"CallSid": call_sid}
    voice = system.base_url + "/webhooks/twilio/voice"
    # The menu: Russian (2), then support (2). Nobody has a voice address: voicemail.
    twiml = await post_signed(http, voice, twilio_form("voice_incoming.txt", **call))
    twiml = await post_signed(http, gather_action(twiml),
                              twilio_form("voice_gather.txt", Digits="2", **call))
    twiml = await post_signed(http, gather_action(twiml),
                              twilio_form("voice_gather.txt", Digits="2", **call))
    record = next(ET.fromstring(twiml).iter("Record"))
    transcription = next(ET.fromstring(twiml).iter("Transcription")).get("statusCallbackUrl")
    recording_url = (f"https://api.twilio.com/2010-04-01/Accounts/"
                     f"{twilio.fake.account_sid}/Recordings/{recording_sid}")
    recorded = {**call, "RecordingSid": recording_sid, "RecordingUrl": recording_url}
    await post_signed(http, record.get("recordingStatusCallback"),
                      twilio_form("voice_recording.txt", **recorded))
    for sequence, words in ((2, "Здравствуйте, я вернулся из Германии."),
                            (3, "Пособие не пришло, перезвоните мне.")):
        data = json.dumps({"transcript": words, "confidence": 0.9}, ensure_ascii=False)
        await post_signed(http, transcription, twilio_form(
            "voice_transcription_content.txt", SequenceId=str(sequence), LanguageCode="ru-RU",
            TranscriptionData=data, **call))
    await post_signed(http, record.get("action"), twilio_form("voice_gather.txt", **call))
    await post_signed(http, transcription,
                      twilio_form("voice_transcription_stopped.txt", SequenceId="4", **call))
    await post_signed(http, voice + "/status",
                      twilio_form("voice_status_completed.txt", CallDuration="192", **call))
    # A second call from the same number that nobody answered: Twilio's "no-answer".
    await post_signed(http, voice + "/status",
                      twilio_form("voice_status_no_answer.txt", CallSid=sid("CA")))

    row = page.locator(".conv-row:has(.ch-voice)")
    await row.wait_for()
    conversation_id = int(await row.get_attribute("data-id"))
    auth = await bearer(http, system)

    async def recording_fetched():
        messages = (await conversation_json(http, system, auth, conversation_id))["messages"]
        return any(a["url"] for m in messages for a in m["attachments"])

    await until(recording_fetched)
    await row.click()
    thread = page.locator("#thread")
    await thread.locator(".msg-call", has_text="Phone call").nth(1).wait_for()   # both calls
    await thread.locator(".msg-body", has_text="я вернулся из Германии. Пособие").wait_for()
    timeline = [text.strip() for text in
                await thread.locator(".event-voice .event-text").all_text_contents()]
    assert timeline[:2] == ["Call started", "Chose Russian · Support"]
    assert timeline[2] in ("Missed: no agent free", "Missed: outside business hours")
    assert "Call ended after 3 min 12 s" in timeline
    assert any(t.startswith("Callback requested · ") for t in timeline)
    assert "Voicemail transcribed" in timeline
    assert "Missed: no answer" in timeline and "Call ended after 0 s (no answer)" in timeline
    player = thread.locator("audio[controls]")
    await player.wait_for()
    assert await player.get_attribute("preload") == "none"
    src = await player.get_attribute("src")
    assert re.fullmatch(re.escape(system.base_url) + r"/api/v1/messages/\d+/attachments/0", src)
    fetched = await page.evaluate(
        "url => fetch(url).then(r => [r.status, r.headers.get('Content-Type')])", src)
    assert fetched == [200, "audio/wav"]
    await page.screenshot(path="/tmp/console-voice.png")
    assert watched.errors == [] and watched.dialogs == []


async def test_a_breached_sla_turns_the_row_red_and_tells_the_supervisor(system, open_page,
                                                                        http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, SUPERVISOR)
    resident = Resident(http, system.base_url, "Səbinə Rzayeva")
    await resident.say("Salam, yaşayış icazəmin müddəti bitir, nə etməliyəm?")
    row = page.locator(".conv-row", has_text="Səbinə Rzayeva")
    await row.wait_for()
    assert await row.locator(".sla-dot").get_attribute("data-sla") == "ok"
    conversation_id = int(await row.get_attribute("data-id"))
    ctx = open_context(pool=False)
    try:
        async with ctx.store.transaction() as tx:
            await tx.conversations.update(conversation_id,
                                         created_at=utcnow() - timedelta(days=3),
                                         sla_due_at=utcnow() - timedelta(days=1))
        await sla.sweep(ctx)
        # This sweep or the running worker's, whichever took its turn at the database first.
        async with ctx.store.read() as tx:
            assert (await tx.conversations.get(conversation_id))["sla_state"] == "breached"
    finally:
        await ctx.close()
    await page.locator(".toast-error",
                       has_text=f"SLA breached: #{conversation_id} Səbinə Rzayeva").wait_for()
    dot = row.locator('.sla-dot[data-sla="breached"]')
    await dot.wait_for()
    assert (await dot.get_attribute("title")).startswith("First response SLA breached · was due")
    await page.screenshot(path="/tmp/console-sla.png")
    assert watched.errors == [] and watched.dialogs == []
    await resident.close()


# A 1x1 PNG, as a photo a resident sent.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201d1a8a8a30000000049454e44ae426082")
