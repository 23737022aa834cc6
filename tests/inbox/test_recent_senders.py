"""The hint that lets a batch of follow-ups skip classifying before its transaction: who was
seen lately, for how long, how many are kept; and a batch whose hint was wrong (the
resident's conversation was resolved meanwhile) still opens and routes their new one."""

from __future__ import annotations

from inbox.ingest import RECENT, Arrival, store_many
from inbox.recent_senders import RecentSenders
from tests.inbox.test_ingest import chat


def test_a_sender_is_fresh_for_a_while_and_the_oldest_are_forgotten_first():
    recent = RecentSenders(fresh_s=10, max_senders=2)
    recent.saw([("webchat", "a"), ("sms", "+994501234567")], now=100.0)
    assert recent.fresh(("webchat", "a"), now=109.9)
    assert not recent.fresh(("webchat", "a"), now=110.0)
    assert not recent.fresh(("webchat", "b"), now=100.0)
    recent.saw([("webchat", "a")], now=105.0)          # seen again: now the newest
    recent.saw([("telegram", "42")], now=106.0)        # one too many: the oldest goes
    assert not recent.fresh(("sms", "+994501234567"), now=106.0)
    assert recent.fresh(("webchat", "a"), now=106.0) and recent.fresh(("telegram", "42"),
                                                                        now=106.0)


async def test_a_wrong_hint_still_opens_a_classified_conversation(ctx):
    sessions = [f"sess-{n}" for n in range(8)]
    first = await store_many(ctx, [Arrival(chat("Salam, bu ay pensiyam gəlməyib",
                                                client_id="c0", session=s))
                                   for s in sessions])
    assert all(RECENT.fresh(("webchat", s)) for s in sessions)
    # Resolved at once by an agent: each sender's next message opens a new conversation,
    # though the hint says they are mid-conversation.
    for result in first:
        async with ctx.store.transaction() as tx:
            await tx.conversations.update(result.conversation_id, status="resolved")
    again = await store_many(ctx, [Arrival(chat(
        "Salam, reintegration.gov.az saytında qeydiyyat formu açılmır",
        client_id="c1", session=s)) for s in sessions])
    assert all(r.new_conversation for r in again)
    async with ctx.store.read() as tx:
        for before, after in zip(first, again, strict=True):
            assert after.conversation_id != before.conversation_id
            conversation = await tx.conversations.get(after.conversation_id)
            assert conversation["category"] == "support" and conversation["routed_at"]
