"""The agent console, wall-board and reports pages in a real browser against the real system:
live updates without reload, replying with a canned response, delivery status, resolving,
shortcuts, and residents' text that stays inert text."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import AGENT, SUPERVISOR, Resident, sign_in

pytestmark = pytest.mark.e2e

RESIDENT = "Rəşad Quliyev"
FIRST_TEXT = "Salam! Reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm, nə etməliyəm?"


async def _agent_reply(resident: Resident, timeout: float = 15) -> dict:
    """The next message an agent wrote, skipping the automatic acknowledgement."""
    deadline = time.monotonic() + timeout
    while True:
        message = await resident.next_reply(max(deadline - time.monotonic(), 0.1))
        if message["author"]["kind"] == "agent":
            return message


async def test_sign_in_rejects_a_wrong_password(system, open_page, http):
    async with http.get(system.base_url + "/console/canned") as response:
        assert response.status == 401
    watched = await open_page()
    page = watched.page
    await page.goto(system.base_url + "/console")
    await page.wait_for_url("**/console/login?next=/console")
    await page.fill("#login-email", AGENT[0])
    await page.fill("#login-password", "not-the-password")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not([hidden])")
    assert await page.text_content("#login-error") == "Wrong e-mail or password."
    await page.fill("#login-password", AGENT[1])
    await page.click("#login-submit")
    await page.wait_for_url(system.base_url + "/console")
    assert await page.text_content("#me-name") == AGENT[2]
    canned = await page.evaluate("fetch('/console/canned').then(r => r.json())")
    assert {"reintegration-documents", "dost-hours", "pension-status", "esosial-password",
            "call-142"} <= {entry["id"] for entry in canned["responses"]}
    assert all(set(entry["texts"]) == {"az", "ru", "en"} for entry in canned["responses"])
    # Agents have no wall-board: the page says so instead of showing figures.
    response = await page.goto(system.base_url + "/wallboard")
    assert response.status == 403
    assert "Supervisors only" in await page.text_content("h1")
    assert watched.errors == []


async def test_live_message_reply_with_canned_response_and_resolve(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.evaluate("window.__sameDocument = true")

    resident = Resident(http, system.base_url, RESIDENT)
    await resident.say(FIRST_TEXT)
    row = page.locator("#conversation-list .conv-row", has_text=RESIDENT)
    await row.wait_for()
    assert await page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert await row.locator(".ch-icon").get_attribute("title") == "Web chat"
    assert await row.locator(".badge").count() == 1

    await row.click()
    thread = page.locator("#thread")
    await thread.locator(".msg-in .msg-body", has_text=FIRST_TEXT).wait_for()
    conversation_id = int(await row.get_attribute("data-id"))
    await page.locator("#contact-pane h3", has_text=RESIDENT).wait_for()

    await page.click("#canned-open")
    await page.fill("#canned-search", "reintegration")
    await page.press("#canned-search", "Enter")
    composed = await page.input_value("#composer-text")
    assert composed.startswith(f"Hörmətli {RESIDENT}, reintegrasiya proqramında")
    assert f"Müraciət nömrəniz: {conversation_id}." in composed
    assert "{" not in composed

    await page.press("#composer-text", "Control+Enter")
    reply = thread.locator(".msg-out", has_text="reintegrasiya proqramında ilkin qeydiyyat")
    await reply.wait_for()
    assert await page.input_value("#composer-text") == ""
    delivered = await _agent_reply(resident)
    assert delivered["body"] == composed
    # The worker sends it and the console shows how far it got, without a reload.
    progressed = re.compile("^(Sent|Delivered|Read)$")
    await reply.locator(".delivery-label", has_text=progressed).wait_for()
    assert await reply.locator(".msg-author").text_content() == "You"

    await page.click("#thread")
    await page.keyboard.press("e")
    await page.locator("#conv-status", has_text="Resolved").wait_for()
    await thread.locator(".event-resolved", has_text="Resolved by You").wait_for()
    await page.locator("#act-reopen").wait_for()
    await page.screenshot(path="/tmp/console.png")
    assert await page.evaluate("window.__sameDocument") is True
    assert watched.errors == [] and watched.dialogs == []
    await resident.close()


async def test_private_note_take_next_and_shortcuts(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.click("#take-next")
    await page.locator(".toast", has_text="Nothing waiting").wait_for()

    first, second = Resident(http, system.base_url, "Aygün Əliyeva"), \
        Resident(http, system.base_url, "Тимур Ахмедов")
    await first.say("Pensiyam bu ay gəlməyib, nə vaxt köçürüləcək?")
    await page.locator(".conv-row", has_text="Aygün Əliyeva").wait_for()
    await second.say("Здравствуйте, как восстановить пароль на e-sosial.az?", language="ru")
    await page.locator(".conv-row", has_text="Тимур Ахмедов").wait_for()

    names = await page.locator(".conv-row .row-name").all_text_contents()
    assert names == ["Тимур Ахмедов", "Aygün Əliyeva"]   # newest activity first
    await page.keyboard.press("j")
    await page.locator("#conv-name", has_text="Тимур Ахмедов").wait_for()
    await page.keyboard.press("j")
    await page.locator("#conv-name", has_text="Aygün Əliyeva").wait_for()
    await page.keyboard.press("k")
    await page.locator("#conv-name", has_text="Тимур Ахмедов").wait_for()

    await page.keyboard.press("n")
    assert await page.get_attribute("#composer", "data-mode") == "note"
    assert await page.evaluate("document.activeElement.id") == "composer-text"
    await page.keyboard.type("Проверить номер телефона в e-sosial")
    await page.keyboard.press("Control+Enter")
    note = page.locator("#thread .msg-note", has_text="Проверить номер телефона")
    await note.wait_for()
    assert await note.locator(".note-tag").text_content() == "Internal note"
    assert await note.locator(".delivery").count() == 0

    await page.keyboard.press("Escape")
    await page.keyboard.press("?")
    await page.locator("#help-dialog[open]").wait_for()
    await page.keyboard.press("Escape")
    await page.locator("#help-dialog:not([open])").wait_for(state="attached")
    assert watched.errors == [] and watched.dialogs == []
    await first.close()
    await second.close()


async def test_wallboard_waiting_moves_live(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, SUPERVISOR, start="/wallboard")
    await page.locator("#total-waiting", has_text="0").wait_for()
    await page.locator("#queue-tiles .tile").first.wait_for()
    assert await page.locator("#board-agents").is_visible()
    assert AGENT[2] in await page.text_content("#agent-rows")

    resident = Resident(http, system.base_url, "Nigar Səfərova")
    await resident.say("Salam, DOST mərkəzi şənbə günü işləyir?")
    sent = time.monotonic()
    # Sooner than the 10-second refresh: the live event moved it.
    await page.locator("#total-waiting", has_text="1").wait_for(timeout=6000)
    assert time.monotonic() - sent < 6
    tile = page.locator('.tile:has([data-role="waiting"]:text-is("1"))')
    assert await tile.count() == 1
    await page.screenshot(path="/tmp/wallboard.png")
    assert watched.errors == []
    await resident.close()


async def test_reports_page_draws_table_and_charts(system, open_page, http):
    resident = Resident(http, system.base_url, "Kamran Həsənov")
    await resident.say("Vətəndaşlıq üçün hansı sənədlər lazımdır?")
    async with http.post(f"{system.base_url}/api/v1/auth/login",
                         json={"email": AGENT[0], "password": AGENT[1]}) as response:
        auth = {"Authorization": f"Bearer {(await response.json())['token']}"}
    async with http.get(f"{system.base_url}/api/v1/conversations", headers=auth) as response:
        conversation_id = (await response.json())["items"][0]["id"]
    async with http.post(f"{system.base_url}/api/v1/conversations/{conversation_id}/messages",
                         json={"body": "Salam, sənədlərin siyahısını göndərirəm."},
                         headers=auth) as response:
        assert response.status == 201
    watched = await open_page()
    page = watched.page
    await sign_in_without_stream(watched, system.base_url)
    await page.locator("#report-rows tr td.num").first.wait_for()
    rows = await page.locator("#report-rows tr").count()
    assert rows >= 1
    await page.locator("#chart-first-response svg").wait_for()
    await page.locator("#chart-volumes svg").wait_for()
    csv_url = await page.get_attribute("#report-csv", "href")
    assert "format=csv" in csv_url and "group_by=channel" in csv_url
    csv_text = await page.evaluate(
        "url => fetch(url, {credentials: 'same-origin'}).then(r => r.text())", csv_url)
    assert csv_text.splitlines()[0].startswith("key,")
    await page.select_option("#report-group", "queue")
    await page.locator("#report-key-head", has_text="Queue").wait_for()
    await page.screenshot(path="/tmp/reports.png", full_page=True)
    assert watched.errors == []
    await resident.close()


async def sign_in_without_stream(watched, base_url: str) -> None:
    """The reports page holds no live stream, so it is ready when its form is."""
    page = watched.page
    await page.goto(base_url + "/reports")
    await page.fill("#login-email", SUPERVISOR[0])
    await page.fill("#login-password", SUPERVISOR[1])
    await page.click("#login-submit")
    await page.wait_for_url(base_url + "/reports")


async def test_hostile_text_from_a_resident_stays_inert(system, open_page, http):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    hostile_name = '<img src=x onerror="window.__pwned=1;alert(1)">'
    hostile_text = ("<script>window.__pwned = 2; alert('script')</script>"
                    '<img src=x onerror="window.__pwned=3;alert(document.cookie)"> pensiya')
    resident = Resident(http, system.base_url, hostile_name)
    await resident.say(hostile_text)
    row = page.locator(".conv-row", has_text="onerror")
    await row.wait_for()
    assert await row.locator(".row-name").text_content() == hostile_name
    await row.click()
    body = page.locator("#thread .msg-in .msg-body")
    await body.wait_for()
    assert await body.text_content() == hostile_text
    assert await page.text_content("#conv-name") == hostile_name
    await page.locator("#contact-pane h3").wait_for()
    assert await page.text_content("#contact-pane h3") == hostile_name
    await page.wait_for_timeout(500)
    for scope in ("#thread", "#conversation-list", "#contact-pane", "#conv-name"):
        assert await page.locator(f"{scope} img[src='x'], {scope} script").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert watched.dialogs == []
    assert watched.errors == []
    await resident.close()
