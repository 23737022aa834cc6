"""Ingest against the real database (SQLite and PostgreSQL) and real Redis."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from rq import Queue

from channels.delivery import deliver_message
from inbox import outbox
from inbox.ingest import Arrival, announce_many, ingest, store_many
from inbox.jobs import DELIVERY_QUEUE, REPLIES_QUEUE
from inbox.live import WEBCHAT_CHANNEL, channel_name
from inbox.messages import InboundMessage
from inbox.port import ChannelPort
from inbox.storage import utcnow
from tests.inbox.test_auth import RAUF, add_user


def chat(text: str, client_id: str = "c1", session: str = "sess-1", **extra) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"{session}:{client_id}",
                          address=session, text=text, received_at=datetime.now(UTC),
                          display_name=extra.pop("name", "Günel Əliyeva"),
                          language=extra.pop("language", "az"), **extra)


async def test_new_message_is_stored_routed_and_acknowledged(ctx):
    result = await ingest(ctx, chat("Salam, reintegrasiya prosesində qeydiyyatdan keçmək "
                                    "istəyirəm. FİN kodum 5ZJ8K2L, tel +994 50 123 45 67"))
    assert not result.duplicate and result.new_conversation
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(result.conversation_id)
        messages = await tx.messages.of_conversation(result.conversation_id)
        events = [e["type"] for e in await tx.events.of_conversation(result.conversation_id)]
        contact = await tx.contacts.get(conversation["contact_id"])
    assert conversation["status"] == "waiting"
    assert conversation["routed_at"] is not None
    assert conversation["queue"] in ctx.config.queue_ids
    assert conversation["category"] in ("inquiry", "registration", "support")
    assert conversation["sla_due_at"] > conversation["created_at"]
    assert events == ["received", "classified", "routed"]
    # Typed, not vouched for: kept as claims for possible matches, never on the contact.
    assert contact["phone"] is None
    assert [m["direction"] for m in messages] == ["in", "out"]
    ack = messages[1]
    assert ack["author_kind"] == "system" and ack["delivery_status"] == "queued"
    assert f"№ {result.conversation_id}" in ack["body"]
    assert ack["body"].startswith("Hörmətli Günel Əliyeva")
    queued = Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).jobs
    assert [job.args for job in queued] == [(ack["id"],)]


async def test_acknowledgement_speaks_the_residents_language(ctx):
    result = await ingest(ctx, chat("Здравствуйте, какие документы нужны?", language="ru",
                                    name=None))
    async with ctx.store.read() as tx:
        ack = (await tx.messages.of_conversation(result.conversation_id))[1]
    assert ack["body"].startswith("Ваше обращение принято")


async def test_the_acknowledgement_tells_each_resident_their_place_in_the_queue(ctx):
    async def place(session: str, text: str) -> tuple[str, str]:
        result = await ingest(ctx, chat(text, session=session))
        async with ctx.store.read() as tx:
            ack = (await tx.messages.of_conversation(result.conversation_id))[1]
            queue = (await tx.conversations.get(result.conversation_id))["queue"]
        return queue, ack["body"].split("Növbədə yeriniz: ")[1].split(".")[0]

    pension = "Salam, bu ay pensiyam gəlməyib"                 # call-centre-142
    assert await place("sess-1", pension) == ("call-centre-142", "1")
    assert await place("sess-2", pension) == ("call-centre-142", "2")
    registration = "Salam, reintegration.gov.az qeydiyyat formu açılmır"
    assert await place("sess-3", registration) == ("migration-registration", "1")
    # The first resident is taken by an agent: whoever comes next is second, not third.
    agent = await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=("call-centre-142",))
    async with ctx.store.transaction() as tx:
        _, first = await tx.contacts.identity_and_open_conversation("webchat", "sess-1")
        assert await tx.conversations.claim(first["id"], agent, utcnow(), offered=False)
    assert await place("sess-4", pension) == ("call-centre-142", "2")


async def test_same_external_id_is_stored_once(ctx):
    first = await ingest(ctx, chat("Salam", client_id="same"))
    again = await ingest(ctx, chat("Salam", client_id="same"))
    assert again.duplicate and again.message_id == first.message_id
    async with ctx.store.read() as tx:
        inbound = [m for m in await tx.messages.of_conversation(first.conversation_id)
                   if m["direction"] == "in"]
    assert len(inbound) == 1


async def test_concurrent_retries_store_one_message(ctx):
    results = await asyncio.gather(*(ingest(ctx, chat("Pensiyam gəlməyib", client_id="race"))
                                     for _ in range(8)))
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1


async def test_follow_up_joins_the_open_conversation_and_resolved_starts_a_new_one(ctx):
    first = await ingest(ctx, chat("Salam", client_id="a"))
    second = await ingest(ctx, chat("Cavab gözləyirəm", client_id="b"))
    assert second.conversation_id == first.conversation_id and not second.new_conversation
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(first.conversation_id, status="resolved")
    third = await ingest(ctx, chat("Yeni sualım var", client_id="c"))
    assert third.new_conversation and third.conversation_id != first.conversation_id
    async with ctx.store.read() as tx:
        a = await tx.conversations.get(first.conversation_id)
        b = await tx.conversations.get(third.conversation_id)
    assert a["contact_id"] == b["contact_id"]


async def test_delivery_sends_once_and_records_the_state(ctx):
    result = await ingest(ctx, chat("Salam"))
    async with ctx.store.read() as tx:
        ack = (await tx.messages.of_conversation(result.conversation_id))[1]
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, WEBCHAT_CHANNEL))
    await pubsub.get_message(timeout=1)
    assert await deliver_message(ctx, ack["id"]) == "sent"
    assert await deliver_message(ctx, ack["id"]) == "skipped"
    published = await pubsub.get_message(timeout=2)
    await pubsub.aclose()
    assert json.loads(published["data"])["session"] == "sess-1"
    async with ctx.store.read() as tx:
        sent = await tx.messages.get(ack["id"])
    assert sent["delivery_status"] == "sent" and sent["attempts"] == 1


async def test_a_claim_whose_lease_ran_out_is_redriven(ctx):
    result = await ingest(ctx, chat("Salam"))
    async with ctx.store.read() as tx:
        ack_id = (await tx.messages.of_conversation(result.conversation_id))[1]["id"]
    assert await outbox.claim(ctx, ack_id) is not None      # a worker took it ... and died
    assert await outbox.redrive_stale(ctx) == []              # the lease still holds
    long_ago = utcnow() - timedelta(seconds=ctx.config.outbox.lease_s + 1)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(ack_id, claimed_at=long_ago)
    assert await outbox.redrive_stale(ctx) == [ack_id]
    assert await deliver_message(ctx, ack_id) == "sent"
    async with ctx.store.read() as tx:
        assert (await tx.messages.get(ack_id))["attempts"] == 2


async def test_the_sweep_redrives_each_send_into_its_authors_queue(ctx):
    result = await ingest(ctx, chat("Salam"))
    async with ctx.store.transaction() as tx:
        conversation = await tx.conversations.get(result.conversation_id)
        ack_id = (await tx.messages.of_conversation(result.conversation_id))[1]["id"]
        reply_id = await outbox.queue_message(tx, conversation, "Baxırıq", author_kind="agent")
    replies, automatic = (Queue(name, connection=ctx.jobs.connection)
                          for name in (REPLIES_QUEUE, DELIVERY_QUEUE))
    automatic.empty()                     # the jobs that carried them are lost
    overdue = utcnow() - timedelta(seconds=ctx.config.outbox.lease_s + 1)
    async with ctx.store.transaction() as tx:
        for message_id in (ack_id, reply_id):
            await tx.messages.update(message_id, next_attempt_at=overdue)
    assert sorted(await outbox.redrive_stale(ctx)) == [ack_id, reply_id]
    assert [job.args for job in replies.jobs] == [(reply_id,)]
    assert [job.args for job in automatic.jobs] == [(ack_id,)]


async def test_delivered_never_moves_back_to_sent(ctx):
    result = await ingest(ctx, chat("Salam"))
    async with ctx.store.read() as tx:
        ack_id = (await tx.messages.of_conversation(result.conversation_id))[1]["id"]
    await outbox.claim(ctx, ack_id)
    assert await outbox.mark_delivery_status(ctx, ack_id, "delivered")
    await outbox.mark_sent(ctx, ack_id, "provider-1")
    async with ctx.store.read() as tx:
        row = await tx.messages.get(ack_id)
    assert row["delivery_status"] == "delivered" and row["external_id"] == "provider-1"


async def test_an_emails_html_is_stored_sanitized(ctx):
    result = await ingest(ctx, chat(
        "Hörmətli DOST mərkəzi, pensiyam gecikir.", client_id="mail-1",
        html='<p onmouseover="steal()">Hörmətli <b>DOST</b> mərkəzi,</p>'
             '<script>alert(1)</script><img src="https://tracker.example/p.gif" onerror="x()">'
             '<a href="javascript:alert(1)">bax</a>'))
    async with ctx.store.read() as tx:
        stored = await tx.messages.get(result.message_id)
    assert stored["html"] == ('<p>Hörmətli <b>DOST</b> mərkəzi,</p><img>'
                              '<a rel="noopener noreferrer nofollow">bax</a>')


async def test_a_resident_writing_wakes_a_pending_conversation(ctx):
    first = await ingest(ctx, chat("Salam", client_id="p1"))
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(first.conversation_id, status="pending")
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, "cc:events"))
    await pubsub.get_message(timeout=1)
    again = await ingest(ctx, chat("Sənədləri göndərdim", client_id="p2"))
    assert again.woke_up and again.conversation_id == first.conversation_id
    kinds = []
    for _ in range(2):
        event = await pubsub.get_message(timeout=2)
        kinds.append(json.loads(event["data"])["type"])
    await pubsub.aclose()
    assert kinds == ["message.created", "conversation.updated"]
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(first.conversation_id))["status"] == "open"


async def test_a_reply_in_a_thread_joins_that_threads_open_conversation(ctx):
    first = await ingest(ctx, chat("Pensiyam gecikir", client_id="t1", thread_key="<a@mail.az>"))
    # The resident has a newer open conversation as well (an agent split one off, say).
    async with ctx.store.transaction() as tx:
        row = await tx.conversations.get(first.conversation_id)
        now = utcnow()
        newer = await tx.conversations.create(
            contact_id=row["contact_id"], identity_id=row["identity_id"], channel="webchat",
            status="open", thread_key="<b@mail.az>", created_at=now, last_message_at=now)
    reply = await ingest(ctx, chat("Sənədləri əlavə edirəm", client_id="t2",
                                   thread_key="<a@mail.az>"))
    assert reply.conversation_id == first.conversation_id and not reply.new_conversation
    # Without a thread, or in one no conversation has, the newest open one takes it, as before.
    unthreaded = await ingest(ctx, chat("Başqa sualım var", client_id="t3"))
    unknown = await ingest(ctx, chat("Yeni mövzu", client_id="t4", thread_key="<c@mail.az>"))
    assert unthreaded.conversation_id == unknown.conversation_id == newer


async def test_a_thread_joins_no_resolved_conversation_and_no_one_elses(ctx):
    first = await ingest(ctx, chat("Pensiyam gecikir", client_id="t1", thread_key="<a@mail.az>"))
    stranger = await ingest(ctx, chat("Mənim də sualım var", session="sess-2",
                                      thread_key="<a@mail.az>"))
    assert stranger.new_conversation and stranger.conversation_id != first.conversation_id
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(first.conversation_id, status="resolved")
    again = await ingest(ctx, chat("Yenə yazıram", client_id="t2", thread_key="<a@mail.az>"))
    assert again.new_conversation and again.conversation_id != first.conversation_id


async def test_a_batch_stores_each_message_as_it_would_alone(ctx):
    """New residents, a follow-up, a provider's retry, a message twice in the batch and one
    number on SMS and WhatsApp, all in one transaction: each stored once, each new
    conversation routed and acknowledged with its place in line, one contact per number."""
    earlier = await ingest(ctx, chat("Salam, reintegration.gov.az qeydiyyat formu açılmır",
                                     session="sess-old", client_id="a"))
    phone = "+994551112233"

    def carrier(channel: str, sid: str) -> InboundMessage:
        return InboundMessage(channel=channel, external_id=sid, address=phone,
                              text="Salam, bu ay pensiyam gəlməyib", phone=phone,
                              received_at=datetime.now(UTC))

    pension = "Salam, bu ay pensiyam gəlməyib"                 # call-centre-142
    batch = [chat(pension, session="sess-1"), chat(pension, session="sess-2"),
             chat("Cavab gözləyirəm", session="sess-old", client_id="b"),
             chat("Salam, reintegration.gov.az qeydiyyat formu açılmır",
                  session="sess-old", client_id="a"),              # Twilio-style retry
             chat("Pensiya kartım", session="sess-3"), chat("Pensiya kartım", session="sess-3"),
             carrier("sms", "SM" + "1" * 32), carrier("whatsapp", "SM" + "2" * 32)]
    results = await store_many(ctx, [Arrival(m) for m in batch])
    await announce_many(ctx, results)
    new1, new2, follow_up, retry, once, twice, sms, whatsapp = results
    assert [r.duplicate for r in results] == [False, False, False, True, False, True, False,
                                              False]
    assert (retry.message_id, retry.conversation_id) \
        == (earlier.message_id, earlier.conversation_id)
    assert (twice.message_id, twice.conversation_id) == (once.message_id, once.conversation_id)
    assert (follow_up.conversation_id, follow_up.new_conversation) \
        == (earlier.conversation_id, False)
    async with ctx.store.read() as tx:
        places = []
        for result in (new1, new2):
            conversation = await tx.conversations.get(result.conversation_id)
            events = [e["type"] for e in await tx.events.of_conversation(result.conversation_id)]
            ack = (await tx.messages.of_conversation(result.conversation_id))[1]
            assert conversation["queue"] == "call-centre-142" and conversation["routed_at"]
            assert events == ["received", "classified", "routed"]
            places.append(ack["body"].split("Növbədə yeriniz: ")[1].split(".")[0])
        sms_conversation = await tx.conversations.get(sms.conversation_id)
        whatsapp_conversation = await tx.conversations.get(whatsapp.conversation_id)
        old = await tx.messages.of_conversation(earlier.conversation_id)
        inbound_once = [m for m in await tx.messages.of_conversation(once.conversation_id)
                        if m["direction"] == "in"]
        contact = await tx.contacts.get(sms_conversation["contact_id"])
    assert places == ["1", "2"]
    assert sms_conversation["contact_id"] == whatsapp_conversation["contact_id"]
    assert sms.conversation_id != whatsapp.conversation_id and contact["phone"] == phone
    assert [m["body"] for m in old if m["direction"] == "in"] \
        == ["Salam, reintegration.gov.az qeydiyyat formu açılmır", "Cavab gözləyirəm"]
    assert len(inbound_once) == 1
    acknowledged = {r.acknowledgement_id for r in results if r.acknowledgement_id}
    assert len(acknowledged) == 5                # sess-1, sess-2, sess-3, SMS, WhatsApp


async def test_many_fetched_messages_go_in_batches_in_order_and_a_bad_one_fails_alone(ctx):
    """A mailbox's poll hands over many mails at once: one resident's in the order given (a
    later one, replying to the first, joins its conversation), a mail twice stored once, and
    one that cannot be stored fails alone, its error in its place, while the others go in."""
    def mail(address: str, n: int, text: str, channel: str = "email") -> InboundMessage:
        first = f"<1.{address}>"
        return InboundMessage(channel=channel, external_id=f"baku1:{address}:{n}",
                              address=address, text=text, received_at=datetime.now(UTC),
                              queue_hint="dost-baku-1", thread_key=first,
                              replies_to=(first,) if n > 1 else ())
    messages = [mail("leyla@mail.ru", 1, "Salam, pensiya üçün hansı sənədlər lazımdır?"),
                mail("rauf@gmail.com", 1, "Здравствуйте, хочу подать заявление на пособие"),
                mail("leyla@mail.ru", 2, "Şəxsiyyət vəsiqəmin surətini də əlavə edirəm"),
                mail("rauf@gmail.com", 1, "Здравствуйте, хочу подать заявление на пособие"),
                mail("nobody@example.com", 1, "Salam", channel="fax"),
                mail("leyla@mail.ru", 3, "Təşəkkür edirəm")]
    results = await ChannelPort(ctx).ingest_many(messages)
    leyla1, rauf, leyla2, rauf_again, fax, leyla3 = results
    assert isinstance(fax, Exception) and "fax" in str(fax)
    assert leyla1.new_conversation and rauf.new_conversation
    assert (leyla2.conversation_id, leyla3.conversation_id) \
        == (leyla1.conversation_id, leyla1.conversation_id)
    assert not leyla2.new_conversation and not leyla3.new_conversation
    assert rauf_again.duplicate and rauf_again.message_id == rauf.message_id
    async with ctx.store.read() as tx:
        leyla = [m["body"] for m in await tx.messages.of_conversation(leyla1.conversation_id)
                 if m["direction"] == "in"]
        conversation = await tx.conversations.get(rauf.conversation_id)
    assert leyla == ["Salam, pensiya üçün hansı sənədlər lazımdır?",
                     "Şəxsiyyət vəsiqəmin surətini də əlavə edirəm", "Təşəkkür edirəm"]
    assert conversation["queue"] == "dost-baku-1" and conversation["routed_at"]
