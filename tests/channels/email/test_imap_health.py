"""A failing mailbox as operators see it: `/readyz` names it, `/metrics` counts it, the logs
say what kind of failure it was without the account's name, and the other mailboxes go on."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from channels.email.imap import poll_due
from tests.channels.email.conftest import mailbox_on, with_mailboxes
from tests.channels.email.test_imap import mail
from tests.conftest import with_test_channels


@pytest.fixture
def accounts(new_account) -> tuple[str, str]:
    return new_account(), new_account()


@pytest.fixture
def config(config, dovecot, accounts, tmp_path):
    good, bad = accounts
    return with_mailboxes(
        config, str(tmp_path / "media"), mailbox_on(dovecot, good),
        mailbox_on(dovecot, bad, mailbox_id="dost-baku-2", queue="dost-baku-2",
                   password="Novruz-2025-wrong"))


async def test_a_wrong_password_shows_in_readyz_metrics_and_logs(aiohttp_client, ctx, dovecot,
                                                                 accounts, caplog):
    good, bad = accounts
    client = await aiohttp_client(with_test_channels(create_app(ctx.config)))
    response = await client.get("/readyz")
    assert await response.json() == {"status": "ok"}   # nothing polled yet
    dovecot.append(good, mail())
    with caplog.at_level(logging.INFO):
        assert await poll_due(ctx) == {good: "1 stored", "dost-baku-2": "failed: login"}
    response = await client.get("/readyz")
    assert response.status == 200   # the app still serves: the mailbox is named
    body = await response.json()
    assert body["status"] == "degraded"
    assert body["mailboxes"][good] == {"ok": True}
    failing = body["mailboxes"]["dost-baku-2"]
    assert (failing["ok"], failing["error"], failing["failures"]) == (False, "login", 1)
    metrics = await (await client.get("/metrics")).text()
    assert 'cc_mailbox_up{mailbox="dost-baku-2"} 0.0' in metrics
    assert f'cc_mailbox_up{{mailbox="{good}"}} 1.0' in metrics
    assert 'cc_mailbox_failures{error="login",mailbox="dost-baku-2"} 1.0' in metrics
    logged = caplog.text
    assert "mailbox dost-baku-2: poll failed (login" in logged
    for secret in (bad, "Novruz-2025-wrong", "elnur@mail.ru", "AUTHENTICATIONFAILED"):
        assert secret not in logged


async def test_admins_list_the_dead_letters_and_nobody_else(aiohttp_client, ctx, accounts):
    from tests.inbox.test_auth import add_user
    from tests.web.test_api import mint_token

    good, _ = accounts
    raw = mail("Kimdən?", sender="")
    async with ctx.store.transaction() as tx:
        letter_id = await tx.mail.bury(good, "INBOX", 4, "ab" * 32, raw,
                                       "NoSender: the mail has no From or Reply-To address", 3)
    admin = await add_user(ctx, "admin@dost.example.gov.az", name="Admin", role="admin")
    supervisor = await add_user(ctx, "sup@dost.example.gov.az", name="Sup", role="supervisor")
    client = await aiohttp_client(with_test_channels(create_app(ctx.config)))
    response = await client.get("/api/v1/mail/dead-letters",
                                headers=await mint_token(ctx, admin))
    assert response.status == 200
    [letter] = await response.json()
    assert {k: v for k, v in letter.items() if k != "created_at"} == {
        "id": letter_id, "mailbox": good, "folder": "INBOX", "uid": 4, "attempts": 3,
        "error": "NoSender: the mail has no From or Reply-To address"}
    response = await client.get("/api/v1/mail/dead-letters",
                                headers=await mint_token(ctx, supervisor))
    assert response.status == 403
    assert (await client.get("/api/v1/mail/dead-letters")).status == 401
