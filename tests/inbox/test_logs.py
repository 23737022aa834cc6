"""The processes' logging: a reply sent through the real Twilio client leaves no per-request
lines (which carry the resident's number) in the app's or the worker's log."""

from __future__ import annotations

import logging

import pytest

from channels.delivery import deliver_message
from inbox.logs import QUIET_LOGGERS, configure_logging
from tests.channels.twilio.test_messaging import (  # noqa: F401  (fixtures)
    acknowledgement,
    client,
    fake_twilio,
)


@pytest.fixture
def process_logging():
    """configure_logging() as app.py and worker.py call it; the loggers it quietens are put
    back afterwards, as the rest of the suite expects them."""
    configure_logging()
    yield
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_a_twilio_send_logs_no_request_lines(client, ctx, fake_twilio,  # noqa: F811
                                                    process_logging, caplog) -> None:
    ack = await acknowledgement(client, ctx)
    caplog.set_level(logging.INFO)   # the root at LOG_LEVEL's default

    assert await deliver_message(ctx, ack["id"]) == "sent"

    assert len(fake_twilio.requests) == 1
    assert [r.getMessage() for r in caplog.records if r.name.startswith("twilio")] == []
    assert not [r for r in caplog.records if "+994501234567" in r.getMessage()]
