"""The agent API `/api/v1` over HTTP against the real app, on SQLite and PostgreSQL, real Redis.

Conversations are seeded straight into the store with the queue, status and times each test
needs; people get bearer tokens minted in the store (login itself is tests/inbox/test_auth.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import Queue
from sqlalchemy import func, select

from app import create_app
from inbox.auth import CSRF_HEADER
from inbox.jobs import DELIVERY_QUEUE, REPLIES_QUEUE
from inbox.storage import utcnow
from inbox.storage.schema import events, messages
from routing import mask_text
from settings import Limits
from tests.conftest import with_test_channels
from tests.inbox.test_auth import (
    LEYLA,
    NIGAR,
    RAUF,
    USER,
    add_staff,
    add_user,
    bearer,
    login,
)

BAKU = ZoneInfo("Asia/Baku")
# The fields docs/api.md promises; the API may add others.
CONVERSATION = ("id", "status", "channel", "category", "category_confidence", "language",
                "queue", "assignee", "contact", "created_at", "first_response_at",
                "last_message_at", "sla_due_at")
MESSAGE = ("id", "direction", "body", "attachments", "created_at", "author", "delivery_status")


@dataclass(frozen=True)
class Person:
    id: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Seeded:
    id: int
    contact_id: int
    identity_id: int
    at: datetime


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(with_test_channels(create_app(config)))


async def mint_token(ctx, user_id: int) -> dict[str, str]:
    token = secrets.token_urlsafe(32)
    async with ctx.store.transaction() as tx:
        await tx.users.save_token(token, user_id, secrets.token_urlsafe(16),
                            utcnow() + timedelta(hours=1))
    return bearer(token)


@pytest.fixture
async def people(ctx) -> dict[str, Person]:
    """leyla: agent of the two migration queues; rauf: agent of 142; nigar: supervisor."""
    ids = await add_staff(ctx)
    return {name: Person(ids[email], await mint_token(ctx, ids[email]))
            for name, email in (("leyla", LEYLA), ("rauf", RAUF), ("nigar", NIGAR))}


async def seed(ctx, *, queue: str | None, text: str, name: str | None,
               channel: str = "webchat", status: str = "waiting", category: str = "registration",
               language: str = "az", assignee: int | None = None, age: timedelta = timedelta(0),
               phone: str | None = None, contact: Seeded | None = None) -> Seeded:
    """A routed conversation with the resident's first message, `age` ago."""
    at = utcnow() - age
    address = phone or f"sess-{secrets.token_hex(6)}"
    async with ctx.store.transaction() as tx:
        if contact is None:
            contact_id = await tx.contacts.create(name=name, language=language, phone=phone)
        else:
            contact_id = contact.contact_id
        identity_id = await tx.contacts.create_identity(contact_id, channel, address, name)
        conversation_id = await tx.conversations.create(
            contact_id=contact_id, identity_id=identity_id, channel=channel, status=status,
            category=category, category_confidence=0.87, category_source="model",
            language=language, queue=queue, assignee_id=assignee,
            assigned_at=at if assignee else None, created_at=at,
            routed_at=at if queue else None, last_message_at=at, last_inbound_at=at,
            sla_due_at=at + timedelta(hours=2),
            resolved_at=at if status == "resolved" else None)
        message_id = await tx.messages.insert(
            conversation_id=conversation_id, channel=channel, direction="in",
            external_id=f"{address}:{secrets.token_hex(4)}", body=text,
            author_kind="resident", created_at=at, delivery_status="received")
        await tx.events.add(conversation_id, "received",
                           {"message_id": message_id, "channel": channel}, at=at)
    return Seeded(conversation_id, contact_id, identity_id, at)


async def stored(ctx, conversation_id: int) -> tuple[dict, list[dict], list[str]]:
    """The conversation row, its messages and its event types, as the database holds them."""
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
        rows = await tx.messages.of_conversation(conversation_id)
        types = [e["type"] for e in await tx.events.of_conversation(conversation_id)]
    return conversation, rows, types


def delivery_jobs(ctx) -> list[tuple]:
    return [job.args for job in Queue(REPLIES_QUEUE, connection=ctx.jobs.connection).jobs]


def error_of(body: dict) -> str:
    """An error body's text, once it is sure to hold its code beside it (and, at most, the
    values the code's text names)."""
    assert set(body) - {"error", "code"} <= {"max", "hours"} and body["code"], body
    return body["error"]


def fields(view: dict, names: tuple[str, ...]) -> dict:
    return {name: view[name] for name in names}


def baku(at: datetime | None) -> str | None:
    return at.astimezone(BAKU).isoformat() if at is not None else None


async def listed(client, person: Person, query: str = "") -> list[int]:
    response = await client.get(f"/api/v1/conversations{query}", headers=person.headers)
    assert response.status == 200, await response.text()
    return [item["id"] for item in (await response.json())["items"]]


REGISTRATION = "Salam, reintegration.gov.az saytında qeydiyyat formu açılmır. FİN: 5ZJ8K2L"
SUPPORT_RU = "Здравствуйте! Вопрос по реадмиссии: паспорт утерян, что делать?"
PERMIT_EN = "Hello, how do I register my temporary residence permit?"
THANKS = "Təşəkkür edirəm, sənədlərim artıq hazırdır."
PENSION = "Salam, bu ay pensiyam gəlməyib, nə etməliyəm?"


# --- health -----------------------------------------------------------------------------------

async def test_healthz_and_readyz(client):
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_readyz_names_a_database_that_does_not_answer(aiohttp_client, monkeypatch,
                                                            clean_redis, config):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/nowhere")
    monkeypatch.setenv("REDIS_URL", clean_redis)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    client = await aiohttp_client(create_app(config))
    response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "failing": ["database"]}
    assert (await client.get("/healthz")).status == 200   # alive, just not ready


# --- me, listing, visibility ------------------------------------------------------------------

async def test_me_is_the_caller(client, people):
    response = await client.get("/api/v1/me", headers=people["leyla"].headers)
    assert response.status == 200
    assert fields(await response.json(), USER) == {
        "id": people["leyla"].id, "email": LEYLA, "name": "Leyla Məmmədova", "role": "agent",
        "queues": ["migration-registration", "migration-support"], "languages": ["az", "ru"],
        "presence": "offline"}


async def test_a_conversation_has_the_contract_shape(client, ctx, people):
    phone = "+994501234567"
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                   name="Günel Əliyeva", phone=phone, channel="sms", age=timedelta(minutes=3))
    response = await client.get("/api/v1/conversations", headers=people["leyla"].headers)
    body = await response.json()
    assert body["next_cursor"] is None
    [item] = body["items"]
    assert fields(item, CONVERSATION) == {
        "id": c.id, "status": "waiting", "channel": "sms", "category": "registration",
        "category_confidence": 0.87, "language": "az", "queue": "migration-registration",
        "assignee": None,
        # Lists show personal data partly; the opened conversation shows it whole.
        "contact": {"id": c.contact_id, "name": "Günel Əliyeva", "phone": mask_text(phone),
                    "email": None, "erased": False},
        "created_at": baku(c.at), "first_response_at": None, "last_message_at": baku(c.at),
        "sla_due_at": baku(c.at + timedelta(hours=2)),
    }
    assert mask_text(phone) != phone and baku(c.at).endswith("+04:00")
    response = await client.get(f"/api/v1/conversations/{c.id}", headers=people["leyla"].headers)
    detail = await response.json()
    assert fields(detail, CONVERSATION) == {**fields(item, CONVERSATION),
                                            "contact": {**item["contact"], "phone": phone}}


async def test_an_agent_sees_only_their_queues_and_a_supervisor_sees_all(client, ctx, people):
    registration = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                              name="Günel Əliyeva", age=timedelta(minutes=4))
    support = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                         category="support", language="ru", age=timedelta(minutes=3))
    pension = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                         category="inquiry", age=timedelta(minutes=2))
    mailbox = await seed(ctx, queue="dost-baku-1", text=THANKS, name="Elnur Quliyev",
                         channel="email", category="inquiry", age=timedelta(minutes=1))
    assert await listed(client, people["leyla"]) == [support.id, registration.id]
    assert await listed(client, people["rauf"]) == [pension.id]
    assert await listed(client, people["nigar"]) == [mailbox.id, pension.id, support.id,
                                                     registration.id]


async def test_a_conversation_outside_the_callers_queues_is_403_and_untouched(client, ctx,
                                                                             people):
    pension = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                         category="inquiry")
    leyla = people["leyla"].headers
    response = await client.get(f"/api/v1/conversations/{pension.id}", headers=leyla)
    assert response.status == 403
    assert await response.json() == {"error": "outside your queues", "code": "outside_queues"}
    for path, payload in [("messages", {"body": "Salam"}), ("status", {"status": "resolved"}),
                          ("assign", {"agent_id": people["leyla"].id}),
                          ("category", {"category": "support"})]:
        response = await client.post(f"/api/v1/conversations/{pension.id}/{path}",
                                     json=payload, headers=leyla)
        assert response.status == 403, path
    conversation, rows, types = await stored(ctx, pension.id)
    assert (conversation["status"], conversation["assignee_id"]) == ("waiting", None)
    assert len(rows) == 1 and types == ["received"]
    response = await client.get("/api/v1/conversations?queue=call-centre-142", headers=leyla)
    assert response.status == 403


async def test_an_unknown_or_non_numeric_conversation_is_a_json_404(client, people):
    for path in ["/api/v1/conversations/424242", "/api/v1/conversations/abc",
                 "/api/v1/conversations/12x", "/api/v1/conversations/-1"]:
        response = await client.get(path, headers=people["nigar"].headers)
        assert response.status == 404, path
        assert response.content_type == "application/json"
        assert set(await response.json()) == {"error", "code"}


async def test_an_id_beyond_any_stored_id_is_a_404(client, people):
    response = await client.get("/api/v1/conversations/99999999999999999999",
                                headers=people["nigar"].headers)
    assert response.status == 404


async def test_conversation_detail_holds_messages_and_events(client, ctx, people):
    c = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                   category="support", language="ru")
    headers = people["leyla"].headers
    await client.post(f"/api/v1/conversations/{c.id}/messages",
                      json={"body": "Проверьте паспорт в базе ДМС", "private": True},
                      headers=headers)
    response = await client.get(f"/api/v1/conversations/{c.id}", headers=headers)
    assert response.status == 200
    detail = await response.json()
    assert detail["id"] == c.id and detail["queue"] == "migration-support"
    assert [(m["direction"], m["body"], m["author"]) for m in detail["messages"]] == [
        ("in", SUPPORT_RU, {"kind": "resident", "id": None}),
        ("note", "Проверьте паспорт в базе ДМС", {"kind": "agent", "id": people["leyla"].id}),
    ]
    assert [(e["type"], e["actor"]) for e in detail["events"]] == [
        ("received", None), ("noted", people["leyla"].id)]
    assert set(detail["events"][0]) == {"id", "type", "actor", "data", "created_at"}


# --- filters and pagination -------------------------------------------------------------------

@pytest.fixture
async def caseload(ctx, people) -> dict[str, Seeded]:
    """Leyla's queues hold four conversations in every state; 142 holds one she cannot see."""
    leyla, nigar = people["leyla"].id, people["nigar"].id
    return {
        "waiting": await seed(ctx, queue="migration-registration", text=REGISTRATION,
                              name="Günel Əliyeva", phone="+994501234567",
                              age=timedelta(minutes=10)),
        "open": await seed(ctx, queue="migration-support", text=SUPPORT_RU,
                           name="Иван Петров", channel="sms", status="open",
                           category="support", language="ru", assignee=leyla,
                           age=timedelta(minutes=20)),
        "pending": await seed(ctx, queue="migration-registration", text=PERMIT_EN,
                              name="John Smith", channel="telegram", status="pending",
                              language="en", assignee=nigar, age=timedelta(minutes=30)),
        "resolved": await seed(ctx, queue="migration-support", text=THANKS,
                               name="Elnur Quliyev", status="resolved", category="support",
                               assignee=leyla, age=timedelta(minutes=40)),
        "elsewhere": await seed(ctx, queue="call-centre-142", text=PENSION,
                                name="Səbinə Rzayeva", category="inquiry",
                                age=timedelta(minutes=5)),
    }


async def test_filters(client, people, caseload):
    ids = {key: c.id for key, c in caseload.items()}
    leyla = people["leyla"]
    expected = {
        "": ["waiting", "open", "pending", "resolved"],
        "?status=waiting": ["waiting"],
        "?status=open": ["open"],
        "?status=resolved": ["resolved"],
        "?queue=migration-support": ["open", "resolved"],
        "?channel=webchat": ["waiting", "resolved"],
        "?channel=sms": ["open"],
        "?category=support": ["open", "resolved"],
        "?assignee=me": ["open", "resolved"],
        "?assignee=none": ["waiting"],
        f"?assignee={people['nigar'].id}": ["pending"],
        "?assignee=me&status=resolved": ["resolved"],
        "?q=qeydiyyat": ["waiting"],                    # a word of the message
        "?q=Residence%20Permit": ["pending"],           # any case
        "?q=smith": ["pending"],                        # the contact's name
        "?q=50123": ["waiting"],                        # part of the phone number
        "?q=pensiyam": [],                              # in 142: search never leaks
        "?q=%20%20": ["waiting", "open", "pending", "resolved"],   # blank: no filter
    }
    for query, keys in expected.items():
        assert await listed(client, leyla, query) == [ids[k] for k in keys], query
    assert await listed(client, people["nigar"], "?q=pensiyam") == [ids["elsewhere"]]


async def test_search_ignores_case_in_azerbaijani_and_russian(client, people, caseload):
    leyla = people["leyla"]
    assert await listed(client, leyla, "?q=əliyeva") == [caseload["waiting"].id]
    assert await listed(client, leyla, "?q=ПАСПОРТ") == [caseload["open"].id]
    assert await listed(client, leyla, "?q=петров") == [caseload["open"].id]


async def test_search_takes_percent_and_underscore_literally(client, people, caseload):
    assert await listed(client, people["leyla"], "?q=%25") == []
    assert await listed(client, people["leyla"], "?q=_") == []


# Parameters are checked before the database is asked: one database is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_bad_list_parameters_are_a_400(client, people):
    for query, error in [
        ("?status=closed",
         "status must be one or more (comma-separated) of intake, waiting, open, pending, "
         "resolved"),
        ("?assignee=somebody", "assignee must be me, none or an agent id"),
        ("?limit=ten", "limit must be a number"),
        ("?cursor=not-a-cursor", "malformed cursor"),
        ("?cursor=WzFd", "malformed cursor"),                       # base64 of [1]
    ]:
        response = await client.get(f"/api/v1/conversations{query}",
                                    headers=people["nigar"].headers)
        assert response.status == 400, query
        assert error_of(await response.json()) == error


async def test_pages_return_every_conversation_exactly_once(client, ctx, people):
    leyla = people["leyla"]
    same_moment = timedelta(minutes=7)
    seeded = [await seed(ctx, queue=queue, text=f"{REGISTRATION} ({n})", name=f"Sakin {n}",
                         age=same_moment if n in (2, 3, 4) else timedelta(minutes=n))
              for n, queue in enumerate(["migration-registration", "migration-support"] * 4)]
    # Three conversations share one last_message_at: the cursor must split ties by id.
    async with ctx.store.transaction() as tx:
        for s in seeded[2:5]:
            await tx.conversations.update(s.id, last_message_at=seeded[2].at)
    unpaged = await listed(client, leyla)
    assert sorted(unpaged) == sorted(s.id for s in seeded)
    pages, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/conversations{query}", headers=leyla.headers)
        body = await response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for page in pages for i in page] == unpaged


async def test_a_full_last_page_is_followed_by_an_empty_one(client, ctx, people):
    for n in range(2):
        await seed(ctx, queue="migration-registration", text=REGISTRATION, name=f"Sakin {n}",
                   age=timedelta(minutes=n))
    response = await client.get("/api/v1/conversations?limit=2",
                                headers=people["leyla"].headers)
    body = await response.json()
    assert len(body["items"]) == 2 and body["next_cursor"] is not None
    response = await client.get(f"/api/v1/conversations?limit=2&cursor={body['next_cursor']}",
                                headers=people["leyla"].headers)
    assert await response.json() == {"items": [], "next_cursor": None}


# --- replies and notes ------------------------------------------------------------------------

async def test_first_reply_is_queued_sets_first_response_and_assigns_the_replier(client, ctx,
                                                                                 people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                   name="Günel Əliyeva", age=timedelta(minutes=12))
    leyla = people["leyla"]
    text = "Salam, Günel xanım! Formu bir daha göndərin, zəhmət olmasa."
    before = utcnow()
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": f"  {text}\n", "private": False},
                                 headers=leyla.headers)
    assert response.status == 201
    message = await response.json()
    assert fields(message, MESSAGE) == {
        "id": message["id"], "direction": "out", "body": text, "attachments": [],
        "created_at": message["created_at"], "author": {"kind": "agent", "id": leyla.id},
        "delivery_status": "queued"}
    assert message["conversation_id"] == c.id
    assert delivery_jobs(ctx) == [(message["id"],)]
    conversation, rows, types = await stored(ctx, c.id)
    assert [(r["direction"], r["delivery_status"]) for r in rows] == [("in", "received"),
                                                                      ("out", "queued")]
    assert conversation["status"] == "open"
    assert conversation["assignee_id"] == leyla.id
    assert before <= conversation["first_response_at"] <= utcnow()
    sent_at = datetime.fromisoformat(message["created_at"])
    assert abs(conversation["first_response_at"] - sent_at) < timedelta(seconds=1)
    assert conversation["last_message_at"] == conversation["first_response_at"]
    assert types == ["received", "assigned", "replied"]
    # A later reply by someone else changes neither the first response nor the owner (a
    # colleague of the queue: a supervisor would have to take it over first).
    colleague = await add_user(ctx, "aysel.quliyeva@migration.gov.az", name="Aysel Quliyeva",
                               queues=("migration-registration",))
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Forma qəbul edildi."},
                                 headers=await mint_token(ctx, colleague))
    assert response.status == 201
    later, _, types = await stored(ctx, c.id)
    assert later["first_response_at"] == conversation["first_response_at"]
    assert later["assignee_id"] == leyla.id
    assert types == ["received", "assigned", "replied", "replied"]
    async with ctx.store.read() as tx:
        replied = [e["data"]["first_response"] for e in await tx.events.of_conversation(c.id)
                   if e["type"] == "replied"]
    assert replied == [True, False]


async def test_a_reply_reopens_a_resolved_conversation(client, ctx, people):
    c = await seed(ctx, queue="migration-support", text=THANKS, name="Elnur Quliyev",
                   status="resolved", category="support", assignee=people["leyla"].id)
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Daha bir sualınız olarsa, yazın."},
                                 headers=people["leyla"].headers)
    assert response.status == 201
    conversation, _, _ = await stored(ctx, c.id)
    assert conversation["status"] == "open"


async def test_a_private_note_is_never_queued_for_delivery(client, ctx, people):
    c = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                   category="support", language="ru")
    leyla = people["leyla"]
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Sakin ДМС-də qeydiyyatdadır, yoxladım.",
                                       "private": True},
                                 headers=leyla.headers)
    assert response.status == 201
    note = await response.json()
    assert (note["direction"], note["delivery_status"], note["author"]) == (
        "note", None, {"kind": "agent", "id": leyla.id})
    assert delivery_jobs(ctx) == []
    assert Queue(DELIVERY_QUEUE, connection=ctx.jobs.connection).job_ids == []
    conversation, rows, types = await stored(ctx, c.id)
    assert [r["direction"] for r in rows] == ["in", "note"]
    # A note is not an answer to the resident.
    assert (conversation["first_response_at"], conversation["assignee_id"],
            conversation["status"]) == (None, None, "waiting")
    assert types == ["received", "noted"]


async def message_and_event_counts(ctx) -> tuple[int, int]:
    async with ctx.store.read() as tx:
        return ((await tx.conn.execute(select(func.count()).select_from(messages))).scalar_one(),
                (await tx.conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_a_rejected_message_stores_nothing(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva")
    before = await message_and_event_counts(ctx)
    for payload, status, error in [
        ({"body": ""}, 422, "body must not be empty"),
        ({"body": " \n\t "}, 422, "body must not be empty"),
        ({"body": "ж" * 10_001}, 413, "body is longer than 10000 characters"),
        ({}, 400, "body must be a string and private a boolean"),
        ({"body": 142}, 400, "body must be a string and private a boolean"),
        ({"body": "Salam", "private": "yes"}, 400, "body must be a string and private a boolean"),
        (["Salam"], 400, "the body must be a JSON object"),
    ]:
        response = await client.post(f"/api/v1/conversations/{c.id}/messages", json=payload,
                                     headers=people["leyla"].headers)
        assert response.status == status, payload
        assert error_of(await response.json()) == error
    assert await message_and_event_counts(ctx) == before
    assert delivery_jobs(ctx) == []
    conversation, _, _ = await stored(ctx, c.id)
    assert (conversation["first_response_at"], conversation["assignee_id"]) == (None, None)


async def test_malformed_json_is_a_json_400_and_stores_nothing(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva")
    before = await message_and_event_counts(ctx)
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 data='{"body": "Salam, ', headers={
                                     **people["leyla"].headers,
                                     "Content-Type": "application/json"})
    assert response.status == 400
    assert response.content_type == "application/json"
    assert (await response.json())["error"].startswith("malformed JSON body")
    assert await message_and_event_counts(ctx) == before


async def test_a_body_over_the_configured_limit_is_413_and_stores_nothing(aiohttp_client,
                                                                           environment, ctx,
                                                                           config, people):
    small = replace(config, limits=Limits(max_body_bytes=2048))
    client = await aiohttp_client(create_app(small))
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva")
    before = await message_and_event_counts(ctx)
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Salam! " * 400},
                                 headers=people["leyla"].headers)
    assert response.status == 413
    assert response.content_type == "application/json"
    assert "2048" in (await response.json())["error"]
    assert await message_and_event_counts(ctx) == before
    assert delivery_jobs(ctx) == []
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 json={"body": "Salam!"}, headers=people["leyla"].headers)
    assert response.status == 201                       # a normal one still goes through


async def test_a_cookie_session_needs_the_csrf_header_to_reply(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva")
    csrf = (await login(client, LEYLA))["csrf_token"]
    path = f"/api/v1/conversations/{c.id}/messages"
    response = await client.post(path, json={"body": "Salam!"})
    assert response.status == 403
    _, rows, _ = await stored(ctx, c.id)
    assert len(rows) == 1 and delivery_jobs(ctx) == []
    response = await client.post(path, json={"body": "Salam!"}, headers={CSRF_HEADER: csrf})
    assert response.status == 201
    assert (await response.json())["author"] == {"kind": "agent", "id": people["leyla"].id}


# --- assignment and transfer ------------------------------------------------------------------

async def test_assign_to_an_agent_of_the_queue(client, ctx, people):
    c = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                   category="inquiry")
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": people["rauf"].id},
                                 headers=people["nigar"].headers)
    assert response.status == 200
    body = await response.json()
    assert (body["assignee"], body["status"], body["queue"]) == (
        people["rauf"].id, "open", "call-centre-142")
    async with ctx.store.read() as tx:
        [*_, event] = await tx.events.of_conversation(c.id)
    assert (event["type"], event["actor_id"], event["data"]) == (
        "assigned", people["nigar"].id,
        {"agent_id": people["rauf"].id, "reason": "assigned by a person"})


async def test_unassign_puts_the_conversation_back_in_the_queue(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                   name="Günel Əliyeva", status="open", assignee=people["leyla"].id)
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": None}, headers=people["leyla"].headers)
    assert response.status == 200
    conversation, _, types = await stored(ctx, c.id)
    assert (conversation["assignee_id"], conversation["status"]) == (None, "waiting")
    assert types == ["received", "unassigned"]


async def test_a_refused_assignment_changes_nothing(client, ctx, people):
    c = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                   category="inquiry")
    for payload, status, error in [
        ({"agent_id": "rauf"}, 400, "agent_id must be an id or null, queue a queue id"),
        ({"agent_id": True}, 400, "agent_id must be an id or null, queue a queue id"),
        ({"agent_id": None, "queue": 142}, 400,
         "agent_id must be an id or null, queue a queue id"),
        ({"agent_id": 987654}, 404, "agent 987654 not found"),
        ({"agent_id": None, "queue": "dost-baku-3"}, 422, "unknown queue 'dost-baku-3'"),
        ({"agent_id": people["rauf"].id, "queue": "dost-baku-3"}, 422,
         "unknown queue 'dost-baku-3'"),
    ]:
        response = await client.post(f"/api/v1/conversations/{c.id}/assign", json=payload,
                                     headers=people["nigar"].headers)
        assert response.status == status, payload
        assert error_of(await response.json()) == error
    conversation, _, types = await stored(ctx, c.id)
    assert (conversation["queue"], conversation["assignee_id"], conversation["status"]) == (
        "call-centre-142", None, "waiting")
    assert types == ["received"]


async def test_assign_to_an_agent_outside_the_queue_is_422(client, ctx, people):
    c = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                   category="inquiry")
    leyla = people["leyla"].id
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": leyla}, headers=people["nigar"].headers)
    assert response.status == 422
    assert await response.json() == {
        "error": f"agent {leyla} does not work queue 'call-centre-142'",
        "code": "agent_not_in_queue"}
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["assignee_id"] is None and types == ["received"]


async def test_a_failed_transfer_with_assignment_leaves_no_half_transfer(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=PENSION, name="Səbinə Rzayeva",
                   category="inquiry")
    # Leyla does not work 142: the transfer must not happen without the assignment.
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": people["leyla"].id,
                                       "queue": "call-centre-142"},
                                 headers=people["leyla"].headers)
    assert response.status == 422
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["queue"] == "migration-registration" and types == ["received"]


async def test_transfer_to_another_queue(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=PENSION, name="Səbinə Rzayeva",
                   status="open", category="inquiry", assignee=people["leyla"].id)
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": None, "queue": "call-centre-142"},
                                 headers=people["leyla"].headers)
    assert response.status == 200
    body = await response.json()
    assert (body["queue"], body["assignee"], body["status"]) == ("call-centre-142", None,
                                                                 "waiting")
    async with ctx.store.read() as tx:
        transferred = [e for e in await tx.events.of_conversation(c.id)
                       if e["type"] == "transferred"]
    assert [(e["actor_id"], e["data"]) for e in transferred] == [
        (people["leyla"].id, {"from": "migration-registration", "to": "call-centre-142"})]
    # It left Leyla's queues: she no longer sees it, Rauf does.
    assert (await client.get(f"/api/v1/conversations/{c.id}",
                             headers=people["leyla"].headers)).status == 403
    assert await listed(client, people["rauf"]) == [c.id]


async def test_transfer_and_assign_in_one_call(client, ctx, people):
    c = await seed(ctx, queue="triage", text=PENSION, name="Səbinə Rzayeva", category="inquiry")
    response = await client.post(f"/api/v1/conversations/{c.id}/assign",
                                 json={"agent_id": people["rauf"].id,
                                       "queue": "call-centre-142"},
                                 headers=people["nigar"].headers)
    assert response.status == 200
    conversation, _, types = await stored(ctx, c.id)
    assert (conversation["queue"], conversation["assignee_id"], conversation["status"]) == (
        "call-centre-142", people["rauf"].id, "open")
    assert types == ["received", "transferred", "assigned"]


async def test_transfer_targets_offer_every_queue_and_each_agents_presence_and_load(
        client, ctx, config, people):
    c = await seed(ctx, queue="migration-registration", text=PENSION, name="Səbinə Rzayeva",
                   status="open", category="inquiry", assignee=people["leyla"].id)
    for n in range(3):   # Rauf is online with three chats: his capacity (3) is full
        await seed(ctx, queue="call-centre-142", text=PENSION, name=f"Resident {n}",
                   status="open", category="inquiry", assignee=people["rauf"].id)
    await seed(ctx, queue="call-centre-142", text=PENSION, name="By mail", channel="email",
               status="open", category="inquiry", assignee=people["rauf"].id)
    async with ctx.store.transaction() as tx:
        await tx.users.update(people["rauf"].id, presence="online")
    response = await client.get(f"/api/v1/conversations/{c.id}/transfer-targets",
                                headers=people["leyla"].headers)
    assert response.status == 200
    targets = await response.json()
    # Leyla works two queues, and may send the conversation to any queue of the deployment.
    assert [q["id"] for q in targets["queues"]] == list(config.queue_ids)
    assert targets["queues"][0] == {"id": config.queues[0].id, "name": config.queues[0].name,
                                    "names": dict(config.queues[0].names),
                                    "kind": config.queues[0].kind}
    assert targets["capacity_kind"] == "chat"
    agents = {a["id"]: a for a in targets["agents"]}
    assert agents[people["rauf"].id] == {
        "id": people["rauf"].id, "name": "Rauf Hüseynov", "role": "agent",
        "presence": "online", "queues": ["call-centre-142"], "languages": ["az", "ru", "en"],
        "load": 3, "capacity": 3, "full": True}
    leyla = agents[people["leyla"].id]
    assert (leyla["presence"], leyla["load"], leyla["capacity"], leyla["full"]) == (
        "offline", 1, 3, False)
    # Seeing where it may go is seeing the conversation: not for agents of other queues.
    response = await client.get(f"/api/v1/conversations/{c.id}/transfer-targets",
                                headers=people["rauf"].headers)
    assert response.status == 403
    # Leyla still lists only her own queues' conversations.
    assert await listed(client, people["leyla"]) == [c.id]


# --- status and category ----------------------------------------------------------------------

async def test_resolve_then_reopen(client, ctx, people):
    c = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                   status="open", category="support", assignee=people["leyla"].id)
    path, headers = f"/api/v1/conversations/{c.id}/status", people["leyla"].headers
    response = await client.post(path, json={"status": "resolved"}, headers=headers)
    assert response.status == 200 and (await response.json())["status"] == "resolved"
    resolved, _, _ = await stored(ctx, c.id)
    assert resolved["resolved_at"] is not None
    response = await client.post(path, json={"status": "resolved"}, headers=headers)
    assert response.status == 200                      # already resolved: no second event
    response = await client.post(path, json={"status": "open"}, headers=headers)
    assert response.status == 200 and (await response.json())["status"] == "open"
    reopened, _, _ = await stored(ctx, c.id)
    assert reopened["resolved_at"] is None
    async with ctx.store.read() as tx:
        changes = [(e["type"], e["data"]) for e in await tx.events.of_conversation(c.id)][1:]
    assert changes == [("resolved", {"from": "open", "to": "resolved"}),
                       ("reopened", {"from": "resolved", "to": "open"})]


async def test_an_unsettable_status_is_422(client, ctx, people):
    c = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Иван Петров",
                   status="open", category="support")
    for status in ["closed", "waiting", "RESOLVED", None, 3]:
        response = await client.post(f"/api/v1/conversations/{c.id}/status",
                                     json={"status": status}, headers=people["leyla"].headers)
        assert response.status == 422, status
        assert await response.json() == {"error": "status must be one of open, pending, resolved",
                                         "code": "not_possible"}
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["status"] == "open" and types == ["received"]


async def test_a_category_correction_is_kept_as_training_data(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=SUPPORT_RU, name="Иван Петров",
                   category="registration", language="ru")
    leyla = people["leyla"]
    response = await client.post(f"/api/v1/conversations/{c.id}/category",
                                 json={"category": "support"}, headers=leyla.headers)
    assert response.status == 200
    body = await response.json()
    assert (body["category"], body["category_confidence"], body["queue"]) == (
        "support", 1.0, "migration-registration")          # no reroute asked: stays put
    async with ctx.store.read() as tx:
        corrections = await tx.events.corrections()
        [*_, event] = await tx.events.of_conversation(c.id)
        conversation = await tx.conversations.get(c.id)
    assert [(k["conversation_id"], k["text"], k["language"], k["predicted"], k["corrected"],
             k["user_id"]) for k in corrections] == [
        (c.id, SUPPORT_RU, "ru", "registration", "support", leyla.id)]
    assert (event["type"], event["actor_id"], event["data"]) == (
        "reclassified", leyla.id, {"from": "registration", "to": "support"})
    assert conversation["category_source"] == "human"


async def test_a_correction_with_reroute_moves_the_conversation(client, ctx, people):
    text = "Salam, reintegrasiya proqramı üzrə yardım lazımdır, müraciətim cavabsız qalıb."
    c = await seed(ctx, queue="triage", text=text, name="Günel Əliyeva", category="inquiry")
    response = await client.post(f"/api/v1/conversations/{c.id}/category",
                                 json={"category": "support", "reroute": True},
                                 headers=people["nigar"].headers)
    assert response.status == 200
    body = await response.json()
    assert (body["queue"], body["category"], body["status"], body["assignee"]) == (
        "migration-support", "support", "waiting", None)
    conversation, rows, types = await stored(ctx, c.id)
    # The correction is the agent's, not a classification of the model's own.
    assert types == ["received", "reclassified", "routed"]
    assert (conversation["category_source"], conversation["category_confidence"]) == (
        "human", 1.0)
    async with ctx.store.read() as tx:
        corrected = [e for e in await tx.events.of_conversation(c.id)
                     if e["type"] == "reclassified"]
    assert [(e["actor_id"], e["data"]) for e in corrected] == [
        (people["nigar"].id, {"from": "inquiry", "to": "support"})]
    assert [r["direction"] for r in rows] == ["in"]      # no second acknowledgement


async def test_a_refused_category_stores_no_correction(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva")
    for payload, status, error in [
        ({"category": "complaint"}, 422, "category must be one of inquiry, registration, support"),
        ({}, 422, "category must be one of inquiry, registration, support"),
        ({"category": "support", "reroute": "yes"}, 400, "reroute must be a boolean"),
    ]:
        response = await client.post(f"/api/v1/conversations/{c.id}/category", json=payload,
                                     headers=people["leyla"].headers)
        assert response.status == status, payload
        assert error_of(await response.json()) == error
    async with ctx.store.read() as tx:
        assert await tx.events.corrections() == []
    conversation, _, types = await stored(ctx, c.id)
    assert conversation["category"] == "registration" and types == ["received"]


# --- queues and contacts ----------------------------------------------------------------------

async def test_queues_show_waiting_counts_for_the_callers_queues(client, ctx, config, people):
    await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Günel Əliyeva",
               age=timedelta(minutes=5))
    await seed(ctx, queue="migration-registration", text=PERMIT_EN, name="John Smith",
               language="en", age=timedelta(minutes=1))
    await seed(ctx, queue="migration-support", text=THANKS, name="Elnur Quliyev",
               status="open", category="support")
    async with ctx.store.transaction() as tx:
        await tx.users.update(people["leyla"].id, presence="online")
    response = await client.get("/api/v1/queues", headers=people["leyla"].headers)
    assert response.status == 200
    registration, support = await response.json()
    assert 300 <= registration.pop("longest_wait_s") < 360
    # Named in every language agents read: the console shows the one it is in.
    assert registration == {
        "id": "migration-registration",
        "name": "Miqrasiya Xidməti: ilkin qeydiyyat (reintegrasiya, vətəndaşlıq, yaşayış icazəsi)",
        "names": {
            "az": "Miqrasiya Xidməti: ilkin qeydiyyat (reintegrasiya, vətəndaşlıq, yaşayış "
                  "icazəsi)",
            "ru": "Миграционная служба: первичная регистрация (реинтеграция, гражданство, вид "
                  "на жительство)",
            "en": "Migration Service: initial registration (reintegration, citizenship, "
                  "residence permit)"},
        "kind": "operators", "waiting": 2, "agents_online": 1}
    assert support == {"id": "migration-support", "name": config.queue("migration-support").name,
                       "names": dict(config.queue("migration-support").names),
                       "kind": "operators", "waiting": 0, "longest_wait_s": 0,
                       "agents_online": 1}
    response = await client.get("/api/v1/queues", headers=people["nigar"].headers)
    every = await response.json()
    assert [q["id"] for q in every] == list(config.queue_ids)
    assert [q["kind"] for q in every] == [q.kind for q in config.queues]
    assert all(set(q) == {"id", "name", "names", "kind", "waiting", "longest_wait_s",
                          "agents_online"} and set(q["names"]) == {"az", "ru", "en"}
               for q in every)


async def test_a_contact_is_visible_through_a_visible_conversation(client, ctx, people):
    chat = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                      name="Günel Əliyeva", age=timedelta(days=2))
    sms = await seed(ctx, queue="call-centre-142", text=PENSION, name="Günel Əliyeva",
                     channel="sms", phone="+994501234567", category="inquiry", contact=chat)
    async with ctx.store.read() as tx:
        address = (await tx.contacts.identity_by_id(chat.identity_id))["address"]
    response = await client.get(f"/api/v1/contacts/{chat.contact_id}",
                                headers=people["leyla"].headers)
    assert response.status == 200
    assert await response.json() == {
        "id": chat.contact_id, "name": "Günel Əliyeva", "phone": None, "email": None,
        "language": "az", "preferred_channel": None, "erased_at": None,
        "identities": [
            {"channel": "webchat", "address": address, "display_name": "Günel Əliyeva"},
            {"channel": "sms", "address": "+994501234567", "display_name": "Günel Əliyeva"}],
        # Only the conversations the caller may see; the 142 one is not Leyla's.
        "conversations": [{"id": chat.id, "channel": "webchat", "status": "waiting",
                           "category": "registration", "queue": "migration-registration",
                           "created_at": baku(chat.at)}],
        "possible_matches": [],
    }
    response = await client.get(f"/api/v1/contacts/{chat.contact_id}",
                                headers=people["nigar"].headers)
    assert [c["id"] for c in (await response.json())["conversations"]] == [sms.id, chat.id]


async def test_a_contact_without_a_visible_conversation_is_403(client, ctx, people):
    pension = await seed(ctx, queue="call-centre-142", text=PENSION, name="Səbinə Rzayeva",
                         category="inquiry")
    response = await client.get(f"/api/v1/contacts/{pension.contact_id}",
                                headers=people["leyla"].headers)
    assert response.status == 403
    assert await response.json() == {"error": "outside your queues", "code": "outside_queues"}


async def test_an_unknown_contact_is_a_json_404(client, people):
    for contact in ["424242", "sabina"]:
        response = await client.get(f"/api/v1/contacts/{contact}",
                                    headers=people["nigar"].headers)
        assert response.status == 404, contact
        assert set(await response.json()) == {"error", "code"}

