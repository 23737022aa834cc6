"""The residents' chat page in a real browser against the real system: it speaks the browser's
language when not told one, and so do the errors it shows, over-length and over the limit."""

from __future__ import annotations

import pytest

from tests.browser.conftest import TIMEOUT_MS

pytestmark = pytest.mark.e2e


async def test_a_russian_browser_gets_the_chat_and_its_errors_in_russian(system, browser):
    context = await browser.new_context(viewport={"width": 420, "height": 720},
                                        locale="ru-RU", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(system.base_url + "/chat")
    assert await page.get_attribute("html", "lang") == "ru"
    assert await page.text_content("h1") == "Онлайн-обращение"
    await page.wait_for_function("document.getElementById('status').textContent === 'Подключено'")
    # A new resident meets the pre-chat form first: consent, and (nobody online) a phone.
    await page.fill("#phone", "+994 50 123 45 67")
    await page.check("#consent")
    await page.click("#prechat button[type=submit]")

    await page.fill("#text", "Здравствуйте, где мой паспорт?")
    await page.press("#text", "Enter")
    await page.wait_for_selector("#messages li.in[data-message-id]")

    # The textarea stops typing at the limit; a script does not.
    await page.evaluate("document.getElementById('text').value = 'я'.repeat(4001)")
    await page.press("#text", "Enter")
    await page.wait_for_selector("#error:not([hidden])")
    assert await page.text_content("#error") == ("Ваше сообщение длиннее 4000 символов. "
                                                 "Пожалуйста, сократите его.")

    # The session may send 20 messages at once (the test deployment's limit); one is in. The
    # next 20 go at once, as a script would send them: well before one more is earned (3 s).
    await page.evaluate("""() => {
        const text = document.getElementById("text");
        const composer = document.getElementById("composer");
        for (let n = 0; n < 20; n++) { text.value = "Сообщение " + n; composer.requestSubmit(); }
    }""")
    await page.wait_for_function(
        "document.getElementById('error').textContent.indexOf('слишком часто') >= 0")
    assert await page.text_content("#error") == ("Вы отправляете сообщения слишком часто. "
                                                 "Подождите немного и попробуйте снова.")
    # Every message is either stored or refused (it stays unconfirmed): none is lost unsaid.
    await page.wait_for_function(
        "document.querySelectorAll('#messages li.in[data-message-id]').length"
        " + document.querySelectorAll('#messages li.in.pending').length === 22")
    await page.screenshot(path="/tmp/chat-ru.png")
    assert await page.locator("#messages li.in[data-message-id]").count() == 20
    assert errors == []
    await context.close()
