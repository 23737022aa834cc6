"""An admin hands a resident a copy of their data (a file, a page to print) and erases it
from the console, in a real browser against the real system: the erasure is refused while
the conversation is open, done once it is resolved; the pane, the thread and the audit trail
show it, and an agent is offered neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import AGENT, Resident, sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp")
ADMIN = ("kamran.admin@example.gov.az", "idarə-paneli-2026", "Kamran Nəsirov")
RESIDENT = "Nigar Səfərova"
FIN = "5ZK7HXM"
TEXT = f"Salam, mənim FIN {FIN}. Ünvanım: Sumqayıt, 9-cu mikrorayon. Sənədlərim hazırdır?"


async def test_an_admin_erases_a_resolved_resident_and_an_agent_cannot(system, open_page,
                                                                        http):
    system.add_user(ADMIN[0], "admin", "", ADMIN[1], name=ADMIN[2])
    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(TEXT)

    # The agent works the conversation; erasing is not theirs to offer.
    agent = await open_page()
    await sign_in(agent, system.base_url, AGENT)
    await agent.page.locator("#conversation-list .conv-row", has_text=RESIDENT).click()
    await agent.page.locator("#contact-pane #contact-name", has_text=RESIDENT).wait_for()
    assert await agent.page.locator("#contact-erase, #contact-export").count() == 0

    admin = await open_page(1360, 860)
    console = admin.page
    await sign_in(admin, system.base_url, ADMIN)
    await console.locator("#conversation-list .conv-row", has_text=RESIDENT).click()
    pane = console.locator("#contact-pane")
    await pane.locator("#contact-name", has_text=RESIDENT).wait_for()

    # First the copy the resident asked for: what they wrote, with their name on it.
    async with console.expect_download() as downloading:
        await console.click("#contact-export")
    download = await downloading.value
    assert download.suggested_filename.startswith("contact-")
    copy = json.loads(Path(await download.path()).read_text(encoding="utf-8"))
    assert copy["contact"]["name"] == RESIDENT
    assert any(m["body"] == TEXT for m in copy["conversations"][0]["messages"])
    # The same copy as a page to print for them, in the language they wrote in.
    async with console.context.expect_page() as opening:
        await console.click("#contact-export-printable")
    printable = await opening.value
    await printable.wait_for_load_state()
    assert await printable.locator("html").get_attribute("lang") == "az"
    await printable.locator("h1", has_text="sizin haqqınızda saxladığı").wait_for()
    assert RESIDENT in await printable.locator("#about-you").text_content()
    # The chat's session key is ours, not something the resident knows: it is not printed.
    session_id = resident.session.partition(".")[0]
    assert session_id not in await printable.locator("body").text_content()
    said = printable.locator(".message.from-you").first
    assert TEXT in await said.locator(".text").text_content()
    # Its stylesheet applies (the page's policy allows it by its hash).
    assert await said.evaluate("node => getComputedStyle(node).backgroundColor") == \
        "rgb(244, 247, 251)"
    await printable.screenshot(path=str(SHOTS / "subject-access-copy.png"), full_page=True)
    await printable.close()

    # Still open: the dialog says what to do first, and nothing is erased.
    await console.click("#contact-erase")
    dialog = console.locator("#erase-dialog")
    await dialog.locator("#erase-what").wait_for()
    await console.click("#erase-submit")
    refused = dialog.locator("#erase-error")
    await refused.wait_for()
    assert "Resolve the resident's conversations first" in await refused.text_content()
    await console.screenshot(path=str(SHOTS / "console-erase-refused.png"))
    await console.click("#erase-cancel")
    await pane.locator("#contact-name", has_text=RESIDENT).wait_for()

    await console.click("#thread")
    await console.keyboard.press("e")
    await console.locator("#conv-status", has_text="Resolved").wait_for()

    await console.click("#contact-erase")
    await console.select_option("#erase-reason", "legal_order")
    await console.fill("#erase-reference", "№ 2-1234/2026")
    await console.click("#erase-submit")
    await pane.locator("#contact-erased", has_text="Personal data erased").wait_for()
    await pane.locator("#contact-name", has_text="Erased resident").wait_for()
    await console.locator("#conv-name", has_text="Erased resident").wait_for()
    thread = console.locator("#thread")
    await thread.locator(".event-contact_erased",
                         has_text="erased by a legal order by You").wait_for()
    await thread.locator(".msg-in .msg-erased").first.wait_for()
    # Nothing more is written to them or about them.
    await console.locator("#composer-erased").wait_for()
    assert not await console.locator("#composer").is_visible()
    page_text = await console.locator("body").text_content()
    for personal in (RESIDENT, FIN, "Sumqayıt"):
        assert personal not in page_text
    await console.screenshot(path=str(SHOTS / "console-erased.png"))

    # The audit trail says who did it, why and how much, and not whose it was.
    await console.goto(system.base_url + "/admin")
    await console.click("#tab-audit")
    row = console.locator("#audit-rows tr", has_text="erased a resident's personal data")
    await row.wait_for()
    text = await row.text_content()
    assert ADMIN[2] in text and "A legal order" in text and "№ 2-1234/2026" in text
    assert RESIDENT not in text
    await console.screenshot(path=str(SHOTS / "admin-audit-erased.png"))
    assert admin.errors == [] and agent.errors == []
    await resident.close()
