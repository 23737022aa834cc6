"""Input no provider or browser should send reaches no channel as a 500 or a dropped socket:
webhook bodies that are not UTF-8 text are a 400 before the signature is even computed, and
chat frames holding lone surrogates, NUL characters or bottomless nesting get an error frame
on a socket that keeps working. Nothing is stored and no traceback is logged.
"""

from __future__ import annotations

import io
import logging
from urllib.parse import urlencode

import aiohttp
import pytest

from app import create_app
from channels.webchat.errors import error_frame
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGING_URL,
    PUBLIC_URL,
    STATUS_URL,
    all_messages,
    fixture,
    sign,
)
from tests.channels.webchat.test_channel import inbound_rows, receive, say_hello, send_text
from tests.inbox.test_bad_input import snapshot, tracebacks
from web.appkeys import INTAKE

VOICE_URL = PUBLIC_URL + "/webhooks/twilio/voice"


@pytest.fixture
async def client(environment, config, monkeypatch, aiohttp_client):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


async def post_raw(client, url: str, body: bytes, headers: dict[str, str] | None = None):
    response = await client.post(url.removeprefix(PUBLIC_URL), data=io.BytesIO(body), headers={
        "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    await client.app[INTAKE].settled()
    return response


# Refused before anything is read into the database: one database is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_webhook_body_that_is_not_utf8_is_a_400(client, ctx, caplog):
    form = urlencode(fixture("sms_inbound.txt")).encode()
    before = await snapshot(ctx)
    for body in [form + b"&Body=Salam+\xff\xfe",                 # raw bytes
                 form.replace(b"Body=", b"Body=%FF"),            # percent-encoded
                 form.replace(b"Body=", b"Body=%ED%A0%80")]:     # an encoded surrogate
        for url in (MESSAGING_URL, STATUS_URL, VOICE_URL):
            response = await post_raw(client, url, body, {"X-Twilio-Signature": "x"})
            assert response.status == 400, (url, body, await response.text())
            assert await response.json() == {"error": "the form is not UTF-8 text"}
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_a_signed_form_holding_a_nul_is_a_400(client, ctx, caplog):
    form = fixture("sms_inbound.txt", Body="Salam\x00")
    before = await snapshot(ctx)
    response = await post_raw(client, MESSAGING_URL, urlencode(form).encode(),
                              {"X-Twilio-Signature": sign(MESSAGING_URL, form)})
    assert response.status == 400
    assert await response.json() == {
        "error": "the form holds a NUL character (\\u0000), which cannot be stored"}
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_a_declared_charset_does_not_change_how_the_form_is_read(client, ctx, caplog):
    """Twilio's forms are UTF-8 whatever the header says; an unknown charset is no 500."""
    form = fixture("sms_inbound.txt", Body="Salam, Günəş")
    for charset in ("no-such-charset", "latin-1"):
        response = await post_raw(client, MESSAGING_URL, urlencode(form).encode(), {
            "Content-Type": f"application/x-www-form-urlencoded; charset={charset}",
            "X-Twilio-Signature": sign(MESSAGING_URL, form)})
        assert response.status == 200, charset
    [message] = [m for m in await all_messages(ctx) if m["direction"] == "in"]
    assert message["body"] == "Salam, Günəş"
    assert tracebacks(caplog) == []


async def test_an_unsigned_utf8_form_is_still_a_403(client, ctx):
    response = await post_raw(client, MESSAGING_URL,
                              urlencode(fixture("sms_inbound.txt")).encode())
    assert response.status == 403
    assert await all_messages(ctx) == []


# --- the chat socket --------------------------------------------------------------------------

# The resident's language (az here) says what happened; programs match on the code.
LONE_SURROGATE = error_frame("unstorable", "az", detail="a string holds a lone surrogate "
                             "(\\ud800-\\udfff), which is not Unicode text")


async def test_a_frame_with_a_lone_surrogate_gets_an_error_and_the_socket_stays(client, ctx,
                                                                                caplog):
    async with client.ws_connect("/chat/ws") as ws:
        await ws.send_str('{"type": "hello", "session": null, "name": "G\\ud800", '
                          '"language": "az"}')
        assert await receive(ws) == LONE_SURROGATE
        await say_hello(ws)
        await ws.send_str('{"type": "message", "id": "c-1", "text": "Salam \\udfff"}')
        assert await receive(ws) == {**LONE_SURROGATE,
                                     "id": "c-1"}
        await ws.send_str('{"type": "message", "id": "c-\\ud800", "text": "Salam"}')
        error = await receive(ws)
        assert {k: error[k] for k in LONE_SURROGATE} == LONE_SURROGATE
        assert await inbound_rows(ctx) == []
        ack = await send_text(ws, "c-2", "Salam \U0001F600")        # a pair is fine
        assert ack["type"] == "ack"
    [row] = await inbound_rows(ctx)
    assert row["body"] == "Salam \U0001F600"
    assert tracebacks(caplog) == []


async def test_a_frame_with_a_nul_or_nested_too_deeply_gets_an_error(client, ctx, caplog):
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        await ws.send_str('{"type": "message", "id": "c-1", "text": "Salam\\u0000"}')
        assert await receive(ws) == {"id": "c-1", **error_frame(
            "unstorable", "az",
            detail="a string holds a NUL character (\\u0000), which cannot be stored")}
        await ws.send_str("[" * 100_000)
        assert await receive(ws) == error_frame("unstorable", "az", detail="nested too deeply")
        assert (await send_text(ws, "c-2", "Salam"))["type"] == "ack"
    assert [r["body"] for r in await inbound_rows(ctx)] == ["Salam"]
    assert tracebacks(caplog) == []


async def test_a_text_frame_that_is_not_utf8_closes_the_socket_without_a_traceback(
        client, ctx, caplog):
    """RFC 6455 fails the connection (1007) on a text frame that is not UTF-8; aiohttp does
    that before the frame reaches the handler."""
    async with client.ws_connect("/chat/ws") as ws:
        await say_hello(ws)
        await ws._writer.send_frame(b'{"type": "typing", "x": "\xed\xa0\x80"}',
                                    aiohttp.WSMsgType.TEXT)
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.INVALID_TEXT
    assert await inbound_rows(ctx) == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert logging.ERROR not in {r.levelno for r in caplog.records}
