"""A resident's history and why their conversation was routed, in a real browser against the
real system: from the contact panel the agent opens the resident's whole history across
channels, grouped by conversation under each channel, with times written in the agent's
language and older messages a page at a time; and why the conversation was routed (a rule's
conditions) and assigned (the queue's strategy, the language) reads in the agent's language
(Azerbaijani here), not in the inbox's English."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from inbox.context import open_context
from tests.browser.conftest import AGENT, Resident, sign_in
from tests.web.test_api import seed

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"
NAME = "Aysel Qasımova"
PHONE = "+994501234567"
CHAT = "Salam! Reintegrasiya proqramında qeydiyyat üçün hansı sənədlər lazımdır?"
SMS = "Pensiya kartım itib, yenisini necə ala bilərəm?"
BAKU = ZoneInfo("Asia/Baku")
PAGE = 50      # web/api.py TIMELINE_PAGE


async def test_the_contact_history_shows_every_channel_a_page_at_a_time(system, open_page):
    # Within the hour and a half: older, the SLA sweep would have escalated them elsewhere.
    ctx = open_context(pool=False)     # the system's database: the environment points at it
    try:
        chat = await seed(ctx, queue="migration-registration", text=CHAT, name=NAME,
                          phone=PHONE, age=timedelta(minutes=90))
        sms = await seed(ctx, queue="call-centre-142", text=SMS, name=NAME, channel="sms",
                         phone=PHONE, contact=chat, category="inquiry", age=timedelta(minutes=60))
        # A long history: the SMS conversation's later messages fill the first page, so the
        # chat is only reached by reading further back.
        async with ctx.store.transaction() as tx:
            for n in range(1, PAGE):
                await tx.messages.insert(
                    conversation_id=sms.id, channel="sms", direction="in",
                    body=f"Əlavə sual {n}", external_id=f"history:{n}", author_kind="resident",
                    created_at=sms.at + timedelta(seconds=n), delivery_status="received")
    finally:
        await ctx.close()

    agent = await open_page()
    console = agent.page
    await sign_in(agent, system.base_url, AGENT)
    await console.locator("#conversation-list .conv-row", has_text=NAME).first.click()
    await console.locator("#contact-pane #contact-name", has_text=NAME).wait_for()
    await console.click("#contact-timeline-open")
    dialog = console.locator("#timeline-dialog[open]")
    await dialog.wait_for()
    assert await console.text_content("#timeline-title") == f"{NAME}: history on every channel"
    groups = dialog.locator(".timeline-group")
    await groups.first.wait_for()
    assert [await g.get_attribute("data-channel") for g in await groups.all()] == ["sms"]
    assert await dialog.locator(".timeline-msg").count() == PAGE
    first_sms = dialog.locator(".timeline-msg", has_text=SMS)
    at = sms.at.astimezone(BAKU)
    month = at.strftime("%B")      # English month names: the console is in English here
    assert await first_sms.locator("time").text_content() == \
        f"{at.day} {month} {at.year}, {at:%H:%M}"
    head = groups.first.locator(".timeline-head")
    assert await head.locator(".timeline-channel").text_content() == "SMS"
    assert f"#{sms.id} · Inquiry" in await head.text_content()

    await console.click("#timeline-earlier")
    await dialog.locator(".timeline-msg", has_text=CHAT).wait_for()
    assert [await g.get_attribute("data-channel") for g in await groups.all()] == \
        ["webchat", "sms"]
    assert await console.locator("#timeline-earlier").is_hidden()
    chat_head = groups.first.locator(".timeline-head")
    assert await chat_head.locator(".timeline-channel").text_content() == "Web chat"
    assert await chat_head.locator(".ch-icon").get_attribute("title") == "Web chat"
    assert f"#{chat.id} · Registration" in await chat_head.text_content()
    await console.evaluate("document.getElementById('timeline-list').scrollTop = 0")
    await console.screenshot(path=str(ARTIFACTS / "console-contact-history.png"))

    # A conversation of the history opens in the console.
    await groups.first.locator(".timeline-open").click()
    await console.locator("#timeline-dialog:not([open])").wait_for(state="attached")
    await console.locator("#thread .msg-in .msg-body", has_text=CHAT).wait_for()
    assert agent.errors == [] and agent.dialogs == []


async def test_the_routing_reason_reads_in_the_agents_language(system, open_page, http):
    agent = await open_page()
    console = agent.page
    await sign_in(agent, system.base_url, AGENT)
    await console.select_option("#ui-language", "az")          # saved on the agent's account
    await console.locator("html[lang=az]").wait_for(state="attached")
    await console.locator('#live-state[data-state="live"]').wait_for()
    # Online, so the 142 line (least busy first) gives the agent the conversation at once.
    await console.click('#presence button[data-presence="online"]')
    await console.locator('#presence[data-presence="online"]').wait_for()

    resident = Resident(http, system.base_url, "Elnur Həsənov")
    await resident.say("Salam, pensiya kartım itib, yenisini necə ala bilərəm?")
    await console.locator("#conversation-list .conv-row", has_text="Elnur Həsənov").click()
    routed = console.locator("#thread .event-routed")
    await routed.wait_for()
    text = await routed.locator(".event-text").text_content()
    # Rule 3 of the test configuration: the keyword "pensiya" sends it to the 142 line.
    assert text.startswith("Növbəyə yönləndirildi: ")
    assert "qayda 3: açar söz «pensiya»" in text, text
    assert "rule" not in text and "keyword" not in text
    assert await routed.locator("[lang=en]").count() == 0
    # And why it was given to this agent: the least busy, speaking the resident's language;
    # or, when going online took a moment longer than the resident's message, the agent's own
    # room for the next in line (both are said in Azerbaijani).
    assigned = console.locator("#thread .event-assigned")
    await assigned.wait_for()
    text = await assigned.locator(".event-text").text_content()
    if text != "Təyin edildi: Siz — növbəti üçün yeri var idi":
        assert text.startswith("Təyin edildi: Siz — ən az yüklüdür (0/"), text
        assert text.endswith("); dil: Azərbaycan dili"), text
    assert await assigned.locator("[lang=en]").count() == 0
    await console.screenshot(path=str(ARTIFACTS / "console-routing-reason-az.png"))
    assert agent.errors == [] and agent.dialogs == []
    await resident.close()
