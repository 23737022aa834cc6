"""Schemathesis against the served OpenAPI document: the real app (`app.py serve` on a free
port), as an agent and as a supervisor, answers every request generated from the document,
valid or not, without a server error, with a status, content type and body the document
declares, and logs no traceback.

Bounded for CI: a few examples per operation, no shrinking, no example database. It runs on
SQLite only: every input class it finds is refused before the database is asked (the
explicit tests in test_bad_input.py cover both databases), and PostgreSQL would double the
time of the slowest test in the suite.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from inbox.auth import hash_password
from inbox.context import open_context
from inbox.storage.db import migrate
from settings import load_config
from tests.conftest import ROOT, TEST_CONFIG
from tests.e2e.support import System
from tests.web.test_api import seed
from web.openapi import DOCUMENT

pytestmark = pytest.mark.e2e
PASSWORD = "schemathesis-password"
AGENT = "agent@migration.gov.az"
SUPERVISOR = "supervisor@migration.gov.az"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
# Per operation and mode; about 30 operations, two roles, two modes.
EXAMPLES = int(os.environ.get("CC_SCHEMATHESIS_EXAMPLES", "8"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, database=None,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=list(HealthCheck))


async def _seed() -> None:
    """An agent of the migration queues, a supervisor, and conversations in the agent's
    queues and elsewhere, so small ids find something. In this process: each command of
    `app.py` would spend seconds importing."""
    ctx = open_context(load_config(TEST_CONFIG, env={}), pool=False)
    try:
        async with ctx.store.transaction() as tx:
            for email, role, queues in (
                    (AGENT, "agent", ["migration-registration", "migration-support"]),
                    (SUPERVISOR, "supervisor", [])):
                await tx.users.save(email, name=email.split("@")[0], role=role, queues=queues,
                                   languages=["az", "ru"], capacity={"chat": 3},
                                   password_hash=hash_password(PASSWORD), active=True)
        first = await seed(ctx, queue="migration-registration", text="Salam, qeydiyyat",
                           name="Günel Əliyeva", phone="+994501234567")
        await seed(ctx, queue="migration-support", text="Паспорт утерян", name="Иван Петров",
                   language="ru", contact=first)
        await seed(ctx, queue="call-centre-142", text="Pensiya", name="Səbinə Rzayeva")
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, redis_url: str):
    """The app on a free port over a fresh SQLite database: (base URL, tokens by role)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'contact-centre.db'}", "REDIS_URL": redis_url,
           "CC_CONFIG": str(TEST_CONFIG), "SECRET_KEY": "test-secret-key",
           "CC_MODEL_DIR": str(ROOT / "var" / "model"), "LOG_LEVEL": "WARNING"}
    system = System(env, Path(tmp))
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        migrate(env["DATABASE_URL"])
        asyncio.run(_seed())
        asyncio.run(system.start_app())
        tokens = {}
        for role, email in (("agent", AGENT), ("supervisor", SUPERVISOR)):
            answer = requests.post(f"{system.base_url}/api/v1/auth/login", timeout=30,
                                   json={"email": email, "password": PASSWORD})
            answer.raise_for_status()
            tokens[role] = answer.json()["token"]
        yield system, tokens
    finally:
        os.environ.clear()
        os.environ.update(saved)
        system.stop()


def _schema():
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    # Logging out would end the session the run works with; the event stream never ends.
    return schema.exclude(path="/api/v1/auth/logout").exclude(path="/api/v1/stream")


SCHEMA = _schema()


def test_the_document_checked_is_the_one_served(served):
    system, _ = served
    assert requests.get(f"{system.base_url}/api/v1/openapi.json", timeout=30).json() == \
        json.loads(json.dumps(DOCUMENT))


def _call(case, served, role: str) -> None:
    system, tokens = served
    case.call_and_validate(base_url=system.base_url, checks=CHECKS,
                           headers={"Authorization": f"Bearer {tokens[role]}"})


@SCHEMA.parametrize()
@BOUNDED
def test_as_an_agent(case, served):
    _call(case, served, "agent")


@SCHEMA.parametrize()
@BOUNDED
def test_as_a_supervisor(case, served):
    _call(case, served, "supervisor")


def test_the_app_logged_no_traceback(served):
    """Last in the module: after every generated request, the app's log holds no error."""
    system, _ = served
    log = "".join(path.read_text(errors="replace") for path in system.log_dir.glob("*.log"))
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
