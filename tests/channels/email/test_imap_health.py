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
