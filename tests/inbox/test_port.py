"""The channels' port against the real database (SQLite and PostgreSQL) and real Redis."""

from inbox.ingest import ingest
from inbox.port import ChannelPort
from tests.inbox.test_ingest import chat


async def test_a_residents_history_and_open_conversation(ctx):
    port = ChannelPort(ctx)
    assert await port.history("webchat", "sess-1") == []
    assert not await port.has_open_conversation("webchat", "sess-1")
    first = await port.ingest(chat("Salam", client_id="h1"))
    assert await port.stored_message_id("webchat", "sess-1:h1") == first.message_id
    assert await port.stored_message_id("webchat", "sess-1:nope") is None
    async with ctx.store.transaction() as tx:
        await tx.messages.insert(
            conversation_id=first.conversation_id, channel="webchat", direction="note",
            body="Daxili qeyd", author_kind="agent", created_at=first.message["created_at"],
            delivery_status="sent")
        await tx.conversations.update(first.conversation_id, status="resolved")
    assert not await port.has_open_conversation("webchat", "sess-1")
    # A resolved conversation is still the one the resident sees, notes left out.
    history = await port.history("webchat", "sess-1")
    assert [(m["direction"], m["author_kind"]) for m in history] == [("in", "resident"),
                                                                      ("out", "system")]


async def test_a_delivery_report_finds_its_outbound_message_by_the_providers_id(ctx):
    port = ChannelPort(ctx)
    result = await ingest(ctx, chat("Salam"))
    async with ctx.store.read() as tx:
        ack = (await tx.messages.of_conversation(result.conversation_id))[1]
    assert not await port.apply_delivery_report(("sms", "webchat"), "SM1", "delivered", "")
    # A resident's message with that id is no send to report on.
    assert not await port.apply_delivery_report(("webchat",), "sess-1:c1", "delivered", "")
    async with ctx.store.transaction() as tx:
        await tx.messages.record_part(ack["id"], 0, "webchat", "SM1", ack["created_at"])
    assert await port.apply_delivery_report(("sms", "webchat"), "SM1", "delivered", "")
    # Once delivered, a late failure of another part is not the message's fate.
    assert await port.apply_delivery_report(("webchat",), "SM1", "failed", "30008: unknown")
    assert (await port.message(ack["id"]))["delivery_status"] == "delivered"
