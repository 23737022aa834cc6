"""The console's transfer dialog and its top bar in a real browser against the real system: an
agent of one queue may send a conversation to any queue, sees who is offline or full before
choosing them, and an error goes away once a new choice is made; at 800 px the top bar still
offers "Sign out" and long queue names stay readable; a report range typed backwards is
explained in the page."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from inbox import presence
from inbox.context import open_context
from tests.browser.conftest import Resident, sign_in
from tests.browser.test_console import FIRST_TEXT, sign_in_without_stream

pytestmark = pytest.mark.e2e

SECOND_TEXT = "Salam, vətəndaşlıq üçün ilkin qeydiyyatdan keçmək istəyirəm."
# Agents of the registration queue only ("email" names them in the console).
AYSEL = ("aysel.quliyeva@example.gov.az", "nar-çiçəyi-2026")
RAUF = ("rauf.offline@example.gov.az", "heç-vaxt-girmir-1")
KAMALA = ("kamala.full@example.gov.az", "dolu-növbə-77")


async def test_transfer_offers_every_queue_warns_about_absent_or_full_agents_and_clears_errors(
        system, open_page, http, config):
    for email, password in (AYSEL, RAUF, KAMALA):
        system.add_user(email, "agent", "migration-registration", password)
    first = Resident(http, system.base_url, "Rəşad Quliyev")
    second = Resident(http, system.base_url, "Günay Abbasova")
    await first.say(FIRST_TEXT)
    await second.say(SECOND_TEXT)
    # Kamala is online with room for one chat, and has it: she is full.
    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            kamala = await tx.users.by_email(KAMALA[0])
            waiting = await tx.conversations.waiting_in(["migration-registration"])
        assert len(waiting) == 2
        taken = next(c for c in waiting if c["id"] != min(w["id"] for w in waiting))
        async with ctx.store.transaction() as tx:
            await tx.users.update(kamala["id"], presence="online", capacity={"chat": 1})
            await tx.conversations.update(taken["id"], assignee_id=kamala["id"], status="open")
        await presence.console_seen(ctx.redis, kamala["id"], "browser-test",
                                    presence.API_PRESENCE_TTL_S)
    finally:
        await ctx.close()

    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, system.base_url, (*AYSEL, AYSEL[0].split("@")[0]))
    row = page.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev")
    await row.click()
    await page.locator("#thread .msg-in", has_text=FIRST_TEXT).wait_for()

    await page.click("#act-transfer")
    dialog = page.locator("#transfer-dialog[open]")
    await dialog.wait_for()
    options = page.locator("#transfer-agents .agent-option")
    await options.filter(has_text="kamala.full").wait_for()
    # Every queue of the deployment, though Aysel works only one of them.
    values = await page.eval_on_selector_all("#transfer-queue option", "os => os.map(o => o.value)")
    assert values == list(config.queue_ids)
    assert await page.input_value("#transfer-queue") == "migration-registration"
    warning = page.locator("#transfer-warning")
    assert await warning.is_hidden()

    full = options.filter(has_text="kamala.full")
    assert (await full.locator(".agent-load").text_content()).strip() == "Full 1/1"
    await full.click()
    await expect(warning).to_be_visible()
    assert "kamala.full is full (1 of 1 chats open)" in await warning.text_content()
    await page.screenshot(path="/tmp/console-transfer-full.png")

    offline = options.filter(has_text="rauf.offline")
    assert await offline.locator(".presence-dot").text_content() == "Offline"
    await offline.click()
    await expect(warning).to_contain_text("rauf.offline is offline")
    await page.screenshot(path="/tmp/console-transfer-offline.png")

    # "Anyone" in the same queue is no transfer: an error, gone at the next choice.
    error = page.locator("#transfer-error")
    await options.filter(has_text="Anyone in the queue").click()
    await expect(warning).to_be_hidden()
    await page.click("#transfer-submit")
    await expect(error).to_have_text("Choose another queue or an agent.")
    await offline.click()
    await expect(error).to_be_hidden()
    await options.filter(has_text="Anyone in the queue").click()
    await page.click("#transfer-submit")
    await expect(error).to_be_visible()
    await page.select_option("#transfer-queue", "call-centre-142")
    await expect(error).to_be_hidden()
    await page.screenshot(path="/tmp/console-transfer-queue.png")

    # Sent to a queue she does not work: it leaves her list and her screen.
    await page.click("#transfer-submit")
    await page.locator(".toast", has_text="Transferred to 142 Call Centre").wait_for()
    await expect(row).to_have_count(0)
    await expect(page.locator("#empty-state")).to_be_visible()
    assert watched.errors == [] and watched.dialogs == []
    await first.close()
    await second.close()


async def test_at_800_px_the_top_bar_keeps_sign_out_and_queue_names_stay_readable(
        system, open_page, http, config):
    resident = Resident(http, system.base_url, "Rəşad Quliyev")
    await resident.say(FIRST_TEXT)
    long_name = config.queue("migration-registration").label("en")   # an English console
    for width in (800, 1280):
        watched = await open_page(width, 760)
        page = watched.page
        await sign_in(watched, system.base_url, ("elvin.huseynov@example.gov.az",
                                                 "nar-və-heyva-17", "Elvin Hüseynov"))
        row = page.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev")
        await row.click()
        await page.locator("#conv-meta .meta-queue").wait_for()
        await page.screenshot(path=f"/tmp/console-{width}.png")
        sign_out = page.locator("#logout")
        box = await sign_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        # The queue's whole name: in the row and the header, shown or on hover.
        queue_in_row = row.locator(".row-queue")
        assert long_name in (await queue_in_row.text_content()
                             + (await queue_in_row.get_attribute("title") or ""))
        assert (await queue_in_row.bounding_box())["width"] >= 120
        meta = page.locator("#conv-meta .meta-queue")
        assert long_name in (await meta.text_content() + (await meta.get_attribute("title") or ""))
        if width == 800:
            await sign_out.click()
            await page.wait_for_url("**/console/login**")
        assert watched.errors == []
        await page.context.close()
    await resident.close()


async def test_a_report_range_typed_backwards_is_explained_in_the_page(system, open_page):
    watched = await open_page(1280, 900)
    page = watched.page
    await sign_in_without_stream(watched, system.base_url)
    await page.locator("#report-rows tr").first.wait_for()
    await page.fill("#report-from", "2026-03-20")
    await page.fill("#report-to", "2026-03-10")
    await page.click("#report-form button[type=submit]")
    notice = page.locator("#report-notice")
    await expect(notice).to_have_text("The start date (20 March 2026) is after the end date "
                                      "(10 March 2026). Choose a start on or before the end.")
    await expect(page.locator("#report-rows")).to_have_text("No report for a backwards range.")
    await expect(page.locator("#chart-volumes")).to_have_text("No data.")
    assert await page.get_attribute("#report-csv", "href") is None
    await page.screenshot(path="/tmp/reports-backwards.png", full_page=True)
    # Put right, the report comes back and the notice goes.
    await page.fill("#report-from", "2026-03-01")
    await page.click("#report-form button[type=submit]")
    await expect(notice).to_be_hidden()
    await page.locator("#chart-volumes svg").wait_for()
    assert "format=csv" in await page.get_attribute("#report-csv", "href")
    assert watched.errors == [] and watched.dialogs == []
