"""Migration 0009 on call events an earlier version wrote: the call is named by call_id, and
a ring nobody answered reads "no_answer", in both directions of the migration."""

import asyncio
import json

from alembic import command
from alembic.config import Config as AlembicConfig

from inbox.storage.db import ROOT, async_url
from tests.inbox.test_migration_claims import NOW, _run, _upgrade, empty_db  # noqa: F401

OLD_EVENTS = [
    ("call_started", {"call_sid": "CA1", "message_id": 1}),
    ("missed", {"call_sid": "CA1", "reason": "no-answer", "agent_id": 3}),
    ("call_ended", {"call_sid": "CA1", "duration_s": 0, "status": "no-answer"}),
    ("callback_requested", {"call_sid": "CA1", "reason": "no-answer", "queue": "triage"}),
    ("routed", {"queue": "triage", "reason": "no-answer"}),   # not a call's: left alone
]


def _downgrade(url: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    command.downgrade(cfg, revision)


def _events(url: str) -> list[tuple[str, dict]]:
    rows = asyncio.run(_run(url, ["SELECT type, data FROM events ORDER BY id"]))
    return [(kind, json.loads(data) if isinstance(data, str) else data) for kind, data in rows]


def test_call_events_name_the_call_and_its_outcome_neutrally(empty_db):  # noqa: F811
    _upgrade(empty_db, "0008")
    values = ", ".join(f"({n}, 1, '{kind}', '{json.dumps(data)}', '{NOW}')"
                       for n, (kind, data) in enumerate(OLD_EVENTS, start=1))
    asyncio.run(_run(empty_db, [
        f"INSERT INTO contacts (id, name, created_at, updated_at) VALUES (1, 'Aysel', '{NOW}', "
        f"'{NOW}')",
        "INSERT INTO contact_identities (id, contact_id, channel, address, created_at) VALUES "
        f"(1, 1, 'voice', '+994501234567', '{NOW}')",
        "INSERT INTO conversations (id, contact_id, identity_id, channel, status, priority, "
        f"created_at, last_message_at) VALUES (1, 1, 1, 'voice', 'waiting', 0, '{NOW}', "
        f"'{NOW}')",
        f"INSERT INTO events (id, conversation_id, type, data, created_at) VALUES {values}",
        "SELECT 1"]))
    _upgrade(empty_db, "head")
    assert _events(empty_db) == [
        ("call_started", {"call_id": "CA1", "message_id": 1}),
        ("missed", {"call_id": "CA1", "reason": "no_answer", "agent_id": 3}),
        ("call_ended", {"call_id": "CA1", "duration_s": 0, "status": "no_answer"}),
        ("callback_requested", {"call_id": "CA1", "reason": "no_answer", "queue": "triage"}),
        ("routed", {"queue": "triage", "reason": "no-answer"}),
    ]
    _downgrade(empty_db, "0008")
    assert _events(empty_db) == OLD_EVENTS
