"""SLA clocks on the real database: due times, at-risk and breach flags, escalation."""

from datetime import UTC, datetime, timedelta

from inbox import actions, sla
from inbox.actions import Actor
from inbox.auth import hash_password
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow

REGISTRATION = "Salam, reintegrasiya prosesinə ilkin qeydiyyatdan keçmək istəyirəm"


async def new_conversation(ctx, session="s1") -> int:
    result = await ingest(ctx, InboundMessage(
        channel="webchat", external_id=f"{session}:1", address=session, text=REGISTRATION,
        received_at=datetime.now(UTC), language="az"))
    return result.conversation_id


async def row(ctx, conversation_id):
    async with ctx.store.read() as tx:
        return await tx.conversations.get(conversation_id), \
            [(e["type"], e["data"]) for e in await tx.events.of_conversation(conversation_id)]


async def test_routing_sets_the_first_response_due_time_in_business_time(ctx):
    conversation_id = await new_conversation(ctx)
    conversation, _ = await row(ctx, conversation_id)
    expected = sla.due_at(ctx, "migration-registration", conversation["created_at"],
                          "first_response")
    assert conversation["sla_due_at"] == expected
    assert ctx.calendar.business_seconds_between(conversation["created_at"], expected) == 7200


async def test_a_breach_is_flagged_prioritised_and_escalated(ctx):
    conversation_id = await new_conversation(ctx)
    due = utcnow() - timedelta(minutes=1)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, sla_due_at=due,
                                     created_at=due - timedelta(days=3))
    changed = await sla.sweep(ctx)
    assert changed == {"at_risk": [], "breached": [conversation_id]}
    conversation, events = await row(ctx, conversation_id)
    assert conversation["sla_state"] == "breached"
    assert conversation["priority"] == sla.BREACH_PRIORITY
    assert conversation["queue"] == "escalations"
    assert ("sla_breached", {"clock": "first_response", "due_at": due.isoformat()}) in events
    assert ("transferred", {"from": "migration-registration", "to": "escalations",
                            "reason": "first_response SLA breached"}) in events
    assert await sla.sweep(ctx) == {"at_risk": [], "breached": []}   # flagged once


async def test_most_of_the_time_used_is_at_risk(ctx):
    conversation_id = await new_conversation(ctx)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, created_at=now - timedelta(days=60),
                                     sla_due_at=now + timedelta(days=2))
    assert await sla.sweep(ctx) == {"at_risk": [conversation_id], "breached": []}
    conversation, events = await row(ctx, conversation_id)
    assert conversation["sla_state"] == "at_risk" and conversation["queue"] == \
        "migration-registration"
    assert conversation["priority"] == sla.AT_RISK_PRIORITY
    assert [t for t, _ in events].count("sla_at_risk") == 1


async def test_the_first_answer_switches_to_the_resolution_clock(ctx):
    conversation_id = await new_conversation(ctx)
    async with ctx.store.transaction() as tx:
        agent_id = await tx.users.save("nigar@example.gov.az", name="Nigar", role="agent",
                                      queues=["migration-registration"], languages=["az"],
                                      capacity={"chat": 3}, password_hash=hash_password("x"))
        await tx.conversations.update(conversation_id, sla_state="at_risk")
    await actions.reply(ctx, Actor(agent_id, "agent", ("migration-registration",)),
                        conversation_id, "Salam, buyurun")
    conversation, _ = await row(ctx, conversation_id)
    assert conversation["sla_state"] == "ok"
    assert conversation["sla_due_at"] == sla.due_at(ctx, "migration-registration",
                                                    conversation["created_at"], "resolution")


async def test_a_conversation_the_bot_held_is_at_risk_by_the_time_since_the_intake_ended(ctx):
    # Written two months ago, but the guided intake ended an hour ago and the deadline is ten
    # days away: little of the queue's time is used, so it is not at risk. (Ten, not two: the
    # clock counts business hours, and two days from a Friday evening hold almost none.)
    conversation_id = await new_conversation(ctx)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, created_at=now - timedelta(days=60),
                                     sla_due_at=now + timedelta(days=10))
        await tx.intakes.create(conversation_id, language="az", state={}, now=now,
                                reminder_due_at=None)
        await tx.intakes.save(await tx.intakes.get(conversation_id, for_update=True),
                              status="complete", finished_at=now - timedelta(hours=1))
    assert await sla.sweep(ctx) == {"at_risk": [], "breached": []}
    conversation, _ = await row(ctx, conversation_id)
    assert conversation["sla_state"] != "at_risk"
