"""Two app processes taking two messages of the same resident at the same moment apply them
to the dialogue one after the other: neither turn is lost (the row lock and the version)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from inbox import dispatch
from inbox.context import InboxContext
from inbox.ingest import Arrival, announce_many, ingest, store_many
from inbox.jobs import Jobs
from inbox.messages import InboundMessage
from inbox.storage import Store, utcnow
from inbox.storage.db import make_engine
from settings import load_config
from tests.conftest import TEST_CHANNELS, TEST_CONFIG
from tests.inbox.guided_intake.support import conversation, intake_of, with_intake
from tests.inbox.test_auth import add_user
from tests.unrouted import unroute

SESSION = "k3Yq0sZ1guided"


@pytest.fixture
def config():
    return with_intake(load_config(TEST_CONFIG, env={}))


def chat(n: int, text: str) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"{SESSION}:c-{n}", address=SESSION,
                          text=text, received_at=utcnow(), display_name="Aynur Məmmədova",
                          language="az")


async def test_two_processes_apply_two_answers_one_after_the_other(ctx, environment, config):
    first = await ingest(ctx, chat(0, "Salam, ilkin qeydiyyatdan keçmək istəyirəm"))
    await ingest(ctx, chat(1, "bəli"))
    await ingest(ctx, chat(2, "Aynur Məmmədova"))
    other = InboxContext(config=config, store=Store(make_engine(environment["DATABASE_URL"])),
                         redis=aioredis.Redis.from_url(environment["REDIS_URL"]),
                         jobs=Jobs(environment["REDIS_URL"]), channels=TEST_CHANNELS)
    try:
        await asyncio.gather(ingest(ctx, chat(3, "5ZK2Q")), ingest(other, chat(4, "12")))
    finally:
        await other.close()
    row = await intake_of(ctx, first.conversation_id)
    assert row["state"]["step"] == "fin"
    assert row["state"]["attempts"] == 2          # both wrong answers counted
    assert row["version"] == 5                    # created, then four turns


async def test_a_registration_by_mail_gets_the_documents_to_send_and_no_dialogue(ctx):
    result = await ingest(ctx, InboundMessage(
        channel="email", external_id="<reg-1@mail.example.az>", address="aynur@example.az",
        text="Salam, ilkin qeydiyyatdan keçmək istəyirəm. Nə göndərməliyəm?",
        received_at=utcnow(), display_name="Aynur Məmmədova", language="az"))
    async with ctx.store.read() as tx:
        held = await tx.conversations.get(result.conversation_id)
        acknowledgement = await tx.messages.get(result.acknowledgement_id)
        assert await tx.intakes.get(result.conversation_id) is None
    assert held["status"] == "waiting" and held["sla_due_at"] is not None
    assert "İlkin qeydiyyat üçün cavab məktubuna bunları əlavə edin" in acknowledgement["body"]
    assert "- Vətəndaşlığa qəbul: Xarici pasportun surəti; Doğum haqqında şəhadətnamə; " \
        "Yaşayış yerini təsdiq edən sənəd; 3x4 fotoşəkil" in acknowledgement["body"]
    # Routed later instead (its first routing lost to a crash, the sweep routes it): the
    # same acknowledgement, the list included.
    await unroute(ctx, result.conversation_id)
    await dispatch.route_conversation(ctx, result.conversation_id)
    async with ctx.store.read() as tx:
        [again] = [m for m in await tx.messages.of_conversation(result.conversation_id)
                   if m["direction"] == "out"]
    assert again["body"] == acknowledgement["body"]


async def test_a_batch_opens_each_registrations_dialogue_in_its_own_language(ctx):
    # A storm of new residents reaches ingest as one batch: every registration gets its own
    # dialogue and its own first question, in its language; the inquiry gets none.
    texts = {"sess-az": ("Salam, ilkin qeydiyyatdan keçmək istəyirəm", "az"),
             "sess-ru": ("Здравствуйте, хочу пройти первичную регистрацию", "ru"),
             "sess-en": ("Hello, I want to do the initial registration", "en"),
             "sess-q": ("Bu ay pensiyam niyə gecikir?", "az")}
    results = await store_many(ctx, [Arrival(InboundMessage(
        channel="webchat", external_id=f"{address}:c-0", address=address, text=text,
        received_at=utcnow(), display_name=None, language=language))
        for address, (text, language) in texts.items()])
    by_address = dict(zip(texts, results, strict=True))
    consent = {"az": "razısınızmı", "ru": "согласны", "en": "agree"}
    for address in ("sess-az", "sess-ru", "sess-en"):
        result = by_address[address]
        row = await intake_of(ctx, result.conversation_id)
        assert (row["status"], row["language"], row["version"]) == (
            "active", texts[address][1], 1), address
        [bot] = result.bot_replies
        async with ctx.store.read() as tx:
            said = await tx.messages.get(bot)
        assert said["conversation_id"] == result.conversation_id
        assert consent[row["language"]] in said["body"].lower(), said["body"]
    assert await intake_of(ctx, by_address["sess-q"].conversation_id) is None
    assert by_address["sess-q"].bot_replies == ()


async def test_a_batch_takes_each_residents_answer_to_their_own_dialogue(ctx):
    # Residents answering their bots at the same moment reach ingest as one batch: each
    # answer moves its own dialogue, and one that asks for an operator is released alone.
    openers = {"sess-1": ("Salam, ilkin qeydiyyatdan keçmək istəyirəm", "az"),
               "sess-2": ("Здравствуйте, хочу пройти первичную регистрацию", "ru"),
               "sess-3": ("Hello, I want to do the initial registration", "en")}

    def message(address: str, n: int, text: str, language: str) -> Arrival:
        return Arrival(InboundMessage(
            channel="webchat", external_id=f"{address}:c-{n}", address=address, text=text,
            received_at=utcnow(), display_name=None, language=language))

    opened = await store_many(ctx, [message(a, 0, text, language)
                                    for a, (text, language) in openers.items()])
    await announce_many(ctx, opened)
    operator = await add_user(ctx, "rashad@migration.gov.az", name="Rəşad Əliyev",
                              queues=("migration-registration",),
                              languages=("az", "ru", "en"), presence="online")
    answers = {"sess-1": "1", "sess-2": "1", "sess-3": "operator"}
    taken = await store_many(ctx, [message(a, 1, answers[a], openers[a][1]) for a in openers])
    await announce_many(ctx, taken)
    rows = [await intake_of(ctx, r.conversation_id) for r in opened]
    assert [(row["status"], row["version"]) for row in rows] == [
        ("active", 2), ("active", 2), ("handed_over", 2)]
    assert [row["state"]["step"] for row in rows[:2]] == ["full_name", "full_name"]
    assert [r.released for r in taken] == [False, False, True]
    assert [r.conversation_id for r in taken] == [r.conversation_id for r in opened]
    async with ctx.store.read() as tx:
        said = [await tx.messages.get(reply) for r in taken for reply in r.bot_replies]
        released = await tx.conversations.get(opened[2].conversation_id)
    # Each bot answer in its own conversation and language.
    assert [m["conversation_id"] for m in said] == [r.conversation_id for r in opened]
    assert "adınızı" in said[0]["body"].lower() and "имя" in said[1]["body"].lower()
    assert "operator" in said[2]["body"].lower()
    # Released, it is offered like a new case (and taken, with its clock running); those
    # still with the bot are not.
    assert (released["status"], released["queue"], released["assignee_id"]) == (
        "open", "migration-registration", operator)
    assert released["sla_due_at"] is not None
    for result in opened[:2]:
        assert (await conversation(ctx, result.conversation_id))["assignee_id"] is None
