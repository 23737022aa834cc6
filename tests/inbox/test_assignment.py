"""Assignment on the real database: pushes, pulls, capacity, presence, offers, contacts."""

from datetime import UTC, datetime, timedelta

import pytest

from inbox import actions, assignment, presence
from inbox.actions import Actor
from inbox.auth import hash_password
from inbox.ingest import ingest
from inbox.messages import InboundMessage
from inbox.storage import utcnow

PASSWORD = hash_password("not-used-here")


async def agent(ctx, email, queues, languages=("az", "ru", "en"), capacity=None,
                online=True) -> int:
    async with ctx.store.transaction() as tx:
        agent_id = await tx.users.save(email, name=email.split("@")[0], role="agent",
                                      queues=list(queues), languages=list(languages),
                                      capacity=capacity or {"chat": 2, "email": 5},
                                      password_hash=PASSWORD)
    if online:
        await assignment.set_presence(ctx, agent_id, "online")
    return agent_id


def message(text, session, client_id="1", channel="webchat", **extra) -> InboundMessage:
    return InboundMessage(channel=channel, external_id=f"{session}:{client_id}",
                          address=session, text=text, received_at=datetime.now(UTC),
                          language=extra.pop("language", "az"), **extra)


REGISTRATION = "Salam, reintegrasiya prosesinə ilkin qeydiyyatdan keçmək istəyirəm"


async def conversation(ctx, conversation_id):
    async with ctx.store.read() as tx:
        return await tx.conversations.get(conversation_id)


async def events(ctx, conversation_id):
    async with ctx.store.read() as tx:
        return [(e["type"], e["data"]) for e in await tx.events.of_conversation(conversation_id)]


async def test_a_new_conversation_goes_to_an_online_agent_of_its_queue(ctx):
    away = await agent(ctx, "away@example.gov.az", ["migration-registration"], online=False)
    other_queue = await agent(ctx, "dost@example.gov.az", ["dost-baku-1"])
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    result = await ingest(ctx, message(REGISTRATION, "s1"))
    row = await conversation(ctx, result.conversation_id)
    assert row["queue"] == "migration-registration"
    assert row["assignee_id"] == nigar and row["status"] == "open"
    assert row["offered_at"] is not None
    assert ("assigned", {"agent_id": nigar,
                         "reason": "least_busy: chat load 0/2; speaks az",
                         # The reason's facts, for the console to say in its agent's language.
                         "why": {"strategy": "least_busy", "kind": "chat", "load": 0,
                                 "capacity": 2,
                                 "language": {"wanted": "az", "fallback": None}}}) in \
        await events(ctx, result.conversation_id)
    assert away != nigar != other_queue


async def test_capacity_is_never_exceeded_and_the_rest_waits(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"],
                        capacity={"chat": 2})
    ids = [(await ingest(ctx, message(REGISTRATION, f"s{i}"))).conversation_id for i in range(4)]
    rows = [await conversation(ctx, i) for i in ids]
    assert [r["assignee_id"] for r in rows] == [nigar, nigar, None, None]
    assert [r["status"] for r in rows] == ["open", "open", "waiting", "waiting"]
    # Resolving one frees a place: the oldest waiting conversation is offered at once.
    await actions.set_status(ctx, Actor(nigar, "agent", ("migration-registration",)),
                             ids[0], "resolved")
    assert (await conversation(ctx, ids[2]))["assignee_id"] == nigar
    assert (await conversation(ctx, ids[3]))["assignee_id"] is None


async def test_higher_priority_is_served_before_older(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"], online=False)
    old = (await ingest(ctx, message(REGISTRATION, "old"))).conversation_id
    urgent = (await ingest(ctx, message(REGISTRATION, "urgent"))).conversation_id
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(urgent, priority=5)
    taken = await assignment.fill_agent(ctx, nigar, pulled=True, limit=1)
    assert taken == [urgent]
    assert (await conversation(ctx, old))["assignee_id"] is None


async def test_manual_queues_are_pulled_not_pushed(ctx):
    clerk = await agent(ctx, "clerk@example.gov.az", ["dost-baku-1"])
    result = await ingest(ctx, message("Pensiyam gəlməyib", "s1", queue_hint="dost-baku-1"))
    row = await conversation(ctx, result.conversation_id)
    assert row["queue"] == "dost-baku-1" and row["assignee_id"] is None
    assert await assignment.fill_agent(ctx, clerk, pulled=True, limit=1) == [row["id"]]
    assert await assignment.fill_agent(ctx, clerk, pulled=True, limit=1) == []
    row = await conversation(ctx, result.conversation_id)
    assert row["assignee_id"] == clerk and row["offered_at"] is None


async def test_an_agent_going_away_hands_back_unanswered_work(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    answered = (await ingest(ctx, message(REGISTRATION, "a"))).conversation_id
    unanswered = (await ingest(ctx, message(REGISTRATION, "b"))).conversation_id
    await actions.reply(ctx, Actor(nigar, "agent", ()), answered, "Salam, buyurun.")
    rashad = await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    await assignment.set_presence(ctx, nigar, "away")
    assert (await conversation(ctx, answered))["assignee_id"] == nigar
    row = await conversation(ctx, unanswered)
    assert row["assignee_id"] == rashad
    history = await events(ctx, unanswered)
    assert ("unassigned", {"agent_id": nigar, "reason": "agent went away"}) in history


@pytest.mark.parametrize("left", ["offline", "away"])
async def test_a_resident_writing_to_an_absent_agent_is_offered_to_someone_present(ctx, left):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    answered = (await ingest(ctx, message(REGISTRATION, "s1"))).conversation_id
    await actions.reply(ctx, Actor(nigar, "agent", ()), answered, "Salam, buyurun.")
    await assignment.set_presence(ctx, nigar, left)
    # An answered conversation stays with the agent who left...
    assert (await conversation(ctx, answered))["assignee_id"] == nigar
    # ...until the resident writes again: then it goes to an agent who is there.
    rashad = await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    result = await ingest(ctx, message("Sənədləri göndərdim, baxa bilərsiniz?", "s1", "2"))
    assert result.conversation_id == answered
    row = await conversation(ctx, answered)
    assert row["assignee_id"] == rashad and row["status"] == "open"
    history = await events(ctx, answered)
    assert ("unassigned", {"agent_id": nigar,
                           "reason": f"the resident wrote while the agent was {left}"}) in history
    assert history[-1][0] == "assigned" and history[-1][1]["agent_id"] == rashad


async def test_with_nobody_present_the_conversation_waits_in_its_queue(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    answered = (await ingest(ctx, message(REGISTRATION, "s1"))).conversation_id
    await actions.reply(ctx, Actor(nigar, "agent", ()), answered, "Salam, buyurun.")
    await actions.set_status(ctx, Actor(nigar, "agent", ()), answered, "pending")
    await assignment.set_presence(ctx, nigar, "offline")
    await ingest(ctx, message("Salam, cavab gözləyirəm", "s1", "2"))
    row = await conversation(ctx, answered)
    assert row["assignee_id"] is None and row["status"] == "waiting"
    async with ctx.store.read() as tx:
        waiting = await tx.conversations.waiting_in(["migration-registration"])
        assert [r["id"] for r in waiting] == [answered]
    # The agent who comes back first takes it.
    await assignment.set_presence(ctx, nigar, "online")
    assert (await conversation(ctx, answered))["assignee_id"] == nigar


async def test_a_resident_writing_to_a_present_agent_stays_with_them(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    answered = (await ingest(ctx, message(REGISTRATION, "s1"))).conversation_id
    await actions.reply(ctx, Actor(nigar, "agent", ()), answered, "Salam, buyurun.")
    await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    await ingest(ctx, message("Təşəkkür edirəm", "s1", "2"))
    assert (await conversation(ctx, answered))["assignee_id"] == nigar
    assert "unassigned" not in [t for t, _ in await events(ctx, answered)]


async def test_an_offer_nobody_opened_moves_to_the_next_agent(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    conversation_id = (await ingest(ctx, message(REGISTRATION, "s1"))).conversation_id
    rashad = await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    assert await assignment.reoffer_expired(ctx) == []           # not yet timed out
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id,
                                     offered_at=utcnow() - timedelta(minutes=5))
    assert await assignment.reoffer_expired(ctx) == [conversation_id]
    row = await conversation(ctx, conversation_id)
    assert row["assignee_id"] == rashad
    assert ("reassigned", {"from": nigar, "to": rashad}) in await events(ctx, conversation_id)


async def test_an_opened_offer_stays(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    conversation_id = (await ingest(ctx, message(REGISTRATION, "s1"))).conversation_id
    await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    await actions.mark_opened(ctx, Actor(nigar, "agent", ()), conversation_id)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, assigned_at=utcnow() - timedelta(hours=1))
    assert await assignment.reoffer_expired(ctx) == []
    assert (await conversation(ctx, conversation_id))["assignee_id"] == nigar


async def test_a_returning_resident_goes_to_the_agent_who_helped_last(ctx):
    await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    rashad = await agent(ctx, "rashad@example.gov.az", ["migration-registration"])
    first = (await ingest(ctx, message(REGISTRATION, "s1", "a"))).conversation_id
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(first, assignee_id=rashad, status="resolved")
    # Rashad is now the busier one, yet the resident's new conversation goes to him.
    await ingest(ctx, message(REGISTRATION, "other"))
    again = (await ingest(ctx, message(REGISTRATION, "s1", "b"))).conversation_id
    assert again != first
    row = await conversation(ctx, again)
    assert row["assignee_id"] == rashad
    assert any(t == "assigned" and d["reason"].startswith("preferred agent")
               for t, d in await events(ctx, again))


async def test_same_phone_on_sms_and_whatsapp_is_one_contact(ctx):
    sms = await ingest(ctx, message("Salam", "+994501234567", channel="sms",
                                    phone="+994501234567"))
    whatsapp = await ingest(ctx, message("Salam yene men", "+994501234567",
                                         channel="whatsapp", phone="+994501234567",
                                         display_name="Aysel"))
    a, b = await conversation(ctx, sms.conversation_id), \
        await conversation(ctx, whatsapp.conversation_id)
    assert a["id"] != b["id"] and a["contact_id"] == b["contact_id"]
    async with ctx.store.read() as tx:
        identities = await tx.contacts.identities_of(a["contact_id"])
        contact = await tx.contacts.get(a["contact_id"])
    assert sorted(i["channel"] for i in identities) == ["sms", "whatsapp"]
    assert contact["phone"] == "+994501234567" and contact["name"] == "Aysel"


async def test_the_same_fin_typed_twice_is_a_possible_match_not_a_join(ctx):
    first = await ingest(ctx, message("Qeydiyyat üçün FİN: 5ZJ8K2L", "chat-a"))
    second = await ingest(ctx, message("Salam, FIN 5ZJ8K2L, pensiyam gecikir", "chat-b"))
    a, b = await conversation(ctx, first.conversation_id), \
        await conversation(ctx, second.conversation_id)
    assert a["contact_id"] != b["contact_id"]
    async with ctx.store.read() as tx:
        [match] = await tx.contacts.open_matches_of(a["contact_id"])
        assert await tx.contacts.open_matches_of(b["contact_id"]) == [match]
    assert (match["contact_id"], match["other_contact_id"], match["kind"], match["masked"]) \
        == (b["contact_id"], a["contact_id"], "fin", "5ZJ****")
    assert "contacts_merged" not in [t for t, _ in await events(ctx, b["id"])]


async def test_split_and_merge_conversations(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    actor = Actor(nigar, "agent", ("migration-registration",))
    first = await ingest(ctx, message(REGISTRATION, "s1", "1"))
    later = await ingest(ctx, message("Bir də pensiya sualım var", "s1", "2"))
    new_id = await actions.split_conversation(ctx, actor, first.conversation_id,
                                              later.message_id)
    async with ctx.store.read() as tx:
        assert [m["id"] for m in await tx.messages.of_conversation(new_id)] == [later.message_id]
        kept = [m["id"] for m in await tx.messages.of_conversation(first.conversation_id)]
    assert later.message_id not in kept and first.message_id in kept
    await actions.merge_conversations(ctx, actor, first.conversation_id, new_id)
    async with ctx.store.read() as tx:
        merged = [m["id"] for m in await tx.messages.of_conversation(first.conversation_id)]
    assert later.message_id in merged
    assert (await conversation(ctx, new_id))["status"] == "resolved"
    with pytest.raises(actions.ActionError):
        await actions.merge_conversations(ctx, actor, first.conversation_id,
                                          first.conversation_id)


async def test_no_console_heard_from_means_offline(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    await presence.console_seen(ctx.redis, nigar, "tab-1")
    assert await presence.expire_absent_agents(ctx) == []
    await presence.console_seen(ctx.redis, nigar, "tab-1", ttl_s=-1)
    assert await presence.expire_absent_agents(ctx) == [nigar]
    async with ctx.store.read() as tx:
        assert (await tx.users.get(nigar))["presence"] == "offline"
