"""The outbox against the real database (SQLite and PostgreSQL) and real Redis."""

from inbox import outbox
from inbox.ingest import ingest
from tests.inbox.test_ingest import chat


async def test_a_send_names_the_residents_message_it_answers(ctx):
    first = await ingest(ctx, chat("Salam", client_id="r1"))
    await ingest(ctx, chat("Pensiyam gəlməyib", client_id="r2"))
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(first.conversation_id)
        ack_id = (await tx.messages.of_conversation(first.conversation_id))[1]["id"]
        await tx.messages.insert(
            conversation_id=first.conversation_id, channel="webchat", direction="note",
            body="Pensiya şöbəsinə soruşdum", author_kind="agent",
            created_at=conversation["created_at"], delivery_status="sent")
        reply_id = await outbox.queue_message(tx, conversation, "Baxırıq", author_kind="agent")
    acknowledgement = await outbox.claim(ctx, ack_id)
    reply = await outbox.claim(ctx, reply_id)
    # The acknowledgement answers the first message; the agent's reply, the latest one
    # before it (a note in between is not the resident's).
    assert acknowledgement.message.reply_to_external_id == "sess-1:r1"
    assert reply.message.reply_to_external_id == "sess-1:r2"
