"""Which conversation a resident's mail lands in (`inbox.threads`), against the real database
(SQLite and PostgreSQL) and Redis: replies from every kind of mail program find their
conversation, strangers and newsletter repliers find nobody else's, and a reply to a closed
matter reopens it while it is recent."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from channels.email import thread
from inbox import outbox, threads
from inbox.ingest import Arrival, ingest, store_many
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.messages import InboundMessage
from inbox.port import ChannelPort
from inbox.storage import utcnow
from settings import Problem
from settings.loader import ConfigError, load_config_text
from tests.conftest import TEST_CONFIG
from tests.inbox.test_auth import RAUF, add_user
from tests.inbox.test_ingest import chat
from tests.statements import recorded

MAILBOX = "dost-baku-1"
MAILBOX_ADDRESS = "baku1@dost.example.gov.az"
GUNEL = "gunel.aliyeva@mail.ru"
ELVIN = "elvin.mammadov@gmail.com"


def mail(text: str, sender: str = GUNEL, *, message_id: str | None = None,
         in_reply_to: tuple[str, ...] = (), references: tuple[str, ...] = (),
         subject: str = "Pensiya müraciəti", automatic: str | None = None) -> InboundMessage:
    """A mail as the IMAP side hands it over (the conventions of the e-mail brief): its
    external id the mailbox and the hash of its bytes, its thread key the thread's root."""
    raw = f"{sender}\n{message_id}\n{in_reply_to}\n{references}\n{subject}\n{text}".encode()
    replies_to = tuple(dict.fromkeys(in_reply_to + references))
    root = references[0] if references else in_reply_to[0] if in_reply_to else message_id
    return InboundMessage(
        channel="email", external_id=f"{MAILBOX}:{hashlib.sha256(raw).hexdigest()}",
        address=sender, text=text, received_at=datetime.now(UTC), display_name="Günel Əliyeva",
        thread_key=root, queue_hint=MAILBOX, replies_to=replies_to,
        reference=thread.reference_in_subject(subject), automatic=automatic,
        extra={"email": {"subject": subject, "from": sender, "from_name": "Günel Əliyeva",
                         "to": [MAILBOX_ADDRESS], "cc": [], "message_id": message_id,
                         "in_reply_to": in_reply_to[0] if in_reply_to else None,
                         "quoted": "", "notes": [], "mailbox": MAILBOX}})


async def sent_acknowledgement(ctx, conversation_id: int) -> str:
    """Send the conversation's acknowledgement as the SMTP side would: our Message-ID becomes
    its external id. Returns that Message-ID."""
    async with ctx.store.read() as tx:
        [ack] = [m for m in await tx.messages.of_conversation(conversation_id)
                 if m["direction"] == "out"]
    our_id = thread.message_id(conversation_id, ack["id"], MAILBOX_ADDRESS)
    await outbox.mark_sent(ctx, ack["id"], our_id)
    return our_id


async def conversation(ctx, conversation_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.conversations.get(conversation_id)


async def resolve(ctx, conversation_id: int, ago: timedelta) -> None:
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(conversation_id, status="resolved",
                                      resolved_at=utcnow() - ago)


async def test_a_reply_to_our_mail_joins_its_conversation_and_is_not_acknowledged(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    reply = await ingest(ctx, mail("Sənədləri əlavə edirəm", message_id="<m2@mail.ru>",
                                   in_reply_to=(ours,), references=("<m1@mail.ru>", ours),
                                   subject=f"Re: Pensiya müraciəti [DOST-{first.conversation_id}]"))
    assert reply.conversation_id == first.conversation_id and not reply.new_conversation
    assert reply.acknowledgement_id is None
    async with ctx.store.read() as tx:
        stored = await tx.messages.of_conversation(first.conversation_id)
    assert [(m["direction"], m["body"]) for m in stored][2:] == [
        ("in", "Sənədləri əlavə edirəm")]
    assert stored[2]["extra"]["email"]["message_id"] == "<m2@mail.ru>"


async def test_a_new_mail_without_a_thread_is_a_new_conversation(ctx):
    """A mail, unlike a chat message, is a matter of its own: a second new mail from the same
    resident while the first is open starts a conversation of its own."""
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    second = await ingest(ctx, mail("Əlilliyə görə müavinət", message_id="<m2@mail.ru>",
                                    subject="Müavinət"))
    assert second.new_conversation and second.conversation_id != first.conversation_id
    assert second.acknowledgement_id is not None
    first_row, second_row = (await conversation(ctx, first.conversation_id),
                             await conversation(ctx, second.conversation_id))
    assert first_row["contact_id"] == second_row["contact_id"]
    assert (first_row["thread_key"], second_row["thread_key"]) == ("<m1@mail.ru>",
                                                                   "<m2@mail.ru>")


@pytest.mark.parametrize("shape", ["in-reply-to only", "thread-index and token only"])
async def test_outlook_replies_land_in_the_same_conversation(ctx, shape):
    """Outlook often answers without References: with In-Reply-To alone (here under a
    subject the resident retyped, without our token), or (from some Exchange set-ups and
    forwards) with neither, its own Thread-Index and our subject."""
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    if shape == "in-reply-to only":
        in_reply_to, subject = (ours,), "RE: Pensiya"
    else:
        in_reply_to, subject = (), f"RE: Pensiya müraciəti [DOST-{first.conversation_id}]"
    reply = await ingest(ctx, mail("Cavabınızı gözləyirəm", message_id="<AM0PR@outlook.com>",
                                   in_reply_to=in_reply_to, subject=subject))
    assert reply.conversation_id == first.conversation_id and not reply.new_conversation


async def test_a_reply_to_the_residents_own_earlier_mail_joins_it(ctx):
    """The resident answers themselves ("forgot the attachment") naming their own mail: its
    Message-ID, kept with the message, leads back, though it is no thread's root."""
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    second = await ingest(ctx, mail("Arayış əlavədədir", message_id="<m2@mail.ru>",
                                    in_reply_to=("<m1@mail.ru>",), references=("<m1@mail.ru>",)))
    third = await ingest(ctx, mail("Bir sənəd də", message_id="<m3@mail.ru>",
                                   in_reply_to=("<m2@mail.ru>",),
                                   references=("<other-root@mail.ru>", "<m2@mail.ru>")))
    assert first.conversation_id == second.conversation_id == third.conversation_id


async def test_a_stranger_quoting_someone_elses_thread_and_token_joins_nothing(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    forwarded = mail("Qonşum üçün yazıram", ELVIN, message_id="<e1@gmail.com>",
                     in_reply_to=(ours,), references=("<m1@mail.ru>", ours),
                     subject=f"Fwd: Re: Pensiya [DOST-{first.conversation_id}]")
    stranger = await ingest(ctx, forwarded)
    assert stranger.new_conversation and stranger.conversation_id != first.conversation_id
    # Known to us now, Elvin still joins nothing of Günel's, by ids or by token.
    again = await ingest(ctx, mail("Yenə yazıram", ELVIN, message_id="<e2@gmail.com>",
                                   in_reply_to=("<m1@mail.ru>",),
                                   subject=f"[DOST-{first.conversation_id}]"))
    assert again.conversation_id not in (first.conversation_id,)
    elvin = await conversation(ctx, stranger.conversation_id)
    assert elvin["contact_id"] != (await conversation(ctx, first.conversation_id))["contact_id"]


async def test_newsletter_replies_never_merge_across_people(ctx):
    """One mail of ours went to many residents; each reply names its Message-ID. Each
    resident gets a conversation of their own, and their next reply joins their own."""
    newsletter = "<dost.1.1.0a1b@dost.example.gov.az>"
    people = [f"resident{i}@mail.az" for i in range(3)]
    first = [await ingest(ctx, mail(f"Sualım var {i}", person, message_id=f"<r{i}@mail.az>",
                                    in_reply_to=(newsletter,), references=(newsletter,),
                                    subject="Re: Yeni xidmətlər"))
             for i, person in enumerate(people)]
    assert all(r.new_conversation for r in first)
    assert len({r.conversation_id for r in first}) == len(people)
    again = [await ingest(ctx, mail(f"Əlavə {i}", person, message_id=f"<s{i}@mail.az>",
                                    in_reply_to=(newsletter,), references=(newsletter,),
                                    subject="Re: Yeni xidmətlər"))
             for i, person in enumerate(people)]
    assert [r.conversation_id for r in again] == [r.conversation_id for r in first]


async def test_a_reply_to_a_recently_resolved_conversation_reopens_it(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    await resolve(ctx, first.conversation_id, timedelta(days=13))
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    reply = await ingest(ctx, mail("Hələ də gəlməyib", message_id="<m2@mail.ru>",
                                   in_reply_to=(ours,), references=("<m1@mail.ru>", ours)))
    assert reply.conversation_id == first.conversation_id and reply.reopened
    row = await conversation(ctx, first.conversation_id)
    assert (row["status"], row["resolved_at"]) == ("waiting", None)
    async with ctx.store.read() as tx:
        events = await tx.events.of_conversation(first.conversation_id)
    [reopened] = [e for e in events if e["type"] == "reopened"]
    assert reopened["data"] == {"from": "resolved", "to": "waiting",
                                "reason": "the resident replied"}
    kinds = set()
    while (message := await pubsub.get_message(timeout=0.5)) is not None:
        if message["type"] == "message":
            kinds.add(json.loads(message["data"])["type"])
    await pubsub.aclose()
    assert {"message.created", "conversation.updated"} <= kinds


async def test_a_reopened_conversation_stays_with_its_agent_who_is_online(ctx):
    agent = await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=(MAILBOX,),
                           presence="online")
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    async with ctx.store.transaction() as tx:
        assert await tx.conversations.claim(first.conversation_id, agent, utcnow(),
                                            offered=False)
    await resolve(ctx, first.conversation_id, timedelta(hours=2))
    reply = await ingest(ctx, mail("Təşəkkür, bir sualım da var", message_id="<m2@mail.ru>",
                                   subject=f"Re: [DOST-{first.conversation_id}]"))
    assert reply.conversation_id == first.conversation_id and reply.reopened
    row = await conversation(ctx, first.conversation_id)
    assert (row["status"], row["assignee_id"]) == ("open", agent)


async def test_a_reply_to_an_old_resolved_conversation_starts_a_new_one(ctx):
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, first.conversation_id)
    await resolve(ctx, first.conversation_id, timedelta(days=15))
    reply = await ingest(ctx, mail("Yenə pensiya", message_id="<m2@mail.ru>",
                                   in_reply_to=(ours,), references=("<m1@mail.ru>", ours),
                                   subject=f"Re: Pensiya [DOST-{first.conversation_id}]"))
    assert reply.new_conversation and reply.conversation_id != first.conversation_id
    assert reply.acknowledgement_id is not None
    assert (await conversation(ctx, first.conversation_id))["status"] == "resolved"


async def test_reopen_within_is_the_deployments(ctx):
    ctx.config = load_config_text(FIXTURE.replace(
        "    poll_interval: 30s\n", "    poll_interval: 30s\n    reopen_within: 0\n"), env={})
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    await resolve(ctx, first.conversation_id, timedelta(minutes=5))
    reply = await ingest(ctx, mail("Yenə", message_id="<m2@mail.ru>",
                                   in_reply_to=("<m1@mail.ru>",), references=("<m1@mail.ru>",)))
    assert reply.new_conversation


async def test_a_split_thread_continues_where_its_newest_named_message_is(ctx):
    """An agent split the thread's later mails off: a reply naming every ancestor continues
    the newer conversation, which holds the nearest one."""
    first = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    second = await ingest(ctx, mail("Əlavə sual", message_id="<m2@mail.ru>",
                                    in_reply_to=("<m1@mail.ru>",), references=("<m1@mail.ru>",)))
    async with ctx.store.transaction() as tx:
        row = await tx.conversations.get(first.conversation_id)
        now = utcnow()
        newer = await tx.conversations.create(
            contact_id=row["contact_id"], identity_id=row["identity_id"], channel="email",
            status="waiting", queue=MAILBOX, thread_key="<m1@mail.ru>", created_at=now,
            last_message_at=now)
        await tx.messages.move([second.message_id], newer)
    reply = await ingest(ctx, mail("Cavab", message_id="<m3@mail.ru>",
                                   references=("<m1@mail.ru>", "<m2@mail.ru>")))
    assert reply.conversation_id == newer


async def test_a_polls_batch_threads_each_mail_as_it_would_alone(ctx):
    """A mailbox's poll hands its mails over together (`ChannelPort.ingest_many`): the
    residents' first mails, their replies to them and to our acknowledgements, and a stranger
    quoting them, each land where they would one by one."""
    earlier = await ingest(ctx, mail("Pensiyam gecikir", message_id="<m1@mail.ru>"))
    ours = await sent_acknowledgement(ctx, earlier.conversation_id)
    poll = [
        mail("Sənədlər əlavədədir", message_id="<m2@mail.ru>", in_reply_to=(ours,),
             references=("<m1@mail.ru>", ours)),
        mail("Müavinət haqqında", ELVIN, message_id="<e1@gmail.com>", subject="Müavinət"),
        mail("Unutdum: arayış da", ELVIN, message_id="<e2@gmail.com>",
             in_reply_to=("<e1@gmail.com>",), references=("<e1@gmail.com>",)),
        mail("Mən də", "third@mail.az", message_id="<t1@mail.az>", in_reply_to=(ours,),
             subject=f"Re: [DOST-{earlier.conversation_id}]"),
    ]
    gunel, elvin_first, elvin_reply, stranger = await ChannelPort(ctx).ingest_many(poll)
    assert gunel.conversation_id == earlier.conversation_id and not gunel.new_conversation
    assert elvin_first.new_conversation and elvin_first.acknowledgement_id is not None
    assert elvin_reply.conversation_id == elvin_first.conversation_id
    assert stranger.new_conversation
    assert len({earlier.conversation_id, elvin_first.conversation_id,
                stranger.conversation_id}) == 3


def test_the_most_trusted_match_wins():
    """Our own message named beats the resident's, which beats a thread's root, which beats
    the subject's token (pure: `threads.choose`)."""
    candidates = [{"id": 9, "thread_key": "<root9@x>"}, {"id": 7, "thread_key": "<root7@x>"},
                  {"id": 5, "thread_key": None}]
    message = mail("x", message_id="<new@x>", in_reply_to=("<a@x>",),
                   references=("<root7@x>", "<a@x>"), subject="[DOST-5]")
    ours_in_5 = {"id": 1, "conversation_id": 5, "direction": "out"}
    theirs_in_9 = {"id": 50, "conversation_id": 9, "direction": "in"}
    assert threads.choose(message, candidates, [theirs_in_9, ours_in_5])["id"] == 5
    assert threads.choose(message, candidates, [theirs_in_9])["id"] == 9
    assert threads.choose(message, candidates, [])["id"] == 7
    only_token = mail("x", message_id="<new@x>", subject="Re: [DOST-5]")
    assert threads.choose(only_token, candidates, [])["id"] == 5
    assert threads.choose(mail("x", subject="Re: [DOST-6]"), candidates, []) is None


async def test_a_chat_without_a_thread_still_joins_the_open_conversation(ctx):
    """Threads are the e-mail channel's trait: a chat message joins the open conversation."""
    first = await ingest(ctx, chat("Salam", client_id="a"))
    second = await ingest(ctx, chat("Cavab gözləyirəm", client_id="b"))
    assert second.conversation_id == first.conversation_id


async def test_only_mail_with_a_thread_costs_queries_of_its_own(ctx):
    """A batch of residents' SMS follow-ups runs the same statements however large it is: the
    thread look-ups are only for messages that name a thread."""
    def sms(i: int, n: int) -> Arrival:
        phone = f"+994500{i:06d}"
        return Arrival(InboundMessage(channel="sms", external_id=f"SM{n}-{i}", address=phone,
                                      phone=phone, text="Salam, pensiya",
                                      received_at=datetime.now(UTC)))

    async def cost(arrivals: list[Arrival]) -> int:
        with recorded(ctx.store.engine) as statements:
            await store_many(ctx, arrivals)
        return len(statements)

    await store_many(ctx, [sms(i, 0) for i in range(6)])     # the residents' first messages
    await cost([sms(i, 1) for i in range(3)])                # warms the statement caches
    await cost([sms(i, 2) for i in range(6)])
    assert await cost([sms(i, 3) for i in range(3)]) == await cost([sms(i, 4) for i in range(6)])


FIXTURE = TEST_CONFIG.read_text(encoding="utf-8")


@pytest.mark.parametrize("value, message", [
    ("2x", "not a duration: '2x' (use e.g. 30s, 5m, 2h, 1d or 1h30m)"),
    ("-5", "must be 0 or more, got -5"),
])
def test_a_bad_reopen_window_is_named_with_its_line(value, message):
    text = FIXTURE.replace("    poll_interval: 30s\n",
                           f"    poll_interval: 30s\n    reopen_within: {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, env={})
    line = text.splitlines().index(f"    reopen_within: {value}") + 1
    assert raised.value.problems == [Problem("channels.email.reopen_within", line, message)]


def test_reopen_within_defaults_to_two_weeks_and_reads_durations():
    assert load_config_text(FIXTURE, env={}).channels.rules("email").reopen_within_s == 14 * 86400
    text = FIXTURE.replace("    poll_interval: 30s\n", "    poll_interval: 30s\n"
                                                       "    reopen_within: 3d\n")
    assert load_config_text(text, env={}).channels.rules("email").reopen_within_s == 3 * 86400
    assert load_config_text(FIXTURE, env={}).channels.rules("sms").reopen_within_s == 0
