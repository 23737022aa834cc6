"""E-mail out on the real worker: a resident's mail taken in, the worker process sends the
acknowledgement and an agent's reply over SMTP to a real aiosmtpd, in the thread and the
resident's language; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from inbox import actions
from inbox.ingest import ingest
from tests.channels.email.mail_server import MailServer
from tests.channels.email.test_smtp import (
    BAKU1,
    REPLY,
    RESIDENT,
    RESIDENT_ID,
    ROOT_ID,
    SUBJECT,
    agent,
    config_for,
    resident_mail,
    stored,
)
from tests.conftest import TEST_CONFIG
from tests.e2e.support import System

pytestmark = pytest.mark.e2e


async def test_the_worker_sends_the_acknowledgement_and_the_reply_in_the_thread(
        ctx, environment, tmp_path):
    with MailServer() as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "none"}
        ctx.config = config_for(smtp)
        config_file = tmp_path / "config.yaml"
        config_file.write_text(TEST_CONFIG.read_text().replace(
            "    mailboxes: []\n",
            "    mailboxes:\n"
            f"      - {{id: baku1, address: {BAKU1}, queue: dost-baku-1,\n"
            "         imap: {host: imap.example.gov.az, user: baku1, password: x},\n"
            f"         smtp: {{host: 127.0.0.1, port: {server.port}, security: none}}}}\n"))
        system = System({**environment, "CC_CONFIG": str(config_file)}, tmp_path)
        try:
            system.start_worker()
            taken = await ingest(ctx, resident_mail())          # queues the acknowledgement
            reply = await actions.reply(ctx, await agent(ctx), taken.conversation_id, REPLY)
            deadline = time.monotonic() + 90
            while len(server.accepted) < 2:
                assert time.monotonic() < deadline, f"mail not sent: {system.logs()}"
                await asyncio.sleep(0.2)
        finally:
            system.stop()
    by_id = {m.mail["Message-ID"]: m for m in server.accepted}
    ack_row = await stored(ctx, taken.acknowledgement_id)
    reply_row = await stored(ctx, reply["id"])
    assert ack_row["delivery_status"] == reply_row["delivery_status"] == "sent"
    ack, mail = by_id[ack_row["external_id"]].mail, by_id[reply_row["external_id"]].mail
    assert ack["Auto-Submitted"] == "auto-replied" and mail["Auto-Submitted"] is None
    assert all(m.mail_from == BAKU1 and m.rcpt_tos == [RESIDENT] for m in server.accepted)
    assert mail["Subject"] == f"Re: {SUBJECT} [DOST-{taken.conversation_id}]"
    assert mail["In-Reply-To"] == RESIDENT_ID
    assert mail["References"].split()[0] == ROOT_ID
    assert mail["References"].split()[-1] == RESIDENT_ID
    assert mail.get_body(("plain",)).get_content().startswith(REPLY + "\n\n-- \nС уважением,")
