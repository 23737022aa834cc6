"""Telegram conversations in the console, in a real browser against the real system (app and
worker processes, the fake Bot API on a local port): the channel's icon, the resident's
Telegram name and @username, a photo fetched through getFile by the worker, and a reply the
resident's blocked bot refused, with the reason the agent reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.browser.conftest import AGENT, _start, _stop, sign_in
from tests.browser.test_console import PIXEL_PNG, bearer, conversation_json, until
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.telegram.conftest import SECRET, TOKEN, update
from tests.conftest import TEST_CONFIG
from tests.e2e.support import System, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fake_bot_api() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def telegram_system(environment, tmp_path, fake_bot_api) -> AsyncIterator[System]:
    text = TEST_CONFIG.read_text(encoding="utf-8")
    text = text.replace("  telegram: {enabled: false}", "  telegram: {enabled: true}")
    text = text.replace("directory: var/media", f"directory: {tmp_path / 'media'}")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    running = await _start(environment, tmp_path, {
        "CC_CONFIG": str(path), "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE": fake_bot_api[1]})
    yield running
    _stop(running)


async def deliver_update(http, system: System, body: dict) -> None:
    async with http.post(f"{system.base_url}/webhooks/telegram", data=json.dumps(body),
                         headers={"Content-Type": "application/json",
                                  "X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
        assert response.status == 200


async def test_a_telegram_conversation_shows_who_wrote_their_photo_and_a_refused_reply(
        telegram_system, fake_bot_api, open_page, http):
    fake, _ = fake_bot_api
    system = telegram_system
    fake.add_file("AgACAgIAAxkBAAMqZ1-large", "photos/file_7.jpg", PIXEL_PNG)
    await deliver_update(http, system, update("private_text_az"))
    await deliver_update(http, system, update("photo"))
    # The worker sends the acknowledgement and fetches the photo through getFile.
    await until(lambda: _async(fake.sent()))
    auth = await bearer(http, system)

    async def conversation():
        async with http.get(f"{system.base_url}/api/v1/conversations?channel=telegram",
                            headers=auth) as response:
            items = (await response.json())["items"]
        return items[0]["id"] if items else None

    conversation_id = await until(conversation)

    async def photo_stored():
        messages = (await conversation_json(http, system, auth, conversation_id))["messages"]
        return any(a["url"] for m in messages for a in m["attachments"])

    await until(photo_stored, timeout=30)

    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    row = page.locator(f'#conversation-list .conv-row[data-id="{conversation_id}"]')
    await row.wait_for()
    assert await row.locator(".ch-icon").get_attribute("title") == "Telegram"
    await row.click()
    thread = page.locator("#thread")
    first = thread.locator(".msg-in", has_text="vətəndaşlığın bərpası")
    await first.wait_for()
    assert await first.locator(".msg-telegram").text_content() == "Aygün Məmmədova @aygun_m"
    image = thread.locator(".msg-in .attachment-image img")
    await image.wait_for()
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=await image.element_handle())

    # The resident blocked the bot: the reply fails, and the agent reads why.
    fake.fail_next("sendMessage", "blocked")
    await page.fill("#composer-text", "Hörmətli Aygün xanım, sənədlərin siyahısı belədir.")
    await page.press("#composer-text", "Control+Enter")
    sent = thread.locator(".msg-out", has_text="sənədlərin siyahısı")
    await sent.wait_for()
    error = sent.locator(".delivery-error")
    await error.wait_for(timeout=30_000)
    assert await error.text_content() == "Forbidden: the resident blocked the bot"
    await page.screenshot(path="/tmp/console-telegram.png")
    assert watched.errors == [] and watched.dialogs == []


async def _async(value):
    return value
