"""Browser notifications in a real browser against the real system: the agent turns them on
with the bell (the browser is asked for permission only then), and while the console's tab is
in the background a conversation newly assigned to them and a resident's reply in it each
raise one notification, short and in the agent's language; a click opens the conversation.
Turned off, nothing shows. The Notification constructor is recorded by an init script (a
headless browser shows nothing), and document.hidden is the test's to set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.browser.conftest import AGENT, SUPERVISOR, Resident, sign_in

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"
RESIDENT = "Səidə Kərimova"
FIRST = "Salam! Miqrasiya kartımın müddəti bitir, uzatmaq üçün hara müraciət edim?"
REPLY = ("Bir də soruşmaq istəyirəm: sənədləri elektron qaydada göndərmək mümkündürmü, "
         "yoxsa mərkəzə gəlməliyəm?")
LATER = "Cavabınızı gözləyirəm, təşəkkür edirəm."

# Records each notification instead of showing it, and lets the test hide the tab.
RECORDER = """
(() => {
  window.__notes = [];
  window.__hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true,
    get() { return window.__hidden; } });
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true,
    get() { return window.__hidden ? "hidden" : "visible"; } });
  const Real = window.Notification;
  function Recorded(title, options) {
    this.title = title;
    this.body = (options || {}).body;
    this.tag = (options || {}).tag;
    this.onclick = null;
    this.closed = false;
    this.close = () => { this.closed = true; };
    window.__notes.push(this);
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = () => { window.__asked = (window.__asked || 0) + 1;
                                        return Real.requestPermission(); };
  window.Notification = Recorded;
})();
"""
NOTES = "window.__notes.map((n) => ({title: n.title, body: n.body}))"


async def _hide(page, hidden: bool) -> None:
    await page.evaluate("""(hidden) => { window.__hidden = hidden;
                           document.dispatchEvent(new Event("visibilitychange")); }""", hidden)


async def _notes(page, count: int, timeout_s: float = 10) -> list[dict]:
    """The notifications so far, once there are `count` (polled from here: the console's
    Content-Security-Policy refuses the string a wait_for_function would evaluate)."""
    for _ in range(int(timeout_s * 10)):
        notes = await page.evaluate(NOTES)
        if len(notes) >= count:
            return notes
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(notes)} notifications, not {count}: {notes}")


async def test_assigned_and_replied_notify_in_the_background_and_not_when_off(
        system, open_page, http):
    agent = await open_page()
    console = agent.page
    await console.context.grant_permissions(["notifications"], origin=system.base_url)
    await console.context.add_init_script(RECORDER)
    await sign_in(agent, system.base_url, AGENT)
    bell = console.locator("#notify-toggle")
    assert await bell.get_attribute("aria-pressed") == "false"
    assert await console.evaluate("window.__asked || 0") == 0     # not asked unprompted
    await bell.click()
    await console.locator("#notify-toggle[aria-pressed=true]").wait_for()
    assert await console.evaluate("window.__asked") == 1
    assert await bell.get_attribute("title") == "Browser notifications (on)"
    await _hide(console, True)

    async with http.post(f"{system.base_url}/api/v1/auth/login",
                         json={"email": SUPERVISOR[0], "password": SUPERVISOR[1]}) as response:
        boss = {"Authorization": f"Bearer {(await response.json())['token']}"}
    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(FIRST)
    row = console.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await row.wait_for()
    conversation_id = int(await row.get_attribute("data-id"))
    me = await console.evaluate("CC.me.id")
    async with http.post(f"{system.base_url}/api/v1/conversations/{conversation_id}/assign",
                         json={"agent_id": me}, headers=boss) as response:
        assert response.status == 200, await response.text()
    notes = await _notes(console, 1)
    assert notes[0] == {"title": "New conversation assigned to you",
                        "body": f"Web chat · {RESIDENT}"}
    # Online: a resident writing to an agent who is not gives the conversation back to the queue.
    await console.click('#presence button[data-presence="online"]')
    await console.locator('#presence[data-presence="online"]').wait_for()

    await resident.say(REPLY)
    notes = await _notes(console, 2)
    assert notes[1]["title"] == "The resident replied"
    # Short: the channel, the name and the reply's first 60 characters.
    assert notes[1]["body"] == f"Web chat · {RESIDENT}: {REPLY[:59]}…"
    assert len(notes) == 2, notes          # one each, the reply did not repeat the assignment

    # A click brings the console forward with the conversation open.
    await _hide(console, False)
    await console.evaluate("window.__notes[1].onclick()")
    await console.locator("#conv-name", has_text=RESIDENT).wait_for()
    assert await console.evaluate("window.__notes[1].closed") is True
    await console.screenshot(path=str(ARTIFACTS / "console-notified.png"))

    # Open and in view: a reply there needs no notification...
    await resident.say("Salam, yenə mənəm.")
    await console.locator("#thread .msg-in", has_text="yenə mənəm").wait_for()
    await asyncio.sleep(0.5)
    assert len(await console.evaluate(NOTES)) == 2
    # ...but open in a tab in the background, it does.
    await _hide(console, True)
    await resident.say("Hələ buradayam.")
    notes = await _notes(console, 3)
    assert notes[2] == {"title": "The resident replied",
                        "body": f"Web chat · {RESIDENT}: Hələ buradayam."}

    # Turned off: a reply in the background raises none.
    await bell.click()
    await console.locator("#notify-toggle[aria-pressed=false]").wait_for()
    assert await bell.get_attribute("title") == "Browser notifications (off)"
    await resident.say(LATER)
    await console.locator("#thread .msg-in", has_text=LATER).wait_for()
    await asyncio.sleep(0.5)
    assert len(await console.evaluate(NOTES)) == 3
    await console.screenshot(path=str(ARTIFACTS / "console-notify-off.png"))
    assert agent.errors == [] and agent.dialogs == []
    await resident.close()
