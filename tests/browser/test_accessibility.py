"""Accessibility of the console's pages in a real browser: no serious or critical axe-core
violation on the login page, the console (the queue with conversations, one open with its
messages and the contact panel, the canned responses, the dialogs), the wall-board and the
reports page, in Azerbaijani and English; and the main flow done with the keyboard alone.

axe-core comes from npm (tests/browser/package.json, installed by scripts/test); the pages'
Content-Security-Policy would refuse its injected script, so these contexts bypass it.
Screenshots go to var/test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    TIMEOUT_MS,
    Resident,
    Watched,
    sign_in,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
LOCALES = {"az": "az-AZ", "en": "en-GB"}
RESIDENT = "Günel Abbasova"
TEXT = "Salam! DOST mərkəzində əlilliyin təyini üçün hansı sənədlər lazımdır? FİN: 5ZK2QJ7"
OTHER = ("Тимур Ахмедов", "Здравствуйте, как восстановить пароль на e-sosial.az?")


async def _open(browser, language: str) -> Watched:
    context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                        locale=LOCALES[language], timezone_id="Asia/Baku",
                                        bypass_csp=True)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


async def _shot(watched: Watched, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await watched.page.screenshot(path=str(ARTIFACTS / f"a11y-{name}.png"), full_page=True)


@pytest.mark.parametrize("language", ["az", "en"])
async def test_no_serious_axe_violations_on_the_consoles_pages(axe, system, browser, http,
                                                              language):
    watched = await _open(browser, language)
    page = watched.page
    await page.goto(system.base_url + "/console")
    await page.wait_for_url("**/console/login?next=**")
    assert await page.evaluate("document.documentElement.lang") == language
    await axe(page, f"the {language} login page")
    await page.click("#login-submit")      # the form's error, said and marked
    await page.locator("#login-error").wait_for()
    await axe(page, f"the {language} login page with its error")
    await _shot(watched, f"login-{language}")

    await sign_in(watched, system.base_url, AGENT)
    assert await page.evaluate("document.documentElement.lang") == language
    resident, other = Resident(http, system.base_url, RESIDENT), \
        Resident(http, system.base_url, OTHER[0])
    await resident.say(TEXT)
    await other.say(OTHER[1], language="ru")
    await page.locator(".conv-row", has_text=OTHER[0]).wait_for()
    await page.locator(".conv-row", has_text=RESIDENT).wait_for()
    await axe(page, f"the {language} console's queue")
    await page.locator(".conv-row", has_text=RESIDENT).click()
    await page.locator("#thread .msg-in .msg-body", has_text="əlilliyin").wait_for()
    await page.locator("#contact-pane h3", has_text=RESIDENT).wait_for()
    await page.fill("#composer-text", "Salam, sənədlərin siyahısını göndərirəm.")
    await page.press("#composer-text", "Control+Enter")
    await page.locator("#thread .msg-out", has_text="siyahısını göndərirəm").wait_for()
    await axe(page, f"the {language} console with a conversation open")
    await _shot(watched, f"console-{language}")
    await page.click("#canned-open")
    await page.locator("#canned-list .canned-item").first.wait_for()
    await axe(page, f"the {language} console's canned responses")
    await page.keyboard.press("Escape")
    await page.click("#act-transfer")
    await page.locator("#transfer-agents input[data-agent-id]").first.wait_for()
    await axe(page, f"the {language} transfer dialog")
    await _shot(watched, f"console-transfer-{language}")
    await page.click("#transfer-cancel")
    await page.click("#help-open")
    await axe(page, f"the {language} shortcuts help")
    await page.keyboard.press("Escape")
    await page.context.close()

    boss = await _open(browser, language)
    await sign_in(boss, system.base_url, SUPERVISOR, start="/wallboard")
    await boss.page.locator("#queue-tiles .tile").first.wait_for()
    await boss.page.locator("#agent-rows tr").first.wait_for()
    await axe(boss.page, f"the {language} wall-board")
    await _shot(boss, f"wallboard-{language}")
    await boss.page.goto(system.base_url + "/reports")
    await boss.page.locator("#report-rows tr").first.wait_for()
    await boss.page.locator("#chart-volumes svg, #chart-volumes .chart-empty").first.wait_for()
    await axe(boss.page, f"the {language} reports page")
    await _shot(boss, f"reports-{language}")
    assert watched.errors == [] and boss.errors == []
    await boss.page.context.close()
    await resident.close()
    await other.close()


# Where the focus is, and whether it can be seen: an outline (or a focus ring) drawn by CSS.
FOCUSED = """() => {
  const node = document.activeElement;
  const style = getComputedStyle(node);
  return {id: node.id, cls: node.className, tag: node.tagName.toLowerCase(),
          mode: node.dataset ? node.dataset.mode || null : null,
          dialog: node.closest("dialog") ? node.closest("dialog").id : null,
          visible: node !== document.body && node.matches(":focus-visible")
                   && style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0};
}"""


async def _focus(page) -> dict:
    return await page.evaluate(FOCUSED)


async def _tab_to(page, matches, most: int = 40, key: str = "Tab") -> dict:
    """Presses Tab (or Shift+Tab) until the focus is on what `matches` says, every stop on
    the way with its focus visible."""
    for _ in range(most):
        await page.keyboard.press(key)
        focus = await _focus(page)
        assert focus["visible"], f"the focus on {focus} cannot be seen"
        if matches(focus):
            return focus
    raise AssertionError(f"{key} never reached the element; the focus is on {focus}")


async def test_keyboard_alone_reply_note_and_resolve(system, browser, http):
    """Signing in, choosing a conversation, replying, adding a note and resolving, with no
    mouse: the focus can always be seen and goes where the next step is."""
    watched = await _open(browser, "en")
    page = watched.page
    resident, other = Resident(http, system.base_url, RESIDENT), \
        Resident(http, system.base_url, OTHER[0])
    await resident.say(TEXT)
    await other.say(OTHER[1], language="ru")

    await page.goto(system.base_url + "/console")
    await page.wait_for_url("**/console/login?next=**")
    assert (await _focus(page))["id"] == "login-email"      # autofocus
    await page.keyboard.type(AGENT[0])
    await page.keyboard.press("Tab")
    assert (await _focus(page))["id"] == "login-password"
    await page.keyboard.type(AGENT[1])
    await page.keyboard.press("Enter")
    await page.wait_for_url(system.base_url + "/console")
    await page.wait_for_selector('#live-state[data-state="live"]')
    await page.locator(".conv-row", has_text=RESIDENT).wait_for()

    # The first Tab offers the skip link, which leads past the top bar to the list.
    await page.keyboard.press("Tab")
    focus = await _focus(page)
    assert focus["id"] == "skip-to-list" and focus["visible"], focus
    await page.keyboard.press("Enter")
    focus = await _focus(page)
    assert "conv-row" in focus["cls"] and focus["visible"], focus
    assert await page.locator(".conv-row[tabindex='0']").count() == 1   # one Tab stop
    names = await page.locator(".conv-row .row-name").all_text_contents()
    assert names == [OTHER[0], RESIDENT]      # newest first: the arrows go down to hers
    await page.keyboard.press("ArrowDown")
    focus = await _focus(page)
    assert focus["visible"] and await page.locator(":focus .row-name").text_content() == RESIDENT
    await page.keyboard.press("ArrowUp")
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    # Opening it puts the focus in the composer, ready to write.
    await page.locator("#conv-name", has_text=RESIDENT).wait_for()
    await page.wait_for_function("document.activeElement.id === 'composer-text'")
    await page.keyboard.type("Salam, Günel xanım! Sənədlərin siyahısını göndərirəm.")
    await page.keyboard.press("Control+Enter")
    await page.locator("#thread .msg-out", has_text="Sənədlərin siyahısını").wait_for()
    assert (await _focus(page))["id"] == "composer-text"

    # Shift+Tab reaches the composer's "Note" tab; Enter chooses it and returns to the text.
    await _tab_to(page, lambda f: f["mode"] == "note", key="Shift+Tab")
    await page.keyboard.press("Enter")
    assert await page.get_attribute("#composer", "data-mode") == "note"
    assert (await _focus(page))["id"] == "composer-text"
    await page.keyboard.type("Vətəndaş əlillik arayışını sabah gətirəcək.")
    await page.keyboard.press("Control+Enter")
    await page.locator("#thread .msg-note", has_text="arayışını sabah").wait_for()

    # Escape leaves the composer for the conversation's row, where `e` resolves it.
    await page.keyboard.press("Escape")
    focus = await _focus(page)
    assert focus["visible"] and await page.locator(":focus .row-name").text_content() == RESIDENT
    await page.keyboard.press("e")
    await page.locator("#conv-status", has_text="Resolved").wait_for()
    await page.locator("#thread .event-resolved").wait_for()
    focus = await _focus(page)     # the list was redrawn: the focus stayed on her row
    assert focus["visible"] and await page.locator(":focus .row-name").text_content() == RESIDENT
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "a11y-keyboard-resolved.png"))

    # `?` opens the shortcuts; the focus stays inside until Escape, then comes back.
    await page.keyboard.press("?")
    await page.locator("#help-dialog[open]").wait_for()
    for _ in range(3):
        await page.keyboard.press("Tab")
        assert (await _focus(page))["dialog"] == "help-dialog"
    await page.screenshot(path=str(ARTIFACTS / "a11y-keyboard-help.png"))
    await page.keyboard.press("Escape")
    assert not await page.locator("#help-dialog").evaluate("d => d.open")
    assert await page.locator(":focus .row-name").text_content() == RESIDENT

    # The transfer dialog: reached with Tab, opened with Enter, Tab and Shift+Tab go round
    # inside it, Escape closes it and the focus is back on its button.
    await _tab_to(page, lambda f: f["id"] == "act-transfer")
    await page.keyboard.press("Enter")
    await page.locator("#transfer-agents input[data-agent-id]").first.wait_for()
    assert (await _focus(page))["dialog"] == "transfer-dialog"
    seen = set()
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        await page.keyboard.press(key)
        focus = await _focus(page)
        assert focus["dialog"] == "transfer-dialog" and focus["visible"], focus
        seen.add(focus["id"] or focus["tag"])
    assert {"transfer-queue", "transfer-cancel", "transfer-submit"} <= seen, seen
    await page.screenshot(path=str(ARTIFACTS / "a11y-keyboard-transfer.png"))
    await page.keyboard.press("Escape")
    assert not await page.locator("#transfer-dialog").evaluate("d => d.open")
    focus = await _focus(page)
    assert focus["id"] == "act-transfer" and focus["visible"], focus

    # Every stop of the page's Tab order, to its end, shows where the focus is.
    stops = []
    for _ in range(120):
        await page.keyboard.press("Tab")
        focus = await _focus(page)
        if focus["tag"] == "body" or focus["id"] == "skip-to-list":
            break
        assert focus["visible"], f"the focus on {focus} cannot be seen"
        stops.append(focus["id"] or focus["cls"] or focus["tag"])
    else:
        raise AssertionError(f"the Tab order never ended: {stops}")
    assert {"category-select", "tag-select", "composer-text", "canned-open",
            "composer-send"} <= set(stops), stops
    assert watched.errors == []
    await page.context.close()
    await resident.close()
    await other.close()
