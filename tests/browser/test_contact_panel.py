"""Who the resident is, in a real browser against the real system: the name a resident types
in the chat page reaches the agent's console, the agent corrects it, and a FIN typed by a
second chat visitor is only a possible match until the agent confirms it."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.context import open_context
from tests.browser.conftest import AGENT, Resident, sign_in
from tests.web.test_api import seed

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp")
NAME = "Rəşad Quliyev"
TEXT = "Salam! Reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm, nə etməliyəm?"
FIN = "7QX3M9P"


async def test_the_name_typed_in_the_chat_reaches_the_agent(system, open_page):
    agent = await open_page()
    console = agent.page
    await sign_in(agent, system.base_url, AGENT)

    resident = await open_page(420, 720)
    chat = resident.page
    await chat.goto(system.base_url + "/chat?lang=az")
    await chat.locator("#status", has_text="Qoşuldu").wait_for()
    # The page has said hello by now, before the resident typed a name in the pre-chat form.
    await chat.fill("#name", NAME)
    # Out of business hours (or with nobody of the chat's queue online) the form asks for a
    # number to answer on.
    if await chat.locator("#phone").is_visible():
        await chat.fill("#phone", "+994 50 765 43 21")
    await chat.check("#consent")
    await chat.click("#prechat button[type=submit]")
    await chat.fill("#text", TEXT)
    await chat.press("#text", "Enter")
    await chat.locator("#messages li.in[data-message-id]", has_text=TEXT).wait_for()
    await chat.screenshot(path=str(SHOTS / "chat-name.png"))

    row = console.locator("#conversation-list .conv-row", has_text=NAME)
    await row.wait_for()
    await row.click()
    await console.locator("#conv-name", has_text=NAME).wait_for()
    await console.locator("#contact-pane #contact-name", has_text=NAME).wait_for()
    await console.screenshot(path=str(SHOTS / "console-chat-name.png"))

    # The agent corrects the name; the list, the header and the timeline follow.
    corrected = "Rəşad Quliyev-Həsənli"
    await console.click("#contact-name-edit")
    await console.fill("#contact-name-input", corrected)
    await console.click("#contact-name-save")
    await console.locator("#contact-pane #contact-name", has_text=corrected).wait_for()
    await console.locator("#conv-name", has_text=corrected).wait_for()
    await console.locator("#conversation-list .conv-row", has_text=corrected).wait_for()
    await console.locator("#thread .event-contact_renamed",
                          has_text=f"to “{corrected}” by You").wait_for()
    await console.screenshot(path=str(SHOTS / "console-contact-renamed.png"))
    assert agent.errors == [] and resident.errors == [] and agent.dialogs == []


async def test_a_typed_fin_is_a_possible_match_the_agent_confirms(system, open_page, http):
    owner = Resident(http, system.base_url, "Günel Əliyeva")
    await owner.say(f"Salam, pensiyam gecikir. FIN {FIN}")
    visitor = Resident(http, system.base_url, "Qonaq")
    await visitor.say(f"Salam, mənim FIN {FIN}, məlumatlarımı göstərin")

    agent = await open_page()
    console = agent.page
    await sign_in(agent, system.base_url, AGENT)
    await console.locator("#conversation-list .conv-row", has_text="Qonaq").click()
    pane = console.locator("#contact-pane")
    match = pane.locator(".match")
    await match.wait_for()
    # Not joined: the visitor's contact has only its own chat, and the match is masked.
    assert await pane.locator(".identities li").count() == 1
    assert await pane.locator(".history li").count() == 1
    assert "Same FIN 7QX****" in await match.text_content()
    assert "Günel Əliyeva" in await match.text_content()
    assert FIN not in await pane.text_content()
    await console.screenshot(path=str(SHOTS / "console-possible-match.png"))

    await match.locator(".match-confirm").click()
    # The later contact (the visitor's) joined the resident's earlier one.
    await pane.locator("#contact-name", has_text="Günel Əliyeva").wait_for()
    await pane.locator(".history li").nth(1).wait_for()
    await pane.locator(".identities li").nth(1).wait_for()   # the pane redraws its lists
    assert await pane.locator(".identities li").count() == 2
    assert await pane.locator(".match").count() == 0
    await console.locator("#thread .event-contacts_merged", has_text="by You").wait_for()
    await console.screenshot(path=str(SHOTS / "console-match-confirmed.png"))
    assert agent.errors == [] and agent.dialogs == []
    await owner.close()
    await visitor.close()


async def test_a_language_nobody_set_shows_what_the_conversation_was_detected_in(system,
                                                                                   open_page):
    # An SMS: the carrier says nothing of the resident's language, the classifier found az.
    ctx = open_context(pool=False)     # the system's database: the environment points at it
    try:
        sms = await seed(ctx, queue="call-centre-142", text="Salam, pensiyam gecikir",
                         name="Əli Həsənov", channel="sms", phone="+994557654321",
                         category="inquiry", language="az")
        async with ctx.store.transaction() as tx:
            await tx.contacts.update(sms.contact_id, language=None)
    finally:
        await ctx.close()
    agent = await open_page()
    console = agent.page
    await sign_in(agent, system.base_url, AGENT)
    await console.locator("#conversation-list .conv-row", has_text="Əli Həsənov").click()
    chosen = console.locator("#contact-pane #contact-language option:checked")
    await chosen.wait_for(state="attached")
    assert await chosen.text_content() == "Not set (detected: Azerbaijani)"
    assert await chosen.get_attribute("value") == ""
    assert agent.errors == []
