"""Channels reach the inbox's records only through its port (`inbox.port.ChannelPort`): no
module under channels/ imports the storage, touches a context's store or opens a
transaction. Read from the source, so a new channel is held to it from its first line."""

import ast
from pathlib import Path

CHANNELS = Path(__file__).resolve().parents[2] / "channels"

# Voice still reads the clock from the storage package; its records live in inbox/calls.py.
# An allowance no longer needed fails below, so it goes as soon as the import does.
ALLOWED: set[tuple[str, str]] = set()


def _imported(node: ast.AST) -> list[str]:
    """The modules an import statement may bring in (`from a import b`: a, and a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def crossings(source: str) -> set[str]:
    """What in `source` goes past the port: storage imports, `.store`, `.transaction()`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if any(m == "inbox.storage" or m.startswith("inbox.storage.") for m in _imported(node)):
            found.add("imports inbox.storage")
        elif isinstance(node, ast.Attribute) and node.attr == "store":
            found.add("uses a store")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "transaction":
            found.add("opens a transaction")
    return found


def test_the_check_sees_each_way_past_the_port():
    assert crossings("from inbox.storage import utcnow") == {"imports inbox.storage"}
    assert crossings("import inbox.storage.schema") == {"imports inbox.storage"}
    assert crossings("from inbox import storage") == {"imports inbox.storage"}
    assert crossings("async def f(ctx):\n    async with ctx.store.read() as tx:\n"
                     "        await tx.messages.get(1)") == {"uses a store"}
    assert crossings("async def f(store):\n    async with store.transaction() as tx:\n"
                     "        pass") == {"opens a transaction"}
    assert crossings("from inbox.port import ChannelPort\n"
                     "pipe = redis.pipeline(transaction=True)") == set()


def test_no_channel_goes_past_the_port():
    found = {(path.relative_to(CHANNELS).as_posix(), crossing)
             for path in sorted(CHANNELS.rglob("*.py"))
             for crossing in crossings(path.read_text(encoding="utf-8"))}
    assert found - ALLOWED == set(), "use inbox.port.ChannelPort instead"
    assert ALLOWED - found == set(), "no longer needed: remove it from ALLOWED"
