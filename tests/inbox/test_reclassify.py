"""Classifying a routed conversation again on a later text (a voicemail's transcript), against
the real database (SQLite and PostgreSQL) and real Redis."""

from datetime import UTC, datetime

import pytest

from inbox import dispatch, matching
from inbox.ingest import ingest
from inbox.messages import VOICEMAIL_NO_TRANSCRIPT, VOICEMAIL_PENDING, InboundMessage
from tests.unrouted import unroute

REGISTRATION = ("Salam, mən Almaniyadan keçən ay qayıtmışam. Reintegrasiya proqramı üçün "
                "ilkin qeydiyyatdan keçmək istəyirəm.")
VAGUE = "Zəhmət olmasa, mənə geri zəng edin."


async def call(ctx, hint: str | None = None) -> int:
    """A voice conversation as a call opens it: the call's item says nothing readable."""
    result = await ingest(ctx, InboundMessage(
        channel="voice", external_id="CA" + "0" * 32, address="+994501234567", text="📞",
        received_at=datetime.now(UTC), phone="+994501234567", language="az",
        category_hint=hint))
    return result.conversation_id


async def reclassify(ctx, conversation_id: int, text: str):
    async with ctx.store.transaction() as tx:
        done = await dispatch.reclassify(ctx, tx, conversation_id, text, message_id=99,
                                         reason="voicemail transcript", language="az")
    if done is not None:
        await dispatch.announce_reclassified(ctx, done)
    return done


async def state(ctx, conversation_id: int) -> tuple[dict, list[tuple[str, dict]]]:
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
        events = [(e["type"], e["data"]) for e in await tx.events.of_conversation(conversation_id)]
    return conversation, events


async def test_a_conversation_nothing_could_classify_is_classified_and_moved(ctx) -> None:
    conversation_id = await call(ctx)
    before, _ = await state(ctx, conversation_id)
    assert (before["queue"], before["category_source"]) == ("triage", "empty")
    done = await reclassify(ctx, conversation_id, REGISTRATION)
    assert done == dispatch.Reclassified(conversation_id, "migration-registration", "triage")
    after, events = await state(ctx, conversation_id)
    assert (after["category"], after["category_source"], after["queue"], after["status"]) == \
        ("registration", "model", "migration-registration", "waiting")
    assert after["sla_due_at"] == before["sla_due_at"]       # the clock runs on, as on a transfer
    classified = [d for t, d in events if t == "classified"][-1]
    assert (classified["category"], classified["message_id"], classified["reason"]) == \
        ("registration", 99, "voicemail transcript")
    routed = [d for t, d in events if t == "routed"]
    assert [r["queue"] for r in routed] == ["triage", "migration-registration"]
    # The reasons' facts, for the console to say in its agent's language.
    assert routed[0]["why"]["low_confidence"]["min"] == 0.6
    assert routed[1]["why"]["after"] == "voicemail transcript"
    assert routed[1]["why"]["rule"] >= 1 and routed[1]["why"]["conditions"]


@pytest.mark.parametrize("source", ["hint", "human", "rule"])
async def test_a_category_the_resident_a_rule_or_a_person_decided_stands(ctx, source) -> None:
    conversation_id = await call(ctx, hint="support" if source == "hint" else None)
    if source != "hint":
        async with ctx.store.transaction() as tx:
            await tx.conversations.update(conversation_id, category="support",
                                         category_source=source, category_confidence=1.0)
    before = await state(ctx, conversation_id)
    assert await reclassify(ctx, conversation_id, REGISTRATION) is None
    assert await state(ctx, conversation_id) == before


async def test_a_vaguer_text_does_not_undo_a_surer_reading(ctx) -> None:
    conversation_id = await call(ctx)
    await reclassify(ctx, conversation_id, REGISTRATION)
    before = await state(ctx, conversation_id)
    assert await reclassify(ctx, conversation_id, VAGUE) is None
    assert await state(ctx, conversation_id) == before


async def test_a_conversation_an_agent_has_keeps_its_queue(ctx) -> None:
    conversation_id = await call(ctx)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, status="open")
    done = await reclassify(ctx, conversation_id, REGISTRATION)
    assert done == dispatch.Reclassified(conversation_id, "triage", None)
    after, events = await state(ctx, conversation_id)
    assert (after["category"], after["queue"]) == ("registration", "triage")
    assert [t for t, _ in events].count("routed") == 1


@pytest.mark.parametrize("placeholder", [VOICEMAIL_PENDING, VOICEMAIL_NO_TRANSCRIPT])
async def test_a_voicemail_placeholder_is_nothing_to_classify(ctx, placeholder) -> None:
    """A voicemail that opens a conversation (its call's was resolved) before its transcript
    has come: routing reads its placeholder as an empty message, so the transcript, however
    vague, classifies the conversation later."""
    result = await ingest(ctx, InboundMessage(
        channel="voice", external_id="RE" + "0" * 32, address="+994501234567",
        text=placeholder, received_at=datetime.now(UTC), phone="+994501234567",
        language="az"))
    conversation, events = await state(ctx, result.conversation_id)
    assert (conversation["category_source"], conversation["queue"]) == ("empty", "triage")
    [classified] = [d for t, d in events if t == "classified"]
    assert (classified["source"], classified["language"]) == ("empty", "az")
    done = await reclassify(ctx, result.conversation_id, VAGUE)
    assert done == dispatch.Reclassified(result.conversation_id, "triage", None)
    after, _ = await state(ctx, result.conversation_id)
    assert after["category_source"] == "model"


async def test_a_call_routed_after_a_crash_reads_its_voicemails_transcript(ctx,
                                                                         monkeypatch) -> None:
    """A crash between storing the call and routing it; the voicemail and its transcript
    came before the sweep routes the conversation: the transcript is what routing reads, and
    a FIN heard in it is shown masked but not kept, not even as a claim."""
    conversation_id = await call(ctx)
    await unroute(ctx, conversation_id)
    await ingest(ctx, InboundMessage(
        channel="voice", external_id="RE" + "0" * 32, address="+994501234567",
        text=f"{REGISTRATION} FİN kodum 5ZJ8K2L.", received_at=datetime.now(UTC),
        phone="+994501234567", language="az"))
    assert await dispatch.route_unrouted(ctx, older_than_s=0) == [conversation_id]
    conversation, events = await state(ctx, conversation_id)
    assert (conversation["category"], conversation["category_source"], conversation["queue"]) \
        == ("registration", "model", "migration-registration")
    [classified] = [d for t, d in events if t == "classified"]
    assert classified["entities"] == [{"kind": "fin", "value": "5ZJ****"}]
    async with ctx.store.read() as tx:
        digest = matching.digest(ctx.claim_key, "fin", "5ZJ8K2L")
        assert await tx.contacts.claiming(digest, other_than=0) == []


async def test_an_agents_correction_of_a_call_teaches_its_transcript(ctx) -> None:
    """A correction is kept as training data: for a call, the words of its voicemail, not
    the call's placeholder."""
    from inbox import actions
    from inbox.actions import Actor

    conversation_id = await call(ctx)
    await ingest(ctx, InboundMessage(
        channel="voice", external_id="RE" + "1" * 32, address="+994501234567", text=VAGUE,
        received_at=datetime.now(UTC), phone="+994501234567", language="az"))
    async with ctx.store.transaction() as tx:
        boss = await tx.users.save("boss@example.gov.az", name="Boss", role="supervisor",
                                  queues=[], languages=["az"], capacity={},
                                  password_hash="not-used")
    await actions.set_category(ctx, Actor(boss, "supervisor", ()), conversation_id, "support")
    async with ctx.store.read() as tx:
        [correction] = await tx.events.corrections()
    assert (correction["text"], correction["corrected"]) == (VAGUE, "support")
