"""An agent's files in the console, in a real browser against the real system (app and worker
processes, the Twilio stand-in): a file attached to a WhatsApp reply uploads with a progress
bar (the browser's upload throttled so it shows), another is cancelled mid-way, the reply
goes out and Twilio fetches the file by its signed MediaUrl; then a PDF to a resident in the
web chat reaches their socket by a link they can open. Each screen is saved to /tmp."""

from __future__ import annotations

import struct
import zlib

import aiohttp
import pytest

from tests.browser.conftest import AGENT, Resident, sign_in
from tests.browser.test_console import WHATSAPP_NAME, until, whatsapp_message

pytestmark = pytest.mark.e2e



def _png(width: int, height: int) -> bytes:
    """A real PNG of a soft gradient, stored uncompressed so it is large."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 190))
                           for x in range(width))
        for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


# A photo of a passport page large enough (about 1 MB) that its upload, at the throttled
# speed, takes a few seconds; and a residence certificate.
PASSPORT_PNG = _png(640, 540)
CERTIFICATE_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n" + b"arayis" * 500
THROTTLED = {"offline": False, "latency": 20, "downloadThroughput": -1,
             "uploadThroughput": 256 * 1024}


async def _fetch(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.read()


async def test_an_agent_attaches_files_sees_progress_and_they_reach_whatsapp_and_web_chat(
        twilio_system, twilio, open_page, http):
    system = twilio_system
    twilio.fake.fetch_media = _fetch          # Twilio fetches each MediaUrl, as it does
    await whatsapp_message(http, system)
    resident = Resident(http, system.base_url, "Rəşad Quliyev")
    await resident.say("Salam! Arayış almaq üçün hansı sənədlər lazımdır?")

    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    row = page.locator("#conversation-list .conv-row", has_text=WHATSAPP_NAME)
    await row.click()
    await page.locator("#composer[data-files='yes']").wait_for(state="attached")

    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", THROTTLED)
    await page.set_input_files("#attach-input", files=[
        {"name": "pasport.png", "mimeType": "image/png", "buffer": PASSPORT_PNG}])
    item = page.locator("#attach-list .attach-item").first
    # Part-way: the bar and the text say how far it is.
    await page.wait_for_function(
        "() => { const bar = document.querySelector('#attach-list .attach-progress');"
        " return bar && bar.value > 0 && bar.value < 100; }")
    assert "Uploading pasport.png:" in await item.locator(".attach-label").text_content()
    await page.screenshot(path="/tmp/console-attach-progress.png")

    # A second file, cancelled on its way, leaves nothing behind.
    await page.set_input_files("#attach-input", files=[
        {"name": "yanlış.png", "mimeType": "image/png", "buffer": PASSPORT_PNG}])
    second = page.locator("#attach-list .attach-item", has_text="yanlış.png")
    await second.locator(".attach-progress").wait_for()
    await second.locator(".attach-cancel").click()
    await second.wait_for(state="detached")

    await page.locator("#attach-list .attach-ready", has_text="pasport.png").wait_for(
        timeout=30_000)
    await cdp.send("Network.emulateNetworkConditions",
                   {**THROTTLED, "latency": 0, "uploadThroughput": -1})
    await page.fill("#composer-text", "Salam, Günel xanım! Pasportunuzun surətini göndərirəm.")
    await page.press("#composer-text", "Control+Enter")
    thread = page.locator("#thread")
    sent = thread.locator(".msg-out", has_text="Pasportunuzun surətini")
    image = sent.locator(".attachment-image img")
    await image.wait_for()
    await page.wait_for_function("img => img.complete && img.naturalWidth === 640",
                                 arg=await image.element_handle())
    assert await page.locator("#attach-list .attach-item").count() == 0

    requests = await until(lambda: _async([r for r in twilio.fake.requests
                                          if r.all("MediaUrl")]), timeout=30)
    [media_url] = requests[0].all("MediaUrl")
    assert media_url.startswith(f"{system.base_url}/media/")
    assert [(status, kind, body) for _, status, kind, body in twilio.fake.fetched_media] == [
        (200, "image/png", PASSPORT_PNG)]

    # The image opens larger over the page.
    await sent.locator(".attachment-image").click()
    viewer = page.locator("dialog.attach-viewer[open]")
    await viewer.wait_for()
    await page.wait_for_function("img => img.complete && img.naturalWidth === 640",
                                 arg=await viewer.locator("img").element_handle())
    await page.screenshot(path="/tmp/console-attach-viewer.png")
    await viewer.locator(".attach-viewer-close").click()

    # The web chat: a PDF, as a clear link in the console, reaching the resident's socket.
    chat_row = page.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev")
    await chat_row.click()
    await thread.locator(".msg-in", has_text="Arayış almaq").wait_for()
    await page.set_input_files("#attach-input", files=[
        {"name": "arayış.pdf", "mimeType": "application/pdf", "buffer": CERTIFICATE_PDF}])
    await page.locator("#attach-list .attach-ready", has_text="arayış.pdf").wait_for()
    await page.click("#composer-send")   # files alone: no text needed
    link = thread.locator(".msg-out .attachment-pdf")
    await link.wait_for()
    assert "arayış.pdf" in await link.text_content()
    while (message := await resident.next_reply(30))["author"]["kind"] != "agent":
        pass
    [attachment] = message["attachments"]
    assert attachment["filename"] == "arayış.pdf"
    async with http.get(system.base_url + attachment["url"]) as response:
        assert response.status == 200 and await response.read() == CERTIFICATE_PDF
    await resident.close()
    await page.screenshot(path="/tmp/console-attach.png")
    assert watched.errors == [] and watched.dialogs == []


async def _async(value):
    return value
