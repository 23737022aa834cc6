"""The admin screen in a real browser against the real system: an admin creates an agent in
the Users tab; the agent signs in from another browser, opens a resident's conversation and
replies, which reaches the resident; the Audit tab shows who created whom. The Configuration
tab shows the deployment's queues. Screenshots go to var/test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Resident, sign_in
from tests.browser.test_console import FIRST_TEXT, _agent_reply

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
ADMIN = ("kamran.admin@example.gov.az", "idarə-paneli-2026", "Kamran Nəsirov")
NEW_AGENT = ("aysel.quliyeva@example.gov.az", "yeni-operator-777", "Aysel Quliyeva")
RESIDENT = "Rəşad Əhmədov"


async def test_an_admin_creates_an_agent_who_signs_in_and_works_and_the_audit_shows_it(
        system, open_page, http):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    system.add_user(ADMIN[0], "admin", "", ADMIN[1], name=ADMIN[2])
    admin = await open_page(1360, 860)
    page = admin.page
    await sign_in(admin, system.base_url, ADMIN, start="/admin")
    await expect(page.locator("#users-rows tr", has_text=ADMIN[2])).to_have_count(1)
    # The admin's own row cannot deactivate itself.
    own = page.locator("#users-rows tr", has_text=ADMIN[2])
    await expect(own.get_by_role("button", name="Deactivate")).to_be_disabled()

    # A refused account says why, in the console's words, and keeps the form open.
    await page.click("#user-new")
    await page.fill("#user-email", NEW_AGENT[0])
    await page.fill("#user-name", NEW_AGENT[2])
    await page.fill("#user-password", NEW_AGENT[1])
    await page.click("#user-save")
    await expect(page.locator("#user-error")).to_have_text(
        "An agent sees only the conversations of their queues: choose at least one queue.")

    await page.check("#user-queues input[value='migration-registration']")
    await page.check("#user-languages input[value='ru']")
    await page.fill("#user-capacity-chat", "2")
    await page.screenshot(path=str(ARTIFACTS / "admin-user-form.png"))
    await page.click("#user-save")
    await expect(page.locator("#user-dialog")).to_be_hidden()
    row = page.locator("#users-rows tr", has_text=NEW_AGENT[2])
    await expect(row).to_contain_text("agent")
    await expect(row).to_contain_text("chat 2 · e-mail 10")
    await page.screenshot(path=str(ARTIFACTS / "admin-users.png"), full_page=True)

    # The new agent, in a browser of their own, takes a resident's conversation and replies.
    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(FIRST_TEXT)
    agent = await open_page(1280, 820)
    await sign_in(agent, system.base_url, NEW_AGENT)
    console = agent.page
    conversation = console.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await conversation.click()
    await console.locator("#thread .msg-in", has_text=FIRST_TEXT).wait_for()
    await console.fill("#composer-text", "Salam, Rəşad bəy! Sənədlərinizi DOST mərkəzinə gətirin.")
    await console.press("#composer-text", "Control+Enter")
    await console.locator("#thread .msg-out", has_text="Sənədlərinizi DOST").wait_for()
    delivered = await _agent_reply(resident)
    assert delivered["body"] == "Salam, Rəşad bəy! Sənədlərinizi DOST mərkəzinə gətirin."
    await console.screenshot(path=str(ARTIFACTS / "admin-new-agent-console.png"))
    # An agent has no admin screen.
    response = await console.goto(system.base_url + "/admin")
    assert response.status == 403

    # The audit trail: who created whom, and when.
    await page.click("#tab-audit")
    created = page.locator("#audit-rows tr", has_text="created a user")
    await expect(created).to_have_count(1)
    await expect(created).to_contain_text(ADMIN[2])
    await expect(created).to_contain_text(f"{NEW_AGENT[2]} · {NEW_AGENT[0]}")
    await expect(created).to_contain_text("Role: agent")
    await page.screenshot(path=str(ARTIFACTS / "admin-audit.png"), full_page=True)

    await page.click("#tab-config")
    await expect(page.locator("#config-view")).to_contain_text("migration-registration")
    await expect(page.locator("#config-view")).to_contain_text("Mon, Tue, Wed, Thu, Fri")
    await page.screenshot(path=str(ARTIFACTS / "admin-config.png"), full_page=True)

    # In the admin's own language (saved on their account), the audit speaks Azerbaijani.
    async with page.expect_navigation():
        await page.select_option("#ui-language", "az")
    await page.click("#tab-audit")
    created = page.locator("#audit-rows tr", has_text="istifadəçi yaradıb")
    await expect(created).to_contain_text("Rol: operator")
    await expect(page.locator("#tab-users")).to_have_text("İstifadəçilər")
    await page.screenshot(path=str(ARTIFACTS / "admin-audit-az.png"))
    assert admin.errors == [] and agent.errors == []
