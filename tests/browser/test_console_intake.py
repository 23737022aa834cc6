"""The guided registration intake in a real browser against the real system (app and
worker): a resident answers the bot in the web chat, and the registration queue's agent
finds the answers at the top of the conversation, the FIN in clear; a supervisor who is not
one of that queue's operators sees it masked, as the server sent it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import AGENT, Resident, sign_in
from tests.conftest import TEST_CONFIG

pytestmark = pytest.mark.e2e

READER = ("samir.supervisor@example.gov.az", "yalniz-baxiram-31", "Samir Quliyev")
ANSWERS = ["bəli", "Aynur Məmmədova", "5ZK2QJ7", "AZE12345678", "14.03.1987",
           "Xankəndi, Mehmandarov küç. 12", "1", "1", "keç"]


@pytest.fixture
def intake_system(shared_system):
    text = TEST_CONFIG.read_text("utf-8").replace(
        "  enabled: false           # the tests that need it turn it on", "  enabled: true")
    assert "enabled: true" in text
    return shared_system("guided-intake", config_text=text)


async def test_the_agent_reads_the_intake_and_a_supervisor_outside_the_queue_a_masked_fin(
        intake_system, open_page, http):
    intake_system.add_user(READER[0], "supervisor", "call-centre-142", READER[1],
                           name=READER[2])
    resident = Resident(http, intake_system.base_url, "Aynur Məmmədova")
    await resident.say("Salam, ilkin qeydiyyatdan keçmək istəyirəm")
    assert (await resident.next_reply())["body"].startswith("Salam, Aynur Məmmədova!")
    for answer in ANSWERS:             # the bot answers each with one message
        await resident.say(answer)
        last = (await resident.next_reply())["body"]
    assert last.startswith("Təşəkkür edirik! Müraciətiniz qeydə alındı")
    await resident.close()

    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, intake_system.base_url, AGENT)
    await page.locator("#conversation-list .conv-row", has_text="Aynur Məmmədova").click()
    panel = page.locator("#intake-panel")
    await expect(panel).to_be_visible()
    await expect(page.locator("#intake-fin")).to_have_text("5ZK2QJ7")
    await expect(page.locator("#intake-service")).to_have_text(
        "Joining the reintegration process (initial registration)")
    await expect(page.locator("#intake-documents")).to_have_count(0)
    await expect(panel).to_contain_text("complete")
    await expect(page.locator("#thread")).to_contain_text(
        "Intake complete, now waiting in the queue")
    await page.screenshot(path="/tmp/console-intake.png")

    watched = await open_page(1280, 860)
    page = watched.page
    await sign_in(watched, intake_system.base_url, READER)
    await page.locator("#conversation-list .conv-row", has_text="Aynur Məmmədova").click()
    await expect(page.locator("#intake-fin")).to_have_text("5ZK****")
    await expect(page.locator("#intake-id_card")).not_to_have_text("AZE12345678")
    await expect(page.locator("#thread")).not_to_contain_text("5ZK2QJ7")
