"""Fixtures of the Telegram channel's tests: the fake Bot API, the app, captured updates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app import create_app
from settings import load_config
from tests.channels.fake_telegram import FakeTelegram
from tests.conftest import TEST_CONFIG
from web.appkeys import INTAKE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "telegram"
TOKEN = "7012345678:AAH-test-token-never-logged_0123456789"
SECRET = "s3cret-Webhook_token"
WEBHOOK = "/webhooks/telegram"


def update(name: str, **changes) -> dict:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(changes)
    return data


def telegram_config(tmp_path, section: str, public_url: str = "http://127.0.0.1:8080"):
    """The test config with `channels.telegram` set to `section` (YAML flow mapping)."""
    text = TEST_CONFIG.read_text().replace("  telegram: {enabled: false}",
                                           f"  telegram: {section}")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, env={"PUBLIC_URL": public_url})


@pytest.fixture
def config(tmp_path, environment):
    return telegram_config(tmp_path, "{enabled: true}")


@pytest.fixture
async def fake_telegram(aiohttp_server, monkeypatch) -> FakeTelegram:
    fake = FakeTelegram(TOKEN)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    monkeypatch.setenv("TELEGRAM_API_BASE", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    return fake


@pytest.fixture
async def client(environment, config, fake_telegram, monkeypatch, aiohttp_client, tmp_path):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    return await aiohttp_client(create_app(config))


async def post(client, body, secret: str | None = SECRET, *, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    data = raw if raw is not None else json.dumps(body).encode()
    response = await client.post(WEBHOOK, data=io.BytesIO(data), headers=headers)
    await client.app[INTAKE].settled()
    return response
