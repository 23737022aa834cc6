"""No mail loops (against the real database, SQLite and PostgreSQL, and Redis): machine-written
mail is kept and routed but never acknowledged and moves no conversation, one sender gets a
few acknowledgements a day at most, and a bounce fails the message it names where the agent
sees it."""

import asyncio
import json
from datetime import timedelta

import pytest
from rq import Queue

from inbox import dispatch
from inbox.ingest import ingest
from inbox.jobs import DELIVERY_QUEUE
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.messages import InboundMessage
from inbox.port import ChannelPort
from inbox.storage import utcnow
from settings import Problem
from settings.loader import ConfigError, load_config_text
from tests.inbox.test_auth import RAUF, add_user
from tests.inbox.test_email_threading import (
    ELVIN,
    FIXTURE,
    GUNEL,
    MAILBOX_ADDRESS,
    conversation,
    mail,
    resolve,
    sent_acknowledgement,
)
from tests.unrouted import unroute

OUT_OF_OFFICE = "Salam, 15 dekabradək məzuniyyətdəyəm. Təcili hallarda 012 000 00 00."


async def messages_of(ctx, conversation_id: int) -> list[dict]:
    async with ctx.store.read() as tx:
        return await tx.messages.of_conversation(conversation_id)


def queued_sends(ctx) -> list[tuple]:
    return [job.args for job in Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).jobs]


@pytest.mark.parametrize("automatic, sender", [("auto-reply", GUNEL),
                                               ("list", "news@lists.example.az"),
                                               ("own", MAILBOX_ADDRESS)])
async def test_machine_written_mail_is_stored_and_routed_but_never_acknowledged(
        ctx, automatic, sender):
    result = await ingest(ctx, mail(OUT_OF_OFFICE, sender, message_id="<ooo@mail.ru>",
                                    subject="Avtomatik cavab", automatic=automatic))
    assert result.new_conversation and result.acknowledgement_id is None
    row = await conversation(ctx, result.conversation_id)
    assert row["routed_at"] is not None and row["queue"] == "dost-baku-1"
    [stored] = await messages_of(ctx, result.conversation_id)
    assert (stored["direction"], stored["body"]) == ("in", OUT_OF_OFFICE)
    assert stored["extra"]["automatic"] == automatic
    assert stored["extra"]["email"]["subject"] == "Avtomatik cavab"
    assert queued_sends(ctx) == []


async def test_an_out_of_office_answering_our_reply_moves_no_conversation(ctx):
    """Stored in the conversation it answers, but it reopens nothing, wakes nothing, and takes
    nothing from an agent who is away: a machine is not the resident writing."""
    agent = await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=("dost-baku-1",),
                           presence="away")
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(first.conversation_id, assignee_id=agent,
                                      assigned_at=utcnow())
    for status, n in (("resolved", 1), ("pending", 2), ("open", 3)):
        if status == "resolved":
            await resolve(ctx, first.conversation_id, timedelta(days=1))
        else:
            async with ctx.store.transaction() as tx:
                await tx.conversations.update(first.conversation_id, status=status)
        result = await ingest(ctx, mail(OUT_OF_OFFICE, message_id=f"<ooo{n}@mail.ru>",
                                        in_reply_to=(ours,), references=("<m1@mail.ru>", ours),
                                        automatic="auto-reply"))
        assert result.conversation_id == first.conversation_id
        assert not (result.reopened or result.woke_up) and result.released_from is None
        row = await conversation(ctx, first.conversation_id)
        assert (row["status"], row["assignee_id"]) == (status, agent)
    inbound = [m for m in await messages_of(ctx, first.conversation_id) if m["direction"] == "in"]
    assert len(inbound) == 4


async def test_one_sender_gets_three_acknowledgements_a_day(ctx):
    results = [await ingest(ctx, mail(f"Müraciət {n}", message_id=f"<n{n}@mail.ru>",
                                      subject=f"Müraciət {n}")) for n in range(4)]
    assert all(r.new_conversation for r in results)
    assert [r.acknowledgement_id is not None for r in results] == [True, True, True, False]
    assert [m["direction"] for m in await messages_of(ctx, results[3].conversation_id)] == ["in"]
    # Another sender is not held back by Günel's.
    other = await ingest(ctx, mail("Salam", ELVIN, message_id="<e1@gmail.com>"))
    assert other.acknowledgement_id is not None
    # Acknowledgements of an earlier day (in Baku) count no more.
    async with ctx.store.transaction() as tx:
        for result in results[:3]:
            await tx.messages.update(result.acknowledgement_id,
                                     created_at=utcnow() - timedelta(days=1))
    tomorrow = await ingest(ctx, mail("Yeni müraciət", message_id="<n9@mail.ru>",
                                      subject="Yeni"))
    assert tomorrow.acknowledgement_id is not None


async def test_a_conversation_routed_later_keeps_the_same_rules(ctx):
    """A conversation the routing sweep routes (its first routing lost to a crash) is
    acknowledged by the same rules: not when a machine wrote it, not past the daily cap."""
    machine = await ingest(ctx, mail(OUT_OF_OFFICE, message_id="<ooo@mail.ru>",
                                     subject="Avtomatik cavab", automatic="auto-reply"))
    people = [await ingest(ctx, mail(f"Müraciət {n}", message_id=f"<n{n}@mail.ru>",
                                     subject=f"Müraciət {n}")) for n in range(4)]
    assert [r.acknowledgement_id is not None for r in people] == [True, True, True, False]
    for result in (machine, people[1], people[3]):
        await unroute(ctx, result.conversation_id)
        await dispatch.route_conversation(ctx, result.conversation_id)
    assert [m["direction"] for m in await messages_of(ctx, machine.conversation_id)] == ["in"]
    # The second person's acknowledgement was undone and is sent again: two stand today.
    assert [m["direction"] for m in await messages_of(ctx, people[1].conversation_id)] \
        == ["in", "out"]
    assert [m["direction"] for m in await messages_of(ctx, people[3].conversation_id)] \
        == ["in"]
    assert (await conversation(ctx, people[3].conversation_id))["routed_at"] is not None


async def test_the_daily_cap_is_the_deployments(ctx):
    ctx.config = load_config_text(FIXTURE.replace(
        "    poll_interval: 30s\n", "    poll_interval: 30s\n    acknowledgements_per_day: 0\n"),
        env={})
    result = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    assert result.new_conversation and result.acknowledgement_id is None
    # Other channels have no cap.
    sms = await ingest(ctx, InboundMessage(
        channel="sms", external_id="SM1", address="+994501234567", phone="+994501234567",
        text="Salam", received_at=utcnow()))
    assert sms.acknowledgement_id is not None


@pytest.mark.parametrize("value, message", [
    ("-1", "must be 0 or more, got -1"),
    ("many", "expected int, got str 'many'"),
])
def test_a_bad_daily_cap_is_named_with_its_line(value, message):
    text = FIXTURE.replace("    poll_interval: 30s\n",
                           f"    poll_interval: 30s\n    acknowledgements_per_day: {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, env={})
    line = text.splitlines().index(f"    acknowledgements_per_day: {value}") + 1
    assert raised.value.problems == [
        Problem("channels.email.acknowledgements_per_day", line, message)]


BOUNCE_TEXT = ("Delivery to the following recipient failed permanently:\n\n"
               "    gunel.aliyeva@mail.ru\n\nThe recipient's mailbox does not exist.")
REASON = "550 5.1.1 <gunel.aliyeva@mail.ru>: Recipient address rejected: User unknown"


def bounce(message_id: str = "<dsn1@mx.mail.ru>") -> InboundMessage:
    return mail(BOUNCE_TEXT, "mailer-daemon@mx.mail.ru", message_id=message_id,
                subject="Undelivered Mail Returned to Sender", automatic="bounce")


async def test_a_bounce_fails_the_message_it_names_where_the_agent_sees_it(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    port = ChannelPort(ctx)
    report = bounce()
    assert await port.mark_bounced("email", [ours, "<unknown@elsewhere>"], REASON,
                                   report) == [first.acknowledgement_id]
    _, ack, note = await messages_of(ctx, first.conversation_id)
    assert (ack["delivery_status"], ack["delivery_error"]) == ("failed", REASON)
    assert (note["direction"], note["author_kind"], note["body"]) == ("note", "system",
                                                                      BOUNCE_TEXT)
    assert note["external_id"] == report.external_id and note["extra"]["automatic"] == "bounce"
    async with ctx.store.read() as tx:
        events = await tx.events.of_conversation(first.conversation_id)
    assert [e["data"] for e in events if e["type"] == "delivery_failed"] == [
        {"message_id": ack["id"], "error": REASON}]
    # The resident's conversation is not moved by it, and nobody is acknowledged.
    assert (await conversation(ctx, first.conversation_id))["status"] == "waiting"
    heard = []
    while (message := await pubsub.get_message(timeout=0.5)) is not None:
        if message["type"] == "message":
            envelope = json.loads(message["data"])
            heard.append({"type": envelope["type"], **envelope["data"]})
    await pubsub.aclose()
    [updated] = [e for e in heard if e["type"] == "message.updated"]
    assert (updated["message_id"], updated["delivery_status"], updated["delivery_error"]) == (
        ack["id"], "failed", REASON)
    assert any(e["type"] == "message.created" and e["message"]["id"] == note["id"]
               for e in heard)
    # The mailbox read again: nothing more.
    assert await port.mark_bounced("email", [ours], REASON, report) == [ack["id"]]
    assert len(await messages_of(ctx, first.conversation_id)) == 3


async def test_a_bounce_naming_none_of_ours_stores_nothing(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    await sent_acknowledgement(ctx, first.conversation_id)
    port = ChannelPort(ctx)
    assert await port.mark_bounced("email", ["<staff-outlook-mail@dost.example.gov.az>"],
                                   REASON, bounce()) == []
    assert await port.mark_bounced("email", [], REASON) == []
    assert [m["delivery_status"] for m in await messages_of(ctx, first.conversation_id)] == [
        "received", "sent"]
    assert await port.stored_message_id("email", bounce().external_id) is None


async def test_one_bounce_read_by_two_workers_at_once_is_kept_once(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    port = ChannelPort(ctx)
    report = bounce()
    both = await asyncio.gather(*(port.mark_bounced("email", [ours], REASON, report)
                                  for _ in range(4)))
    assert both == [[first.acknowledgement_id]] * 4
    stored = await messages_of(ctx, first.conversation_id)
    assert [m["direction"] for m in stored] == ["in", "out", "note"]
    async with ctx.store.read() as tx:
        events = await tx.events.of_conversation(first.conversation_id)
    assert [e["type"] for e in events].count("delivery_failed") == 1
