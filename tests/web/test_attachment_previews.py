"""A resident's PDF is shown to agents as a picture of its first page (PDFium, inbox.previews):
drawn from the stored file for those who may see the conversation, kept once drawn, and a
clear 422 for what is not a PDF or cannot be drawn. Against the real app (SQLite and
PostgreSQL, real Redis), the PDF sent through the web chat as a resident sends it."""

from __future__ import annotations

import io

from PIL import Image

from inbox import previews
from tests.channels.webchat.test_channel import say_hello
from tests.channels.webchat.test_widget_protocol import PNG, client, config, say  # noqa: F401
from tests.web.test_api import people as people  # a fixture, used by name


def certificate_pdf() -> bytes:
    """A one-page PDF (A4) with a blue band across its top, as a scanner's output would carry
    a letterhead: small enough for the test deployment's 1 KiB limit."""
    content = b"0 0.2 0.8 rg 50 742 495 60 re f\n"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def test_the_first_page_is_drawn_to_the_preview_width():
    image = Image.open(io.BytesIO(previews.first_page_png(certificate_pdf())))
    # PDFium rounds a scaled size up: a pixel either way.
    assert image.format == "PNG" and abs(image.width - previews.PREVIEW_WIDTH) <= 1
    assert abs(image.height - round(842 * previews.PREVIEW_WIDTH / 595)) <= 1
    # The band runs 40 to 100 points below the page's top edge: 70 is inside it.
    red, _, blue = image.convert("RGB").getpixel((image.width // 2,
                                                  image.height * 70 // 842))
    assert blue > 150 and red < 60            # the band, drawn
    assert image.convert("RGB").getpixel((image.width // 2, image.height // 2)) == \
        (255, 255, 255)


def test_what_is_not_a_readable_pdf_has_no_preview():
    for broken in (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", PNG, b""):
        try:
            previews.first_page_png(broken)
        except previews.NoPreview:
            continue
        raise AssertionError(f"{broken[:12]!r} was drawn")


async def resident_sends(client, ctx, body: bytes, content_type: str,  # noqa: F811
                         name: str) -> int:
    async with client.ws_connect("/chat/ws") as ws:
        token = (await say_hello(ws))["session"]
        response = await client.post("/chat/upload", data=body, headers={
            "Content-Type": content_type, "X-Chat-Session": token, "X-Filename": name})
        assert response.status == 201, await response.text()
        ack = await say(ws, "c-1", "Arayışım əlavədədir, qeydiyyat üçün",
                        attachments=[(await response.json())["upload"]])
    return ack["message_id"]


async def test_those_who_see_the_conversation_see_its_pdf_drawn(client, ctx, people):  # noqa: F811
    message_id = await resident_sends(client, ctx, certificate_pdf(), "application/pdf",
                                      "arayis.pdf")
    url = f"/api/v1/messages/{message_id}/attachments/0/preview"
    response = await client.get(url, headers=people["nigar"].headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    first = await response.read()
    assert abs(Image.open(io.BytesIO(first)).width - previews.PREVIEW_WIDTH) <= 1
    async with ctx.store.read() as tx:
        [item] = (await tx.messages.get(message_id))["attachments"]
    kept = ctx.media_dir / (item["stored"] + ".preview.png")
    assert kept.read_bytes() == first          # drawn once, kept beside the file
    again = await client.get(url, headers=people["nigar"].headers)
    assert await again.read() == first
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(
            (await tx.messages.get(message_id))["conversation_id"])
    # Leyla works the two migration queues, Rauf the 142 line: whichever it is not in.
    outsider = people["rauf"] if conversation["queue"].startswith("migration-") \
        else people["leyla"]
    refused = await client.get(url, headers=outsider.headers)
    assert (refused.status, (await refused.json())["code"]) == (403, "outside_queues")
    missing = await client.get(f"/api/v1/messages/{message_id}/attachments/1/preview",
                               headers=people["nigar"].headers)
    assert missing.status == 404


async def test_a_photo_or_an_unreadable_pdf_answers_no_preview(client, ctx, people):  # noqa: F811
    for body, content_type in ((PNG, "image/png"),
                               (b"%PDF-1.7\n" + b"0" * 300, "application/pdf")):
        message_id = await resident_sends(client, ctx, body, content_type, "sened")
        response = await client.get(f"/api/v1/messages/{message_id}/attachments/0/preview",
                                    headers=people["nigar"].headers)
        assert (response.status, (await response.json())["code"]) == (422, "no_preview")
