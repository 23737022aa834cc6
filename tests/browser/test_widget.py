"""The chat widget on another site, in a real browser against the real system: a page served
from another origin embeds `/chat/widget.js`; the resident fills the pre-chat form and
writes, an agent types and replies through the API, a photo goes up, the page reloads and the
history is back, the agent resolves and the widget offers a new conversation; the rating
question's buttons come back with a reload until one is pressed; offline mode asks for a
phone; axe-core finds no serious violation; a site not allowed gets no chat.

Screenshots of the steps go to var/test-artifacts/widget/ (git-ignored)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.browser.conftest import (
    AGENT,
    STAND_INS,
    TIMEOUT_MS,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    _start,
    _stop,
    sign_in,
)
from tests.conftest import ROOT, TEST_CONFIG
from tests.e2e.support import System

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "var" / "test-artifacts" / "widget"
# A 1x1 PNG: what a phone's photo of a document is, as far as the server can tell.
PHOTO = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
                         "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
# The host page does what careless sites do: styles every element its own way.
HOST_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>Reintegration</title><style>
  * {{ font-family: "Comic Sans MS", cursive !important; color: #c00 !important; }}
  div, button, iframe, form {{ display: none !important; }}
  body {{ background: #222; }}
</style></head><body><h1>Ministry site</h1><p>Some page.</p>
<script src="{app}/chat/widget.js" async></script></body></html>"""


@dataclass
class Host:
    allowed: str      # http://localhost:PORT: listed in allowed_origins
    other: str        # http://127.0.0.1:PORT: the same server, an origin not listed


@pytest.fixture(scope="session")
def host_site() -> tuple[Host, dict]:
    """A second local site: /?app=URL&lang=xx embeds the widget of the app at URL."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=HOST_PAGE.format(app=request.query["app"],
                                                  lang=request.query.get("lang", "en")),
                            content_type="text/html")

    async def framing(request: web.Request) -> web.Response:
        return web.Response(text=f'<!doctype html><iframe src="{request.query["app"]}/chat?'
                                 'embed=1" title="chat"></iframe>', content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/frame", framing)
    port = STAND_INS.serve(app)   # for the session: the shared system's config names it
    return Host(f"http://localhost:{port}", f"http://127.0.0.1:{port}"), {}


def _config(tmp_path: Path, host: Host, *, open_always: bool,
            away_after: str | None = None) -> Path:
    """The test deployment, with the host site allowed and business hours of our choosing."""
    config = yaml.safe_load(TEST_CONFIG.read_text("utf-8"))
    config["channels"]["webchat"]["allowed_origins"].append(host.allowed)
    if away_after is not None:
        config["channels"]["webchat"]["away_after"] = away_after
    config["channels"]["webchat"]["privacy_url"] = "https://example.gov.az/privacy"
    if open_always:
        config["business_hours"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    "open": "00:00", "close": "23:59", "holidays": None}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return path


@pytest.fixture
def widget_system(shared_system, tmp_path, host_site) -> tuple[System, Host]:
    host, _ = host_site
    config = _config(tmp_path, host, open_always=True)
    return shared_system("widget", config_text=config.read_text("utf-8")), host


async def _agent(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with http.post(f"{base}/api/v1/auth/login",
                         json={"email": AGENT[0], "password": AGENT[1]}) as response:
        assert response.status == 200
        auth = {"Authorization": f"Bearer {(await response.json())['token']}"}
    async with http.post(f"{base}/api/v1/me/presence", json={"presence": "online"},
                         headers=auth) as response:
        assert response.status == 200
    return auth


async def _webchat_conversation(http, base: str, auth) -> dict:
    async with http.get(f"{base}/api/v1/conversations?channel=webchat", headers=auth) as r:
        items = (await r.json())["items"]
    assert len(items) == 1
    async with http.get(f"{base}/api/v1/conversations/{items[0]['id']}", headers=auth) as r:
        return await r.json()


async def _eventually(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)


async def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def _open_widget(page, url: str):
    await page.goto(url)
    button = page.locator("contact-centre-chat button")
    await button.click()
    await page.wait_for_selector("contact-centre-chat iframe")
    frame = page.frame_locator("contact-centre-chat iframe")
    await frame.locator("#status").filter(has_text="Connected").wait_for()
    return button, frame


async def _typing_events(http, base, auth, found: list[dict], connected: asyncio.Event) -> None:
    async with http.get(f"{base}/api/v1/stream", headers=auth) as response:
        event = None
        async for line in response.content:
            text = line.decode().strip()
            if text == ": connected":
                connected.set()
            elif text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: ") and event == "conversation.typing":
                found.append(json.loads(text[6:]))


async def _resident_page(browser):
    """A resident's desktop browser in Baku: its context, a page on it and the script
    errors the page raises."""
    context = await browser.new_context(viewport={"width": 1024, "height": 760},
                                        locale="en-GB", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


async def test_a_resident_chats_from_another_site(widget_system, browser, http):
    system, host = widget_system
    base = system.base_url
    auth = await _agent(http, base)
    context, page, errors = await _resident_page(browser)
    url = f"{host.allowed}/?app={base}&lang=en"

    button, frame = await _open_widget(page, url)
    assert await button.get_attribute("aria-expanded") == "true"
    # The host's "display: none" on every button and iframe reaches neither.
    assert await button.is_visible()
    prechat = frame.locator("#prechat")
    await prechat.wait_for()
    assert await frame.locator("#composer").is_hidden()
    await _shot(page, "1-prechat")

    # Consent is required: the form says so rather than going on.
    await frame.locator("#name").fill("Aysel Məmmədova")
    await frame.locator("#phone").fill("+994 50 123 45 67")
    await frame.get_by_role("button", name="Start the chat").click()
    assert await frame.locator("#prechat-error").text_content() == (
        "Please agree to the privacy notice to continue.")
    await frame.locator("#consent").check()
    await frame.get_by_role("button", name="Start the chat").click()
    await frame.locator("#text").fill("Salam, pensiya haqqında sualım var")
    await frame.locator("#text").press("Enter")
    await frame.locator("#messages li.in[data-message-id]").wait_for()

    conversation = await _webchat_conversation(http, base, auth)
    first = conversation["messages"][0]
    assert first["body"] == "Salam, pensiya haqqında sualım var"
    assert conversation["contact"]["name"] == "Aysel Məmmədova"

    # The resident's typing reaches a console that may see the conversation, as a live event.
    typing: list[dict] = []
    connected = asyncio.Event()
    listening = asyncio.create_task(_typing_events(http, base, auth, typing, connected))
    await asyncio.wait_for(connected.wait(), 10)
    await asyncio.sleep(2.1)   # typing is passed on at most every 2 s; the first message typed
    await frame.locator("#text").press_sequentially("Bir")
    async def typed() -> list[dict]:
        return typing
    assert await _eventually(typed), "no conversation.typing event"
    listening.cancel()
    assert typing[0] == {"conversation_id": conversation["id"], "who": "resident"}
    await frame.locator("#text").fill("")

    # The agent's typing, then the reply, reach the widget.
    cid = conversation["id"]
    async with http.post(f"{base}/api/v1/conversations/{cid}/typing", headers=auth) as r:
        assert r.status == 204
    await frame.locator("#typing").filter(has_text="An officer is typing…").wait_for()
    await _shot(page, "2-agent-typing")
    async with http.post(f"{base}/api/v1/conversations/{cid}/messages", headers=auth,
                         json={"body": "Salam! Sualınızı yazın, kömək edək."}) as r:
        assert r.status == 201
        reply_id = (await r.json())["id"]
    await frame.locator("#messages li.out").filter(has_text="kömək edək").wait_for()
    assert await frame.locator("#typing").is_hidden()
    await _shot(page, "3-reply")

    # Shown in an open window: read, for the agent.
    async def reply_read() -> bool:
        c = await _webchat_conversation(http, base, auth)
        return next(m for m in c["messages"] if m["id"] == reply_id)["delivery_status"] == "read"
    assert await _eventually(reply_read), "the reply was not marked read"

    # A photo of a document.
    await frame.locator("#file").set_input_files(files=[{
        "name": "passport.png", "mimeType": "image/png", "buffer": PHOTO}])
    await frame.locator("#attachment-name").filter(has_text="passport.png").wait_for()
    await frame.locator("#text").fill("Pasportun şəkli")
    await frame.locator("#text").press("Enter")
    await frame.locator("#messages li.in[data-message-id]").nth(1).wait_for()
    await _shot(page, "4-photo")

    async def photo_kept() -> dict | None:
        c = await _webchat_conversation(http, base, auth)
        photo = next((m for m in c["messages"] if m["body"] == "Pasportun şəkli"), None)
        return photo if photo and photo["attachments"] and photo["attachments"][0]["url"] \
            else None
    photo = await _eventually(photo_kept)
    assert photo, "the photo did not arrive in the conversation"
    attachment = photo["attachments"][0]
    assert (attachment["content_type"], attachment["filename"], attachment["size"]) == (
        "image/png", "passport.png", len(PHOTO))
    async with http.get(base + attachment["url"], headers=auth) as r:
        assert await r.read() == PHOTO

    # A reload: the history is back (the session token is in the browser's storage).
    button, frame = await _open_widget(page, url)
    await frame.locator("#messages li").filter(has_text="Pasportun şəkli").wait_for()
    texts = await frame.locator("#messages li").all_text_contents()
    # The resident's first message, the acknowledgement, the reply, the photo.
    assert [next(i for i, text in enumerate(texts) if part in text) for part in (
        "Salam, pensiya", "your request has been received", "kömək edək",
        "Pasportun şəkli")] == [0, 1, 2, 3]
    assert "passport.png" in texts[3]
    assert await frame.locator("#prechat").is_hidden()
    await _shot(page, "5-reloaded")

    # The agent resolves: the widget says so and offers a new conversation.
    async with http.post(f"{base}/api/v1/conversations/{cid}/status", headers=auth,
                         json={"status": "resolved"}) as r:
        assert r.status == 200
    await frame.locator("#resolved").wait_for()
    assert await frame.locator("#composer").is_hidden()
    await _shot(page, "6-resolved")
    await frame.get_by_role("button", name="New conversation").click()
    await frame.locator("#text").wait_for()
    assert await frame.locator("#messages li").count() == 0

    # Escape closes the window and gives the focus back to the button.
    await frame.locator("#text").press("Escape")
    assert await button.get_attribute("aria-expanded") == "false"
    assert await page.locator("contact-centre-chat iframe").is_hidden()
    assert errors == []
    await context.close()


async def test_offline_the_widget_says_so_and_collects_a_phone(environment, tmp_path,
                                                                host_site, browser, http,
                                                                twilio, open_page):
    host, _ = host_site
    # Business hours all day, but no agent online: offline. A resident who closed the chat
    # is not waited for (`away_after: 0s`): the agent's answer goes by SMS at once.
    system = await _start(environment, tmp_path, {
        "CC_CONFIG": str(_config(tmp_path, host, open_always=True, away_after="0s")),
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_API_BASE": twilio.base_url})
    try:
        base = system.base_url
        context = await browser.new_context(viewport={"width": 390, "height": 740},
                                            locale="ru-RU", timezone_id="Asia/Baku")
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        _, frame = await _open_widget_ru(page, f"{host.allowed}/?app={base}&lang=ru")
        notice = frame.locator("#availability")
        await notice.wait_for()
        assert (await notice.text_content()).startswith("Сейчас нет свободных сотрудников.")
        assert await frame.locator("#contact-hint").text_content() == (
            "Укажите телефон или адрес почты: мы пришлём ответ туда.")
        await frame.locator("#consent").check()
        await frame.get_by_role("button", name="Начать чат").click()
        assert await frame.locator("#prechat-error").text_content() == (
            "Укажите телефон или адрес почты: мы пришлём ответ туда.")
        await frame.locator("#phone").fill("+994 55 765 43 21")
        await frame.get_by_role("button", name="Начать чат").click()
        await frame.locator("#text").fill("Когда будет готова моя справка?")
        await frame.locator("#text").press("Enter")
        await frame.locator("#messages li.in[data-message-id]").wait_for()
        await _shot(page, "7-offline-mobile")
        # Nothing written is lost: the message is stored, and where the answer should go is
        # the resident's, shown to the agent who opens the conversation.
        message_id = int(await frame.locator("#messages li.in").get_attribute(
            "data-message-id"))
        rows = system.run(["-c", (
            "import asyncio, json\n"
            "from inbox.context import open_context\n"
            "async def main():\n"
            "    ctx = open_context(pool=False)\n"
            "    async with ctx.store.read() as tx:\n"
            f"        m = await tx.messages.get({message_id})\n"
            "    print(json.dumps([m['body'], m['extra'], m['conversation_id']]))\n"
            "    await ctx.close()\n"
            "asyncio.run(main())\n")])
        body, extra, conversation_id = json.loads(rows.stdout.strip().splitlines()[-1])
        assert body == "Когда будет готова моя справка?"
        assert extra == {"offline": "no_agent"}
        await context.close()   # the resident leaves

        auth = await _agent(http, base)
        url = f"{base}/api/v1/conversations/{conversation_id}"
        async with http.get(url, headers=auth) as response:
            assert (await response.json())["reply_to"]["phone"] == "+994557654321"
        async with http.post(f"{url}/messages", headers=auth,
                             json={"body": "Ваша справка готова."}) as response:
            assert response.status == 201
            reply_id = (await response.json())["id"]
        deadline = asyncio.get_running_loop().time() + 30
        while not twilio.fake.requests:
            assert asyncio.get_running_loop().time() < deadline, "no SMS reached Twilio"
            await asyncio.sleep(0.2)
        [sms] = twilio.fake.requests
        assert (sms.field("To"), sms.field("Body")) == ("+994557654321", "Ваша справка готова.")
        async with http.get(url, headers=auth) as response:
            reply = next(m for m in (await response.json())["messages"]
                         if m["id"] == reply_id)
        assert reply["sent_by"]["channel"] == "sms"

        # The agent's console shows where the answer goes, and that it went by SMS (en).
        watched = await open_page()
        await sign_in(watched, base, AGENT)
        console = watched.page
        await console.locator(f'#conversation-list .conv-row[data-id="{conversation_id}"]').click()
        await console.locator("#conv-reply-to").filter(has_text="+994557654321").wait_for()
        assert await console.locator("#conv-reply-to").text_content() == (
            "Answer when away from the chat: +994557654321")
        route = console.locator("#thread .msg-out .delivery-route")
        await route.wait_for()
        assert (await route.text_content()).startswith("Sent by SMS to +99455")
        assert watched.errors == []
    finally:
        _stop(system)


async def _open_widget_ru(page, url: str):
    await page.goto(url)
    button = page.locator("contact-centre-chat button")
    assert await button.get_attribute("aria-label") == "Открыть чат"
    await button.click()
    frame = page.frame_locator("contact-centre-chat iframe")
    await frame.locator("#status").filter(has_text="Подключено").wait_for()
    return button, frame


async def test_the_open_widget_has_no_serious_accessibility_violations(widget_system, browser,
                                                                       axe_script):
    system, host = widget_system
    context = await browser.new_context(viewport={"width": 390, "height": 740},
                                        locale="az-AZ", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{host.allowed}/?app={system.base_url}&lang=az")
    button = page.locator("contact-centre-chat button")
    # Keyboard only: Tab reaches the button, Enter opens the chat, focus goes into it.
    await page.keyboard.press("Tab")
    assert await page.evaluate(
        "document.activeElement.tagName.toLowerCase()") == "contact-centre-chat"
    await page.keyboard.press("Enter")
    frame_element = page.locator("contact-centre-chat iframe")
    await frame_element.wait_for()
    frame = page.frame_locator("contact-centre-chat iframe")
    await frame.locator("#status").filter(has_text="Qoşuldu").wait_for()
    await frame.locator("#prechat").wait_for()
    assert await button.get_attribute("aria-expanded") == "true"
    chat = next(f for f in page.frames if f.url.startswith(system.base_url + "/chat"))
    await chat.wait_for_function("document.activeElement && document.activeElement.id === 'name'")
    order = []
    for _ in range(6):
        order.append(await chat.evaluate("document.activeElement.id"))
        await page.keyboard.press("Tab")
    assert order[:5] == ["name", "phone", "email", "consent", "privacy-link"], order
    await _shot(page, "8-keyboard")

    # The same pinned axe-core as the console's checks (tests/browser/package-lock.json).
    await chat.add_script_tag(path=str(axe_script))
    results = await chat.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})")
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]])
               for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    # And the conversation view, with the composer.
    await chat.fill("#phone", "+994 50 123 45 67")   # nobody is online: a phone is asked for
    await chat.check("#consent")
    await chat.click("#prechat button[type=submit]")
    await chat.wait_for_selector("#composer:not([hidden])")
    results = await chat.evaluate("axe.run(document)")
    serious = [(v["id"], [n["target"] for n in v["nodes"]])
               for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    # The host page's part, the button in its shadow root.
    await page.add_script_tag(path=str(axe_script))
    results = await page.evaluate("axe.run(document.querySelector('contact-centre-chat'))")
    assert [v["id"] for v in results["violations"]
            if v["impact"] in ("serious", "critical")] == []
    await context.close()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_palette_meets_wcag_aa_contrast():
    """Every text colour of static/chat.css on the background it is used on: 4.5:1 (AA for
    text); the focus ring and control borders 3:1 against white (AA for non-text)."""
    css = (ROOT / "static" / "chat.css").read_text("utf-8")
    var = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", css))
    text_pairs = [(var["ink"], var["paper"]), (var["muted"], var["paper"]),
                  (var["ink"], var["soft"]), (var["muted"], var["soft"]),
                  ("#ffffff", var["brand"]), ("#ffffff", "#2f6db5"),
                  (var["error-ink"], var["error-bg"]), ("#4a3700", "#fff4d6"),
                  (var["brand"], var["paper"])]
    assert [pair for pair in text_pairs if contrast(*pair) < 4.5] == []
    assert contrast(var["focus"], var["paper"]) >= 3 and contrast(var["line"], var["paper"]) >= 3
    assert contrast("#ffffff", var["brand"]) >= 3   # the focus ring on the header


async def test_a_site_not_allowed_gets_no_chat(widget_system, browser, http):
    system, host = widget_system
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    await page.goto(f"{host.other}/?app={system.base_url}")
    await page.wait_for_function("window.__contactCentreChat === true")
    assert await page.locator("contact-centre-chat").count() == 0
    assert any("is not in channels.webchat.allowed_origins" in w for w in warnings)
    # Framed by hand, the chat page is refused by the browser (frame-ancestors)...
    await page.goto(f"{host.other}/frame?app={system.base_url}")
    await page.wait_for_timeout(1000)
    chat = [f for f in page.frames if f != page.main_frame]
    assert chat and await chat[0].evaluate("document.getElementById('text')") is None
    # ...and its socket is refused before the upgrade.
    closed = await page.evaluate("""(url) => new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = () => resolve("closed");
    })""", system.base_url.replace("http", "ws") + "/chat/ws")
    assert closed == "closed"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{system.base_url}/chat/ws", headers={"Origin": host.other})
    assert refused.value.status == 403


async def test_typing_shows_both_ways_between_the_widget_and_the_console(widget_system, browser,
                                                                         open_page):
    system, host = widget_system
    console = await open_page()
    await sign_in(console, system.base_url, AGENT)
    context = await browser.new_context(viewport={"width": 1024, "height": 760},
                                        locale="en-GB", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _, frame = await _open_widget(page, f"{host.allowed}/?app={system.base_url}&lang=en")
    await frame.locator("#name").fill("Rəşad Quliyev")
    await frame.locator("#phone").fill("+994 70 111 22 33")
    await frame.locator("#consent").check()
    await frame.locator("#prechat button[type=submit]").click()
    await frame.locator("#text").fill("Salam, qeydiyyat barədə sualım var")
    await frame.locator("#text").press("Enter")
    await frame.locator("#messages li.in[data-message-id]").wait_for()

    row = console.page.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev")
    await row.click()
    typing = console.page.locator("#resident-typing")
    assert await typing.is_hidden()
    await page.wait_for_timeout(2100)   # typing is passed on at most every 2 s
    await frame.locator("#text").press_sequentially("Bir sual")
    await typing.wait_for()
    await console.page.locator("#composer-text").press_sequentially("Salam")
    await frame.locator("#typing").filter(has_text="An officer is typing…").wait_for()
    await _shot(console.page, "9-console-resident-typing")
    assert console.errors == []
    await context.close()


async def test_the_rating_question_keeps_its_buttons_over_a_reload_until_pressed(
        widget_system, browser, http):
    system, host = widget_system
    base = system.base_url
    auth = await _agent(http, base)
    context, page, errors = await _resident_page(browser)
    url = f"{host.allowed}/?app={base}&lang=en"
    _, frame = await _open_widget(page, url)
    await frame.locator("#name").fill("Aysel Məmmədova")
    await frame.locator("#consent").check()
    await frame.get_by_role("button", name="Start the chat").click()
    await frame.locator("#text").fill("Salam, pensiya haqqında sualım var")
    await frame.locator("#text").press("Enter")
    await frame.locator("#messages li.in[data-message-id]").wait_for()
    cid = (await _webchat_conversation(http, base, auth))["id"]
    async with http.post(f"{base}/api/v1/conversations/{cid}/status", headers=auth,
                         json={"status": "resolved"}) as r:
        assert r.status == 200
    # The worker's surveys consumer asks within its interval (10 s), the delivery job sends.
    question = frame.locator("#messages li.out").filter(has_text="from 1 to 5")
    await question.locator(".choices button").first.wait_for(timeout=45_000)

    # A reload replays the history: the question still waits, so its buttons are back.
    _, frame = await _open_widget(page, url)
    question = frame.locator("#messages li.out").filter(has_text="from 1 to 5")
    buttons = question.locator(".choices button")
    await buttons.first.wait_for()
    assert await buttons.all_text_contents() == ["1", "2", "3", "4", "5"]
    assert not await buttons.nth(4).is_disabled()
    await _shot(page, "7-rating-replayed")
    assert await frame.locator("#resolved").is_visible()
    await buttons.nth(4).click()
    # The message this window sent (a clock such as 05:59 would match "5" in the first too).
    await frame.locator("#messages li.in[data-client-id][data-message-id]").filter(
        has_text="5").wait_for()
    assert all([await buttons.nth(n).is_disabled() for n in range(5)])   # spent
    # The rating answered the resolved conversation: the window still offers a new one.
    assert await frame.locator("#resolved").is_visible()
    assert await frame.locator("#composer").is_hidden()
    await _shot(page, "7b-rating-pressed")

    async def rated() -> bool:
        async with http.get(f"{base}/api/v1/conversations/{cid}", headers=auth) as r:
            shown = await r.json()
        return shown["status"] == "resolved" and any(
            e["type"] == "survey_answered" and e["data"]["score"] == 5 for e in shown["events"])
    assert await _eventually(rated), "the rating was not stored"

    # Answered: a reload shows the question without buttons.
    _, frame = await _open_widget(page, url)
    question = frame.locator("#messages li.out").filter(has_text="from 1 to 5")
    await question.wait_for()
    assert await question.locator(".choices button").count() == 0
    await _shot(page, "8-rating-answered")
    assert errors == []
    await context.close()
