"""The interface documents in docs/ keep up with the code where a machine can tell: every
environment variable the code and scripts read, every route the app serves (and no route
the app does not), every command and option, every key of the shipped config.yaml, every
web-chat error code."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

import app as app_module
from tests.conftest import ROOT
from web.appkeys import CONTEXT

DOCS = ROOT / "docs"
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "__pycache__", "docs"}
HTTP_PAGES = ("api.md", "webhooks.md", "websocket.md")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# How code reads a variable: os.environ / an `env` mapping, getenv, or a constant naming it.
PYTHON_READS = (
    re.compile(r"""\b(?:environ|env)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\bgetenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\b[A-Z_]*_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']"""),
)
# A shell script reads a variable from its environment when it gives it a default.
SHELL_READS = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-|:\+|-)")
CONFIG_READS = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")

# Mappings of config.yaml whose keys are names the deployment chooses, not settings.
NAMED_ENTRIES = {
    "channels.twilio.whatsapp_templates": "<name>",
    "channels.twilio.voice.prompts": "<language>",
    "channels.twilio.voice.transcription.language_codes": "<language>",
}
RATE_KEYS = {"count", "per"}   # a token bucket is one setting (settings.model.Rate)


def _doc(*names: str) -> str:
    return "\n".join((DOCS / name).read_text(encoding="utf-8") for name in names)


def _source_files(suffix: str) -> Iterator[Path]:
    for path in ROOT.rglob(f"*{suffix}"):
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


def _variables_read() -> set[str]:
    names = set()
    for path in _source_files(".py"):
        text = path.read_text(encoding="utf-8")
        for pattern in PYTHON_READS:
            names.update(pattern.findall(text))
    for path in [*(ROOT / "scripts").iterdir(), ROOT / ".ci" / "run"]:
        names.update(SHELL_READS.findall(path.read_text(encoding="utf-8")))
    names.update(CONFIG_READS.findall((ROOT / "config.yaml").read_text(encoding="utf-8")))
    return names


def test_every_environment_variable_is_documented() -> None:
    documented = _doc("environment.md")
    read = _variables_read()
    assert {"DATABASE_URL", "SECRET_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_URL", "HOST"} <= read
    assert sorted(name for name in read if f"`{name}`" not in documented) == []


@pytest.fixture
async def served(monkeypatch, tmp_path, config) -> set[tuple[str, str]]:
    """(method, path) of every route the app registers (HEAD aside: aiohttp adds it to
    every GET); the static files as `GET /static/{file}`."""
    monkeypatch.setenv("SECRET_KEY", "docs-test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    application = app_module.create_app(config)
    try:
        routes = set()
        for route in application.router.routes():
            if isinstance(route.resource, web.StaticResource):
                routes.add(("GET", route.resource.canonical + "/{file}"))
            elif route.method != "HEAD":
                routes.add((route.method, route.resource.canonical))
        return routes
    finally:
        await application[CONTEXT].close()


async def test_every_route_is_documented(served) -> None:
    documented = _doc(*HTTP_PAGES)
    assert ("POST", "/webhooks/twilio/messaging") in served
    missing = sorted(f"{method} {path}" for method, path in served
                     if f"`{method} {path}`" not in documented)
    assert missing == []


async def test_every_documented_route_is_served(served) -> None:
    spans = re.compile(rf"`((?:{'|'.join(METHODS)}) /[^`\s?]*)`")
    documented = {tuple(span.split(" ", 1))
                  for page in DOCS.glob("*.md")
                  for span in spans.findall(page.read_text(encoding="utf-8"))}
    assert sorted(" ".join(route) for route in documented - served) == []


def _commands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, str]]:
    """(command, option) for every option of every (sub)command, and (command, "") for each
    command itself."""
    yield prefix, ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}")
        elif action.option_strings and "--help" not in action.option_strings:
            yield prefix, action.option_strings[-1]


def test_every_command_and_option_is_documented() -> None:
    documented = _doc("commands.md")
    parser = app_module.parser()
    missing = []
    for command, option in _commands(parser, "app.py"):
        words = command.removeprefix("app.py").strip()
        if words and not re.search(rf"`(python app\.py )?{re.escape(words)}\b", documented):
            missing.append(command)
        if option and f"`{option}" not in documented:
            missing.append(f"{command} {option}")
    worker_options = re.findall(r"""add_argument\(\s*["'](--[a-z-]+)["']""",
                                (ROOT / "worker.py").read_text(encoding="utf-8"))
    assert "--queues" in worker_options
    missing += [f"worker.py {option}" for option in worker_options
                if f"`{option}" not in documented]
    assert missing == []


def _config_keys(value: Any, path: str) -> Iterator[str]:
    """The documented name of every setting in a config.yaml value: a mapping's keys (or,
    for named entries, a placeholder), a list's items as `[]`; a token bucket is one."""
    if isinstance(value, dict) and value and not set(value) <= RATE_KEYS:
        for key, item in value.items():
            name = NAMED_ENTRIES.get(path, key)
            yield from _config_keys(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for item in value:
            yield from _config_keys(item, f"{path}[]")
    else:
        yield path


def test_every_key_of_the_shipped_config_is_documented() -> None:
    documented = _doc("config.md")
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    keys = set(_config_keys(shipped, ""))
    assert {"public_url", "queues[].sla.first_response",
            "channels.twilio.voice.transcription.language_codes.<language>",
            "channels.webchat.limits.messages_per_session"} <= keys
    assert sorted(key for key in keys if f"`{key}`" not in documented) == []


def test_every_chat_error_code_is_documented() -> None:
    documented = _doc("websocket.md")
    codes = yaml.safe_load((ROOT / "templates" / "chat" / "errors.yaml").read_text("utf-8"))
    assert "too_many_messages" in codes
    assert sorted(code for code in codes if f"`{code}`" not in documented) == []
