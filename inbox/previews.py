"""A picture of a PDF's first page, so an agent sees a resident's document in the console
without opening it: rendered by PDFium from the stored file into a PNG. The agent's browser
gets only the picture, never the PDF (no viewer plugin runs, no script in the document can).
Pure: bytes in, bytes out; the web layer runs it off the event loop and keeps the result."""

from __future__ import annotations

import io

import pypdfium2 as pdfium

PREVIEW_WIDTH = 800        # pixels: readable in the console's viewer
MAX_HEIGHT = 2400          # a very tall page is drawn smaller rather than as a huge image


class NoPreview(Exception):
    """The file cannot be drawn (not a PDF PDFium reads, encrypted, no pages)."""


def first_page_png(pdf: bytes, width: int = PREVIEW_WIDTH) -> bytes:
    try:
        document = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as exc:
        raise NoPreview(f"not a readable PDF: {exc}") from None
    try:
        if len(document) == 0:
            raise NoPreview("the PDF has no pages")
        page = document[0]
        page_width, page_height = page.get_size()
        if page_width <= 0 or page_height <= 0:
            raise NoPreview("the first page has no size")
        scale = min(width / page_width, MAX_HEIGHT / page_height)
        # Forms are left out: a filled-in field is drawn as the page shows it, no more.
        image = page.render(scale=scale, may_draw_forms=False).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()
    finally:
        document.close()
