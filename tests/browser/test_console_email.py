"""E-mail conversations in the console, in a real browser against the real system: a
resident's mail shows its subject, from, to and cc, its attachments (through the media
route), the new text in full with the quoted part folded away and the original HTML behind
a toggle in a sandboxed frame, and a note about what could not be read; the reply box
composes a mail (the subject prefilled by the server's rule, the mailbox's signature) and
the agent's own subject goes out with the reply. The texts come in the page's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.context import open_context
from inbox.ingest import ingest
from inbox.messages import Attachment
from tests.browser.conftest import AGENT, sign_in
from tests.browser.test_console import PIXEL_PNG
from tests.conftest import TEST_CONFIG
from tests.e2e.support import System
from tests.web.email_samples import (
    CHILDCARE_SUBJECT,
    CHILDCARE_TEXT,
    DISABILITY_QUOTED,
    DISABILITY_SUBJECT,
    DISABILITY_TEXT,
    SIGNATURES,
    childcare_mail,
    disability_mail,
    mailbox_yaml,
)
from tests.web.test_attachment_previews import certificate_pdf

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp")
SCAN_PDF = certificate_pdf()
# The mail's two attachments as the e-mail channel stores them (media.directory).
FILES = (("tibbi-arayis.pdf", "application/pdf", SCAN_PDF),
         ("sexsiyyet-vesiqesi.png", "image/png", PIXEL_PNG))


@pytest.fixture
def mail_system(shared_system) -> System:
    """The system with the Baku No. 1 mailbox (and its signatures) configured, and media
    kept under the system's own directory."""
    text = TEST_CONFIG.read_text(encoding="utf-8")
    text = text.replace("    mailboxes: []\n", "    mailboxes:\n" + mailbox_yaml())
    return shared_system("mail", config_text=text)


async def receive_mails() -> tuple[int, int, int]:
    """Aygün's mail with two stored attachments, and Irina's: (conversation, its mail's
    message id, Irina's conversation)."""
    ctx = open_context(pool=False)
    try:
        described = tuple(Attachment(content_type=kind, filename=name, size=len(data))
                          for name, kind, data in FILES)
        first = await ingest(ctx, disability_mail(attachments=described))
        stored = []
        for index, (name, kind, data) in enumerate(FILES):
            relative = Path(str(first.message_id)) / f"{index}{Path(name).suffix}"
            (ctx.media_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (ctx.media_dir / relative).write_bytes(data)
            stored.append({"content_type": kind, "filename": name, "size": len(data),
                           "stored": str(relative),
                           "url": f"/api/v1/messages/{first.message_id}/attachments/{index}"})
        async with ctx.store.transaction() as tx:
            await tx.messages.update(first.message_id, attachments=stored)
        second = await ingest(ctx, childcare_mail())
    finally:
        await ctx.close()
    return first.conversation_id, first.message_id, second.conversation_id


async def test_a_mail_shows_its_facts_and_the_reply_composes_a_mail(mail_system, open_page):
    conversation_id, message_id, _ = await receive_mails()
    watched = await open_page()
    page = watched.page
    await sign_in(watched, mail_system.base_url, AGENT)
    row = page.locator(f'#conversation-list .conv-row[data-id="{conversation_id}"]')
    await row.wait_for()
    await row.click()
    mail = page.locator("#thread .msg-in .msg-mail")
    await mail.wait_for()

    assert await mail.locator(".mail-subject").text_content() == DISABILITY_SUBJECT
    assert await mail.locator(".mail-from").text_content() == \
        "Aygün Rəhimova <aygun.rehimova@mail.ru>"
    assert await mail.locator(".mail-to").text_content() == "baku1@dost.example.gov.az"
    assert await mail.locator(".mail-cc").text_content() == \
        "elvin.rehimov@gmail.com, Baku2 <baku2@dost.example.gov.az>"
    assert await mail.locator(".mail-head dt").all_text_contents() == \
        ["Subject", "From", "To", "Cc"]
    assert "The part “arayis.tif” could not be read" in \
        await mail.locator(".mail-notes").text_content()
    assert await mail.locator(".msg-body").text_content() == DISABILITY_TEXT

    # The attachments, through the media route (which checks who may see them).
    item = page.locator(f'#thread [data-message-id="{message_id}"]')
    pdf = item.locator(".attachments a.attachment-pdf")
    media = f"{mail_system.base_url}/api/v1/messages/{message_id}/attachments"
    assert await pdf.get_attribute("href") == f"{media}/0"
    assert "tibbi-arayis.pdf" in await pdf.text_content()
    image = item.locator(".attachments a.attachment-image:not(.attachment-pdf) img")
    assert await image.get_attribute("src") == f"{media}/1"
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=await image.element_handle())
    # The PDF shows as a picture of its first page, drawn by the server.
    preview = pdf.locator("img.attachment-preview")
    assert await preview.get_attribute("src") == f"{media}/0/preview"
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth >= 799", arg=await preview.element_handle())
    await pdf.scroll_into_view_if_needed()
    await page.screenshot(path=str(SHOTS / "console-email-pdf.png"))
    fetched = await page.evaluate(
        "url => fetch(url).then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b)))",
        f"{media}/0")
    assert bytes(fetched) == SCAN_PDF
    await item.evaluate("node => node.scrollIntoView({block: 'start'})")
    await page.screenshot(path=str(SHOTS / "console-email-mail.png"))

    # The quoted history is folded away until asked for.
    quoted = mail.locator(".mail-quoted")
    toggle = mail.locator(".mail-quoted-toggle")
    assert await quoted.is_hidden()
    assert (await toggle.text_content(), await toggle.get_attribute("aria-expanded")) == \
        ("Show quoted text", "false")
    await toggle.click()
    assert await quoted.is_visible()
    assert await quoted.text_content() == DISABILITY_QUOTED
    assert (await toggle.text_content(), await toggle.get_attribute("aria-expanded")) == \
        ("Hide quoted text", "true")

    # The original: the sanitized HTML in a sandboxed frame, built only when shown.
    original = mail.locator(".mail-original-toggle")
    assert await original.text_content() == "Show original"
    assert await mail.locator("iframe").count() == 0
    await original.click()
    frame_element = mail.locator("iframe.email-frame")
    await frame_element.wait_for()
    sandbox = await frame_element.get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    assert await frame_element.get_attribute("title") == \
        "E-mail from Aygün Rəhimova <aygun.rehimova@mail.ru>"
    frame = page.frame_locator("#thread .msg-mail iframe.email-frame")
    await frame.locator("b", has_text="şəxsiyyət vəsiqəmin surəti").wait_for()
    assert await frame.locator("script, [onclick]").count() == 0
    [inner] = [f for f in page.frames if f.url == "about:srcdoc"]
    assert await inner.evaluate("typeof window.__pwned") == "undefined"
    assert await original.text_content() == "Hide original"
    await quoted.evaluate("node => node.scrollIntoView({block: 'start'})")
    await page.screenshot(path=str(SHOTS / "console-email-opened.png"))

    # The reply box composes a mail: the server's subject, the mailbox's signature.
    subject = page.locator("#composer-subject")
    assert await subject.is_visible()
    assert await subject.input_value() == \
        f"Re: Əlillik dərəcəsinin təyini üçün müraciət [DOST-{conversation_id}]"
    assert await page.locator("#composer-subject-label").text_content() == "Reply subject"
    assert await page.locator("#composer-signature .signature-text").text_content() == \
        SIGNATURES["az"]
    await page.click('.composer-tabs button[data-mode="note"]')
    assert await subject.is_hidden()
    assert await page.locator("#composer-signature").is_hidden()
    await page.click('.composer-tabs button[data-mode="reply"]')
    assert await subject.is_visible()

    own = f"Sənədləriniz qəbul edildi [DOST-{conversation_id}]"
    await subject.fill(own)
    # Enter in the subject moves on to the text; it sends nothing.
    await subject.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "composer-text"
    await page.keyboard.type("Hörmətli Aygün xanım, sənədləriniz qəbul edildi.")
    await page.screenshot(path=str(SHOTS / "console-email-composer.png"))
    await page.press("#composer-text", "Control+Enter")
    sent = page.locator("#thread .msg-out", has_text="sənədləriniz qəbul edildi")
    await sent.wait_for()
    assert await sent.locator(".mail-subject").text_content() == own
    # The agent's subject stays for the next reply in this thread; the stored reply has it.
    assert await subject.input_value() == own
    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            rows = await tx.messages.of_conversation(conversation_id)
    finally:
        await ctx.close()
    [reply] = [r for r in rows if r["author_kind"] == "agent"]
    assert reply["extra"] == {"email": {"subject": own}}
    assert watched.errors == [] and watched.dialogs == []


async def test_a_plain_mail_in_a_russian_console(mail_system, open_page):
    """The e-mail texts follow the console's language: the agent (whose browser asks for
    English) chooses Russian in the top bar's switcher, and the page comes back in it."""
    _, _, conversation_id = await receive_mails()
    watched = await open_page()
    page = watched.page

    await sign_in(watched, mail_system.base_url, AGENT)
    async with page.expect_navigation():
        await page.select_option("#ui-language", "ru")
    await page.wait_for_selector('#live-state[data-state="live"]')
    assert await page.evaluate("document.documentElement.lang") == "ru"
    row = page.locator(f'#conversation-list .conv-row[data-id="{conversation_id}"]')
    await row.wait_for()
    # The centre's queue by its Russian name, in the list, the header and the filter.
    assert await row.locator(".row-queue").text_content() == "Бакинский центр DOST № 1"
    await row.click()
    assert await page.locator(".conv-header .meta-queue").text_content() == \
        "Бакинский центр DOST № 1"
    assert "Бакинский центр DOST № 1" in await page.locator(
        "#filter-queue option").all_text_contents()
    mail = page.locator("#thread .msg-in .msg-mail")
    await mail.wait_for()
    assert await mail.locator(".mail-head dt").all_text_contents() == ["Тема", "От", "Кому"]
    assert await mail.locator(".mail-subject").text_content() == CHILDCARE_SUBJECT
    assert await mail.locator(".mail-from").text_content() == \
        "Ирина Садыхова <irina.sadykhova@yandex.ru>"
    assert await mail.locator(".msg-body").text_content() == CHILDCARE_TEXT
    # Nothing quoted, no HTML, nothing unreadable: no toggles and no warning.
    assert await mail.locator(".mail-tools, .mail-notes, .mail-cc").count() == 0
    assert await page.locator("#composer-subject").input_value() == \
        f"Re: {CHILDCARE_SUBJECT} [DOST-{conversation_id}]"
    assert await page.locator("#composer-subject-label").text_content() == "Тема ответа"
    assert await page.locator("#composer-signature .label").text_content() == \
        "При отправке будет добавлена подпись:"
    assert await page.locator("#composer-signature .signature-text").text_content() == \
        SIGNATURES["ru"]
    # The contact's choices within their pane, the longer Russian labels wrapping beside them.
    for choice in ("#contact-language", "#contact-preferred-channel"):
        inside = await page.locator(choice).evaluate(
            "node => { const own = node.getBoundingClientRect(), pane = node.closest("
            "'#contact-pane').getBoundingClientRect(); return own.right <= pane.right && "
            "node.scrollWidth <= node.clientWidth + 1; }")
        assert inside, f"{choice} runs past the contact pane"
    await mail.evaluate("node => node.scrollIntoView({block: 'start'})")
    await page.screenshot(path=str(SHOTS / "console-email-russian.png"))
    assert watched.errors == [] and watched.dialogs == []
