"""`app.py telegram set-webhook|status`, /readyz's Telegram details, and polling mode, against
the fake Bot API through the real library."""

from __future__ import annotations

import asyncio
import logging

import pytest

import app
from channels.telegram.polling import OFFSET_KEY, poll_updates
from tests.channels.telegram.conftest import SECRET, TOKEN, telegram_config, update
from tests.channels.telegram.test_webhook import all_messages, inbound


async def command(argv: list[str]) -> int:
    """`python app.py ARGV` (in a thread: the fake Bot API answers on this test's loop)."""
    return await asyncio.to_thread(app.main, argv)


@pytest.fixture
def deployment(tmp_path, environment, monkeypatch, fake_telegram):
    """A config file for the commands, with PUBLIC_URL https and the webhook secret set."""
    telegram_config(tmp_path, "{enabled: true, allowed_updates: [message, callback_query]}")
    monkeypatch.setenv("CC_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("PUBLIC_URL", "https://contact.example.gov.az")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    return fake_telegram


async def test_set_webhook_registers_url_secret_and_update_kinds_once(deployment, capsys) -> None:
    assert await command(["telegram", "set-webhook"]) == 0
    assert deployment.webhook == {"url": "https://contact.example.gov.az/webhooks/telegram",
                                  "secret_token": SECRET,
                                  "allowed_updates": ["message", "callback_query"]}
    out = capsys.readouterr()
    assert "https://contact.example.gov.az/webhooks/telegram" in out.out
    assert TOKEN not in out.out + out.err
    assert [c.method for c in deployment.calls] == ["setWebhook"]


async def test_set_webhook_refuses_a_url_telegram_cannot_reach(deployment, monkeypatch,
                                                         capsys) -> None:
    monkeypatch.setenv("PUBLIC_URL", "http://127.0.0.1:8080")
    assert await command(["telegram", "set-webhook"]) == 1
    assert "only to https URLs" in capsys.readouterr().err
    monkeypatch.setenv("PUBLIC_URL", "https://contact.example.gov.az")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces")
    assert await command(["telegram", "set-webhook"]) == 1
    assert "TELEGRAM_WEBHOOK_SECRET must be set" in capsys.readouterr().err
    assert deployment.calls == []


async def test_status_shows_webhook_info(deployment, capsys) -> None:
    assert await command(["telegram", "set-webhook"]) == 0
    deployment.queue_update(update("private_text_az"))
    capsys.readouterr()
    assert await command(["telegram", "status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "mode (config): webhook",
        "webhook URL: https://contact.example.gov.az/webhooks/telegram",
        "pending updates: 1",
        "allowed updates: message, callback_query",
        "last error: Connection timed out at 2025-12-03T11:56:40+00:00"]


async def test_status_without_a_token_says_so(deployment, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    assert await command(["telegram", "status"]) == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in capsys.readouterr().err


async def test_readyz_reports_telegrams_webhook_info(client, fake_telegram) -> None:
    fake_telegram.webhook = {"url": "https://contact.example.gov.az/webhooks/telegram",
                             "allowed_updates": ["message"]}
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["details"]["telegram"] == {
        "mode": "webhook", "url": "https://contact.example.gov.az/webhooks/telegram",
        "pending_update_count": 0, "last_error_date": "2025-12-03T11:56:40+00:00",
        "last_error_message": "Connection timed out", "allowed_updates": ["message"]}


async def test_polling_takes_updates_in_once_and_keeps_the_offset(ctx, fake_telegram) -> None:
    for name in ("start", "private_text_az", "private_text_ru", "edited_message",
                 "callback_query", "group_message"):
        fake_telegram.queue_update(update(name))
    assert await poll_updates(ctx, budget_s=0) == 6
    stored = {m["external_id"]: m["body"] for m in await inbound(ctx)}
    assert stored == {
        "512345678:41": "Salam, vətəndaşlığın bərpası üçün hansı sənədlər lazımdır? "
                        "Mən Rusiyadan qayıtmışam.",
        "623456789:7": "Здравствуйте, как оформить пенсию по инвалидности?",
        "callback:2203495869217473125": "Pensiya"}
    assert int(await ctx.redis.get(OFFSET_KEY)) == 731204573
    greeting = [s for s in fake_telegram.sent() if s["chat_id"] == 623456789]
    assert greeting[0]["text"].startswith("Здравствуйте, Игорь!")
    [answered] = fake_telegram.sent("answerCallbackQuery")
    assert str(answered["callback_query_id"]) == "2203495869217473125"
    assert await poll_updates(ctx, budget_s=0) == 0   # asks from the offset: all confirmed
    # Telegram serves the same updates again (the offset lost): stored once all the same.
    await ctx.redis.delete(OFFSET_KEY)
    for name in ("private_text_az", "private_text_ru"):
        fake_telegram.queue_update(update(name))
    await poll_updates(ctx, budget_s=0)
    assert len(await inbound(ctx)) == 3
    asked = [c.params for c in fake_telegram.calls if c.method == "getUpdates"]
    assert asked[0]["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert asked[1]["offset"] == 731204573 and "offset" not in asked[2]


async def test_polling_while_a_webhook_is_set_takes_nothing_and_says_why(ctx, fake_telegram,
                                                                       caplog) -> None:
    fake_telegram.webhook = {"url": "https://contact.example.gov.az/webhooks/telegram",
                             "allowed_updates": []}
    fake_telegram.queue_update(update("private_text_az"))
    assert await poll_updates(ctx, budget_s=0) == 0
    assert await all_messages(ctx) == []
    assert any("can't use getUpdates method while webhook is active" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize(("section", "key", "message"), [
    ("{enabled: yes please}", "channels.telegram.enabled", "expected true or false"),
    ("{enabled: true, mode: push}", "channels.telegram.mode",
     "expected one of webhook, polling"),
    ("{enabled: true, allowed_updates: [message, inline_query]}",
     "channels.telegram.allowed_updates",
     "expected a list of message, edited_message, callback_query"),
    ("{enabled: true, send_rate: 0}", "channels.telegram.send_rate",
     "expected a whole number from 1 to 1000"),
    ("{enabled: true, token: abc}", "channels.telegram.token",
     "unknown key (known: enabled, mode, allowed_updates, send_rate, poll_timeout)"),
])
def test_config_problems_name_the_key_and_its_line(tmp_path, section, key, message) -> None:
    from channels.registry import config_problems

    config = telegram_config(tmp_path, section)
    [problem] = config_problems(config)
    line = next(n for n, text in enumerate((tmp_path / "config.yaml").read_text()
                                           .splitlines(), start=1) if "telegram:" in text)
    assert (problem.path, problem.message) == (key, message)
    assert problem.line == line


async def test_the_workers_poll_job_polls_only_in_polling_mode(environment, tmp_path, ctx,
                                                               fake_telegram,
                                                               monkeypatch) -> None:
    from channels.telegram import polling

    monkeypatch.setattr(polling, "POLL_BUDGET_S", 0)
    fake_telegram.queue_update(update("private_text_ru"))
    # With Telegram off (the test config) the job asks Telegram nothing.
    assert await asyncio.to_thread(polling.poll) == 0
    assert fake_telegram.calls == []
    telegram_config(tmp_path, "{enabled: true, mode: polling, poll_timeout: 0}")
    monkeypatch.setenv("CC_CONFIG", str(tmp_path / "config.yaml"))
    assert await asyncio.to_thread(polling.poll) == 1
    [message] = await inbound(ctx)
    assert message["external_id"] == "623456789:7"
