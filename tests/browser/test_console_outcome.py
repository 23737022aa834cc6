"""A case's outcome in the console, in a real browser against the real system: the agent
picks a kind (the reason and centre fields follow it), records "documents ready" at a DOST
centre from the bar under the conversation's header, and sees it listed with its notice
pending and in the timeline."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import AGENT, Resident, sign_in
from tests.browser.test_console import FIRST_TEXT

pytestmark = pytest.mark.e2e


async def test_an_outcome_is_recorded_from_the_bar_and_listed(system, open_page, http):
    resident = Resident(http, system.base_url, "Nərmin Qasımova")
    await resident.say(FIRST_TEXT)
    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.locator("#conversation-list .conv-row", has_text="Nərmin Qasımova").click()
    await page.locator("#thread .msg-in", has_text=FIRST_TEXT).wait_for()
    bar = page.locator("#outcome-bar")
    await expect(bar).to_be_visible()

    await page.select_option("#outcome-kind", "rejected")
    await expect(page.locator("#outcome-reason")).to_be_visible()
    await page.select_option("#outcome-kind", "pickup")
    await expect(page.locator("#outcome-centre")).to_be_visible()
    await page.select_option("#outcome-centre", "baku-2")
    await page.click("#outcome-submit")
    outcome = page.locator("#outcome-list .outcome").first
    await expect(outcome).to_contain_text("Baku DOST Centre No. 2")
    await expect(outcome.locator(".outcome-state")).to_have_text("Notice pending")
    await page.locator("#thread .event-outcome_recorded").wait_for()
