"""The console in Azerbaijani and in Russian, in a real browser: the login page, the console
with a resident's conversation open (its thread, contact panel, canned responses and transfer
dialog), the wall-board and the reports page. Azerbaijani comes from the browser's language;
Russian is an agent's saved choice over an English browser. No English text and no raw
catalogue key may show anywhere a user can read (text, titles, placeholders, labels), and
dates are written the language's way. Screenshots go to var/test-artifacts/browser/."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml

from inbox.context import open_context
from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    TIMEOUT_MS,
    Resident,
    Watched,
    sign_in,
)
from web.console import console_texts

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
RESIDENT = "Aynur Qasımova"
TEXT = "Salam! Pensiyamın nə vaxt köçürüləcəyini öyrənmək istəyirəm, FİN kodum 5ZK7T2M."
# What the deployment and the resident wrote (queue names, names, messages) is theirs, not
# the console's: it is left out of the search for English.
DEPLOYMENT = ROOT / "tests" / "fixtures" / "config.yaml"
ADMIN = ("kamran.admin@example.gov.az", "idarə-paneli-2026", "Kamran Nəsirov")

# Every text a user can read in the page's language: text nodes (hidden dialogs too), the
# page's title, and the attributes browsers show or read out. Text marked as another language
# (lang="…": a routing rule's reason as the inbox wrote it) is declared, not untranslated;
# code (<code>: a canned response's {variables}) is what the admin types, in no language.
READABLE = """() => {
  const parts = [document.title];
  const own = document.documentElement.lang;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("script, style, code")) continue;
    if (node.parentElement.closest("[lang]").lang !== own) continue;
    parts.push(node.nodeValue);
  }
  document.querySelectorAll("[title], [placeholder], [aria-label]").forEach((node) => {
    ["title", "placeholder", "aria-label"].forEach((name) => {
      if (node.hasAttribute(name)) parts.push(node.getAttribute(name));
    });
  });
  return parts.map((part) => part.trim()).filter(Boolean);
}"""
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]{2,}")


def _words(texts) -> set[str]:
    return {word.lower() for text in texts for word in WORD.findall(text)}


def _english_only_words() -> set[str]:
    """Words of the English catalogue that neither the Azerbaijani nor the Russian one uses:
    seeing one on an az or ru page means an untranslated text."""
    catalogue = console_texts()
    return _words(catalogue["en"].values()) - _words(catalogue["az"].values()) \
        - _words(catalogue["ru"].values())


def _theirs(language: str) -> list[str]:
    """What the page shows as people wrote it, in no language of ours: the resident's words,
    the staff's names, and the queues' names in the page's language (a name the console
    showed in another one would count against it)."""
    queues = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))["queues"]
    names = [queue["name"][language] if isinstance(queue["name"], dict) else queue["name"]
             for queue in queues]
    # The deployment's ids, shown as ids (the admin's configuration: its queues' codes).
    ids = sorted((queue["id"] for queue in queues), key=len, reverse=True)
    return [*names, *ids, RESIDENT, TEXT, AGENT[0], SUPERVISOR[0], ADMIN[0]]


@functools.cache
def _raw_key() -> re.Pattern[str]:
    """Any catalogue key standing alone in a text, in one pattern: one search per key and
    text compiled a pattern each time (more keys than the re module caches), a minute a
    test."""
    keys = sorted(console_texts()["en"], key=len, reverse=True)
    return re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, keys)) + r")(?![\w.])")


async def _check(watched: Watched, language: str, shot: str) -> list[str]:
    """The page's readable texts, after asserting none is English or a raw key."""
    page = watched.page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{shot}-{language}.png"), full_page=True)
    assert await page.evaluate("document.documentElement.lang") == language
    parts = await page.evaluate(READABLE)
    raw = [part for part in parts if _raw_key().search(part)]
    assert raw == [], f"raw catalogue keys on {shot}: {raw}"
    cleaned = parts
    for theirs in _theirs(language):
        cleaned = [part.replace(theirs, " ") for part in cleaned]
    english = sorted(_words(cleaned) & _english_only_words())
    assert english == [], f"English on the {language} {shot} page: {english}"
    assert watched.errors == [], watched.errors
    return parts


async def _open(browser, locale: str) -> Watched:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale=locale,
                                        timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


async def _tour(watched: Watched, base_url: str, http, language: str) -> None:
    """The console with a conversation open, its canned responses and transfer dialog."""
    page = watched.page
    resident = Resident(http, base_url, RESIDENT)
    await resident.say(TEXT)
    row = page.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await row.wait_for()
    await row.click()
    await page.locator("#thread .msg-in .msg-body", has_text="Pensiyamın").wait_for()
    await page.locator("#contact-pane h3", has_text=RESIDENT).wait_for()
    await page.locator("#thread .event").first.wait_for()
    await page.click("#canned-open")
    await page.locator("#canned-list .canned-item").first.wait_for()
    await _check(watched, language, "console")
    await page.keyboard.press("Escape")
    await page.click("#act-transfer")
    await page.locator("#transfer-agents input[data-agent-id]").first.wait_for()
    await _check(watched, language, "console-transfer")
    await page.click("#transfer-cancel")
    await resident.close()


async def test_the_console_in_azerbaijani_from_the_browsers_language(system, browser, http):
    watched = await _open(browser, "az-AZ")
    page = watched.page
    await page.goto(system.base_url + "/console")
    await page.wait_for_url("**/console/login?next=**")
    parts = await _check(watched, "az", "login")
    assert "Daxil ol" in parts
    # A wrong password is said in Azerbaijani too (the API's code, translated).
    await page.fill("#login-email", AGENT[0])
    await page.fill("#login-password", "səhv-şifrə")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert await page.text_content("#login-error") == "E-poçt ünvanı və ya şifrə yanlışdır."

    await sign_in(watched, system.base_url, AGENT)
    assert await page.text_content("#live-state .live-label") == "Canlı"
    await _tour(watched, system.base_url, http, "az")
    assert await page.text_content("#take-next") == "Növbətini götür"
    # An agent has no wall-board: the refusal is in Azerbaijani as well.
    response = await page.goto(system.base_url + "/wallboard")
    assert response.status == 403
    await _check(watched, "az", "forbidden")
    await page.context.close()

    boss = await _open(browser, "az-AZ")
    await sign_in(boss, system.base_url, SUPERVISOR, start="/wallboard")
    await boss.page.locator("#queue-tiles .tile").first.wait_for()
    await boss.page.locator("#agent-rows tr").first.wait_for()
    updated = await boss.page.text_content("#board-updated")
    assert re.fullmatch(r"Yeniləndi: \d\d:\d\d:\d\d", updated), updated
    await _check(boss, "az", "wallboard")
    await _reports(boss, system.base_url, "az", "20 mart 2026")
    await boss.page.context.close()


async def test_the_console_in_russian_chosen_over_an_english_browser(system, browser, http):
    watched = await _open(browser, "en-GB")
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    assert await page.text_content("#take-next") == "Take next"
    async with page.expect_navigation():
        await page.select_option("#ui-language", "ru")
    await page.wait_for_selector('#live-state[data-state="live"]')
    assert await page.text_content("#take-next") == "Взять следующее"
    await _tour(watched, system.base_url, http, "ru")
    # The choice is the account's: signing out and in again keeps it.
    await page.click("#logout")
    await page.wait_for_url("**/console/login")
    await sign_in(watched, system.base_url, AGENT)
    assert await page.evaluate("document.documentElement.lang") == "ru"
    await page.context.close()

    boss = await _open(browser, "en-GB")
    await sign_in(boss, system.base_url, SUPERVISOR, start="/wallboard")
    async with boss.page.expect_navigation():
        await boss.page.select_option("#ui-language", "ru")
    await boss.page.locator("#queue-tiles .tile").first.wait_for()
    await boss.page.locator("#agent-rows tr").first.wait_for()
    await _check(boss, "ru", "wallboard")
    await _reports(boss, system.base_url, "ru", "20 марта 2026")
    await boss.page.context.close()


async def _reports(watched: Watched, base_url: str, language: str, long_date: str) -> None:
    page = watched.page
    await page.goto(base_url + "/reports")
    await page.locator("#report-rows tr").first.wait_for()
    await page.locator("#chart-volumes svg, #chart-volumes .chart-empty").first.wait_for()
    await _check(watched, language, "reports")
    # A backwards range is explained with the dates written the language's way.
    await page.fill("#report-from", "2026-03-20")
    await page.fill("#report-to", "2026-03-10")
    await page.click("#report-form button[type=submit]")
    notice = page.locator("#report-notice")
    await notice.wait_for(state="visible")
    assert long_date in await notice.text_content()
    await _check(watched, language, "reports-backwards")

ERASED_BY = {"az": "Sistem", "ru": "Система"}
# The system's action agrees with "System": Russian's feminine, not a person's "удалил(а)".
ERASED_ACTION = {"az": "vətəndaşın şəxsi məlumatlarını silib",
                 "ru": "удалила персональные данные гражданина"}
RETENTION = {"az": "saxlama müddəti bitib", "ru": "истёк срок хранения"}
AT_PROVIDERS = {"az": "provayderdə silinəcək yazılar: 3",
                "ru": "записей к удалению у провайдера: 3"}


@pytest.mark.parametrize("language", ["az", "ru"])
async def test_the_admin_pages_in_azerbaijani_and_russian(system, browser, language):
    """Every tab of the administration, and the canned responses' editor, with an erasure in
    the audit trail (the system's own, on retention)."""
    system.add_user(ADMIN[0], "admin", "", ADMIN[1], name=ADMIN[2])
    ctx = open_context(pool=False)     # the system's database: the environment points at it
    try:
        async with ctx.store.transaction() as tx:
            await tx.audit.record(None, "contact.erased", "contact", 41, {
                "reason": "retention", "contacts": 1, "conversations": 2, "messages": 9,
                "files": 1, "at_providers": 3})
    finally:
        await ctx.close()
    watched = await _open(browser, "en-GB")
    page = watched.page
    await sign_in(watched, system.base_url, ADMIN, start="/admin")
    async with page.expect_navigation():
        await page.select_option("#ui-language", language)
    await page.locator("#users-rows tr", has_text=ADMIN[2]).wait_for()
    await _check(watched, language, "admin-users")
    await page.click("#tab-config")
    await page.locator("#config-view table").first.wait_for()
    await _check(watched, language, "admin-config")
    await page.click("#tab-audit")
    erased = page.locator("#audit-rows tr", has_text=ERASED_BY[language])
    await erased.wait_for()
    text = await erased.text_content()
    assert RETENTION[language] in text and ERASED_ACTION[language] in text
    assert AT_PROVIDERS[language] in text
    await _check(watched, language, "admin-audit")
    await page.goto(system.base_url + "/admin/canned")
    await page.locator(".canned-row, #canned-rows tr").first.wait_for()
    await _check(watched, language, "admin-canned")
    await page.click("#canned-new")
    await page.locator("#canned-editor").wait_for()
    await _check(watched, language, "admin-canned-editor")
    await page.context.close()
