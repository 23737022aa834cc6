"""Tags and wrap-up codes in the console, in a real browser against the real system: an agent
of the escalations queue (which config resolves only with a wrap-up code) is told why a
conversation does not resolve, adds a code from the list, sees it as a chip and in the
timeline, and then resolves it; removing a tag takes it off again. The top bar's away reason
reaches the agent's presence."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from inbox.context import open_context
from tests.browser.conftest import Resident, sign_in
from tests.browser.test_console import FIRST_TEXT

pytestmark = pytest.mark.e2e

SENIOR = ("sevinc.senior@example.gov.az", "yekun-kodu-vacibdir-9")


async def test_a_wrap_up_code_is_asked_for_added_and_then_the_conversation_resolves(
        system, open_page, http):
    system.add_user(SENIOR[0], "agent", "escalations", SENIOR[1])
    resident = Resident(http, system.base_url, "Tural Məmmədov")
    await resident.say(FIRST_TEXT)
    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            senior = await tx.users.by_email(SENIOR[0])
            [waiting] = await tx.conversations.waiting_in(["migration-registration"])
        async with ctx.store.transaction() as tx:      # the SLA sweep escalated it to her
            await tx.conversations.update(waiting["id"], queue="escalations", status="open",
                                          assignee_id=senior["id"])
    finally:
        await ctx.close()

    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, system.base_url, (*SENIOR, SENIOR[0].split("@")[0]))
    await page.locator("#conversation-list .conv-row", has_text="Tural Məmmədov").click()
    await page.locator("#thread .msg-in", has_text=FIRST_TEXT).wait_for()
    hint = page.locator("#tag-wrap-up-hint")
    await expect(hint).to_be_visible()
    assert await hint.text_content() == "Choose a wrap-up code to resolve"

    await page.click("#act-resolve")
    await expect(page.locator("#toasts .toast-error")).to_have_text(
        "This queue's conversations are resolved with a wrap-up code: choose one first.")
    await expect(page.locator("#conv-status")).not_to_have_text("Resolved")

    # The list offers topics and wrap-up codes in two groups, by their English labels here.
    groups = await page.eval_on_selector_all("#tag-select optgroup", "gs => gs.map(g => g.label)")
    assert groups == ["Topics", "Wrap-up codes"]
    await page.select_option("#tag-select", "citizenship")
    await page.click("#tag-form button[type=submit]")
    await page.locator("#conv-tags .tag[data-tag=citizenship]").wait_for()
    await expect(hint).to_be_visible()                  # a topic is not a wrap-up code
    await page.select_option("#tag-select", "documents-ready")
    await page.click("#tag-form button[type=submit]")
    chip = page.locator("#conv-tags .tag-wrap-up[data-tag=documents-ready]")
    await expect(chip).to_contain_text("Documents ready")
    await expect(hint).to_be_hidden()
    await expect(page.locator("#thread .event-tagged").last).to_contain_text(
        "Tagged Documents ready")
    await page.screenshot(path="/tmp/console-tags.png")

    await page.get_by_role("button", name="Remove the tag “Citizenship”").click()
    await expect(page.locator("#conv-tags .tag[data-tag=citizenship]")).to_have_count(0)
    await page.click("#act-resolve")
    await expect(page.locator("#conv-status")).to_have_text("Resolved")

    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            stored = await tx.conversations.get(waiting["id"])
    finally:
        await ctx.close()
    assert (stored["status"], stored["tags"]) == ("resolved", ["documents-ready"])


async def test_an_agent_goes_away_for_a_reason_from_the_top_bar(system, open_page):
    system.add_user(SENIOR[0], "agent", "escalations", SENIOR[1])
    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, system.base_url, (*SENIOR, SENIOR[0].split("@")[0]))
    reasons = page.locator("#away-reason")
    await page.click("#presence button[data-presence=away]")
    await expect(reasons).to_be_visible()
    await page.select_option("#away-reason", "training")
    ctx = open_context(pool=False)
    try:
        for _ in range(50):
            async with ctx.store.read() as tx:
                user = await tx.users.by_email(SENIOR[0])
            if user["presence_reason"] == "training":
                break
            await page.wait_for_timeout(100)
    finally:
        await ctx.close()
    assert (user["presence"], user["presence_reason"]) == ("away", "training")
    await page.click("#presence button[data-presence=online]")
    await expect(reasons).to_be_hidden()


async def test_an_agent_sets_the_residents_language_and_preferred_channel(system, open_page,
                                                                          http):
    system.add_user(SENIOR[0], "agent", "migration-registration", SENIOR[1])
    resident = Resident(http, system.base_url, "Tural Məmmədov")
    await resident.say(FIRST_TEXT)
    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, system.base_url, (*SENIOR, SENIOR[0].split("@")[0]))
    await page.locator("#conversation-list .conv-row", has_text="Tural Məmmədov").click()
    language = page.locator("#contact-language")
    await expect(language).to_have_value("az")
    await page.select_option("#contact-language", "ru")
    await expect(page.locator("#thread .event-contact_updated")).to_have_count(1)
    await page.select_option("#contact-preferred-channel", "webchat")
    await expect(page.locator("#thread .event-contact_updated")).to_have_count(2)
    await expect(page.locator("#contact-preferred-channel")).to_have_value("webchat")
    await page.screenshot(path="/tmp/console-contact-preferences.png")
    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            [contact] = [c for c in [await tx.contacts.get(1)] if c is not None]
    finally:
        await ctx.close()
    assert (contact["language"], contact["preferred_channel"]) == ("ru", "webchat")
