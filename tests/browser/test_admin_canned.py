"""Canned responses from the admins' page to a resident, in a real browser against the real
system, in Azerbaijani: an admin creates a response for the migration-registration queue in
az, ru and en (a text naming an unknown variable is refused first, saying why), and an agent
of that queue inserts it into a reply with the conversation's variables filled; a response
of another queue is never offered to her. Screenshots go to var/test-artifacts/browser/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from inbox.context import open_context
from tests.browser.conftest import TIMEOUT_MS, Resident, Watched, sign_in
from tests.browser.test_console import FIRST_TEXT
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
ADMIN = ("kamran.rzayev@example.gov.az", "idarə-paneli-2026", "Kamran Rzayev")
REGISTRAR = ("nermin.quliyeva@example.gov.az", "qeydiyyat-növbəsi-5", "Nərmin Quliyeva")
RESIDENT = "Tural Məmmədov"
KEY = "qeydiyyat-izleme"
TEXTS = {
    "az": ("Qeydiyyatın izlənməsi",
           "Hörmətli {contact_name}, qeydiyyat müraciətiniz (№ {conversation_id}) {queue} "
           "tərəfindən yoxlanılır. Hörmətlə, {agent_name}."),
    "ru": ("Отслеживание регистрации",
           "Уважаемый(ая) {contact_name}, ваше обращение (№ {conversation_id}) проверяет "
           "{queue}. С уважением, {agent_name}."),
    "en": ("Registration follow-up",
           "Dear {contact_name}, your registration request (No. {conversation_id}) is being "
           "checked by {queue}. Kind regards, {agent_name}."),
}


async def _azerbaijani_page(browser) -> Watched:
    """A page whose browser asks for Azerbaijani (the console's language until one is saved)."""
    context = await browser.new_context(viewport={"width": 1360, "height": 900},
                                        locale="az-AZ", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    async def accept(dialog) -> None:
        watched.dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return watched


async def test_an_admin_creates_a_queue_response_an_agent_of_the_queue_sends_in_az(
        system, browser, http):
    system.add_user(ADMIN[0], "admin", "", ADMIN[1], name=ADMIN[2])
    system.add_user(REGISTRAR[0], "agent", "migration-registration", REGISTRAR[1],
                    name=REGISTRAR[2])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = open_context(pool=False)
    try:   # another queue's own response, which the registrar must never be offered
        async with ctx.store.transaction() as tx:
            texts = {language: "DOST Bakı 1: {contact_name}" for language in TEXTS}
            await tx.canned.save("dost-baku-1-only", {
                "queue": "dost-baku-1", "title": texts, "body": texts, "is_default": False,
                "deleted": False}, (await tx.users.by_email(ADMIN[0]))["id"])
        queue_name = ctx.config.queue("migration-registration").name
    finally:
        await ctx.close()

    # --- the admin --------------------------------------------------------------------------
    admin = await _azerbaijani_page(browser)
    page = admin.page
    await sign_in(admin, system.base_url, ADMIN, start="/admin/canned")
    await expect(page.locator("h1")).to_have_text("Hazır cavablar")
    await expect(page.locator("#back-to-admin")).to_have_attribute("href", "/admin")
    await page.locator("#canned-rows tr[data-key=greeting]").wait_for()

    await page.click("#canned-new")
    await page.fill("#canned-key", KEY)
    await page.select_option("#canned-queue", "migration-registration")
    for language, (title, body) in TEXTS.items():
        await page.fill(f"#canned-title-{language}", title)
        await page.fill(f"#canned-body-{language}", body)
    await page.fill("#canned-body-az", "Hörmətli {ad}, " + TEXTS["az"][1])
    await page.click("#canned-save")
    error = page.locator("#canned-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("Naməlum dəyişən: ad.")
    await page.screenshot(path=str(ARTIFACTS / "admin-canned-refused-az.png"), full_page=True)
    await page.fill("#canned-body-az", TEXTS["az"][1])
    await page.click("#canned-save")
    row = page.locator(f"#canned-rows tr[data-key={KEY}]")
    await row.wait_for()
    await expect(page.locator("#canned-editor")).to_be_hidden()
    await expect(row).to_contain_text("Qeydiyyatın izlənməsi")
    await expect(row).to_contain_text(queue_name)
    await page.screenshot(path=str(ARTIFACTS / "admin-canned-az.png"), full_page=True)
    assert admin.errors == []

    # --- the agent of that queue --------------------------------------------------------------
    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(FIRST_TEXT)
    agent = await _azerbaijani_page(browser)
    page = agent.page
    await sign_in(agent, system.base_url, REGISTRAR)
    conversation = page.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await conversation.click()
    await page.locator("#thread .msg-in .msg-body", has_text=FIRST_TEXT).wait_for()
    conversation_id = int(await conversation.get_attribute("data-id"))

    await page.click("#canned-open")
    await page.locator("#canned-list .canned-item").first.wait_for()
    offered = await page.eval_on_selector_all("#canned-list .canned-item",
                                              "items => items.map(i => i.dataset.id)")
    assert KEY in offered and "greeting" in offered
    assert "dost-baku-1-only" not in offered
    await page.fill("#canned-search", "izlənməsi")
    await expect(page.locator("#canned-list .canned-item")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "console-canned-picker-az.png"))
    await page.press("#canned-search", "Enter")
    expected = (f"Hörmətli {RESIDENT}, qeydiyyat müraciətiniz (№ {conversation_id}) "
                f"{queue_name} tərəfindən yoxlanılır. Hörmətlə, {REGISTRAR[2]}.")
    assert await page.input_value("#composer-text") == expected
    await page.screenshot(path=str(ARTIFACTS / "console-canned-inserted-az.png"))

    await page.press("#composer-text", "Control+Enter")
    await page.locator("#thread .msg-out", has_text="tərəfindən yoxlanılır").wait_for()
    while (reply := await resident.next_reply())["author"]["kind"] != "agent":
        pass
    assert reply["body"] == expected
    assert agent.errors == []
    await resident.close()
