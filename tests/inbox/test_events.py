"""Event types: one enumeration. Every type the code writes is declared in it, and the store
refuses one that is not, so reports and the console never meet an undeclared type."""

import ast

import pytest

from inbox.events import EventType, console_groups, sla_event
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from tests.conftest import ROOT


def _writes_an_event(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "_add_once"
    return isinstance(func, ast.Attribute) and func.attr == "add" \
        and isinstance(func.value, ast.Attribute) and func.value.attr == "events"


def _type_named(arg: ast.expr) -> str | None:
    """The event type an argument names: a literal string, or a member `EventType.X`
    (an undeclared member is returned as written, so it is caught too)."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) \
            and arg.value.id == "EventType":
        member = getattr(EventType, arg.attr, None)
        return member.value if member is not None else f"EventType.{arg.attr}"
    return None


def _written_types() -> list[tuple[str, str]]:
    """(where, type) of every event type the code writes: the type given to
    `tx.events.add` or to voice's once-per-call `_add_once`, as a string or a member."""
    found = []
    for package in ("inbox", "channels", "web", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _writes_an_event(node.func):
                    found += [(f"{path.relative_to(ROOT)}:{node.lineno}", type_)
                              for type_ in map(_type_named, node.args) if type_ is not None]
    return found


def test_every_event_type_written_in_the_code_is_declared():
    written = _written_types()
    # The writers are found (voice's call events alone are eight).
    assert len(written) >= 20
    assert [(where, type_) for where, type_ in written if type_ not in set(EventType)] == []


def test_the_sla_sweeps_states_are_declared():
    assert {sla_event("at_risk"), sla_event("breached")} == \
        {EventType.SLA_AT_RISK, EventType.SLA_BREACHED}


def test_the_console_gets_the_groups_of_event_types():
    assert console_groups() == {
        "call": ["call_ended", "call_started", "callback_requested", "connected", "ivr_choice",
                 "missed", "ringing", "voicemail_transcribed"],
        "message": ["noted", "received", "replied"]}


async def test_the_store_refuses_an_undeclared_type_and_writes_nothing(ctx):
    result = await ingest(ctx, InboundMessage(
        channel="webchat", external_id="s1:1", address="s1", text="Salam",
        received_at=utcnow(), language="az"))
    with pytest.raises(ValueError):
        async with ctx.store.transaction() as tx:
            await tx.events.add(result.conversation_id, "renamed_by_mistake")
    async with ctx.store.read() as tx:
        types = [e["type"] for e in await tx.events.of_conversation(result.conversation_id)]
    assert "renamed_by_mistake" not in types
    assert set(types) <= set(EventType)

