"""Canned responses over the API: admins create, edit, delete and reset them (each change an
audit row), nobody else may; agents list the global responses and their own queues' only,
filled for a conversation in its language; the shipped defaults are there on a new
database. The real app on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from inbox import canned
from tests.inbox.test_auth import add_user
from tests.web.test_api import PENSION, REGISTRATION, Person, mint_token, seed
from tests.web.test_api import client as client  # fixtures, used by name
from tests.web.test_api import people as people

ADMIN = "kamran.rzayev@migration.gov.az"
DOST = "dost-baku-1"
DOST_RESPONSE = {
    "key": "dost-baku-1-documents",
    "queue": DOST,
    "title": {"az": "Bakı 1 DOST – sənədlər", "ru": "DOST Баку 1 – документы",
              "en": "DOST Baku 1 – documents"},
    "body": {"az": "Hörmətli {contact_name}, sənədləri {queue_email} ünvanına göndərin. "
                   "Müraciət № {conversation_id}. {agent_name}",
             "ru": "Уважаемый(ая) {contact_name}, отправьте документы на {queue_email} "
                   "({queue}). "
                   "Обращение № {conversation_id}. {agent_name}",
             "en": "Dear {contact_name}, send the documents to {queue_email}. "
                   "Request No. {conversation_id}. {agent_name}"},
}


@pytest.fixture
async def admin(ctx) -> Person:
    user_id = await add_user(ctx, ADMIN, name="Kamran Rzayev", role="admin")
    return Person(user_id, await mint_token(ctx, user_id))


@pytest.fixture
async def dost_agent(ctx) -> Person:
    user_id = await add_user(ctx, "sevinc.abbasova@dost.gov.az", name="Sevinc Abbasova",
                             queues=(DOST,))
    return Person(user_id, await mint_token(ctx, user_id))


async def call(client, method: str, path: str, person: Person, body=None):
    response = await client.request(method, path, json=body, headers=person.headers)
    data = await response.json() if response.status != 204 else None
    return response.status, data


async def audit_rows(ctx) -> list[tuple]:
    async with ctx.store.read() as tx:
        rows = await tx.audit.recent(limit=50, target_kind="canned_response")
    return [(row["actor_id"], row["action"], row["target_id"]) for row in reversed(rows)]


async def test_a_new_database_has_every_shipped_default(client, people):
    status, listed = await call(client, "GET", "/api/v1/canned", people["leyla"])
    assert status == 200
    assert [r["key"] for r in listed["responses"]] == list(canned.shipped())
    greeting = listed["responses"][0]
    assert greeting["texts"]["az"].startswith("Salam, {contact_name}!")
    assert listed["filled"] is False and "contact_name" in listed["variables"]


@pytest.mark.parametrize("who", ["leyla", "nigar"])
async def test_agents_and_supervisors_may_not_administer(client, people, who):
    person = people[who]
    for method, path, body in (
            ("GET", "/api/v1/admin/canned", None),
            ("POST", "/api/v1/admin/canned", DOST_RESPONSE),
            ("PUT", "/api/v1/admin/canned/greeting", DOST_RESPONSE),
            ("DELETE", "/api/v1/admin/canned/greeting", None),
            ("POST", "/api/v1/admin/canned/greeting/reset", None)):
        status, error = await call(client, method, path, person, body)
        assert (status, error["code"]) == (403, "admins_only"), (method, path)
    status, listed = await call(client, "GET", "/api/v1/canned", person)
    assert "dost-baku-1-documents" not in {r["key"] for r in listed["responses"]}


async def test_an_admin_creates_a_queue_response_only_that_queues_agents_see(
        client, ctx, people, admin, dost_agent):
    status, created = await call(client, "POST", "/api/v1/admin/canned", admin, DOST_RESPONSE)
    assert status == 201
    assert created == {**{k: DOST_RESPONSE[k] for k in ("key", "queue", "title", "body")},
                       "tags": [], "is_default": False, "modified": False}
    assert await audit_rows(ctx) == [(admin.id, "canned.created", "dost-baku-1-documents")]

    def keys(listed):
        return {r["key"] for r in listed["responses"]}

    # The DOST centre's agent sees it, beside the global ones; Leyla (migration queues) and
    # Rauf (142) never do, not even by naming a conversation of the centre.
    assert "dost-baku-1-documents" in keys((await call(client, "GET", "/api/v1/canned",
                                                       dost_agent))[1])
    c = await seed(ctx, queue=DOST, text=PENSION, name="Səbinə Rzayeva", category="inquiry",
                   language="ru")
    for outsider in ("leyla", "rauf"):
        status, listed = await call(client, "GET", "/api/v1/canned", people[outsider])
        assert "dost-baku-1-documents" not in keys(listed)
        assert "greeting" in keys(listed)
        status, error = await call(client, "GET", f"/api/v1/canned?conversation_id={c.id}",
                                   people[outsider])
        assert (status, error["code"]) == (403, "outside_queues")

    # Filled for the conversation, in the conversation's language.
    status, listed = await call(client, "GET", f"/api/v1/canned?conversation_id={c.id}",
                                dost_agent)
    assert status == 200 and listed["language"] == "ru" and listed["filled"] is True
    mine = next(r for r in listed["responses"] if r["key"] == "dost-baku-1-documents")
    assert mine["texts"]["ru"] == (
        "Уважаемый(ая) Səbinə Rzayeva, отправьте документы на baku1@dost.example.gov.az "
        "(Бакинский центр DOST № 1). "
        f"Обращение № {c.id}. Sevinc Abbasova")
    assert mine["title"] == "Bakı 1 DOST – sənədlər"   # the agent's console language

    # A supervisor sees it with a conversation of that queue open.
    status, listed = await call(client, "GET", f"/api/v1/canned?conversation_id={c.id}",
                                people["nigar"])
    assert "dost-baku-1-documents" in keys(listed)


async def test_the_listing_refuses_a_bad_or_unknown_conversation(client, people):
    status, error = await call(client, "GET", "/api/v1/canned?conversation_id=abc",
                               people["leyla"])
    assert status == 400
    status, error = await call(client, "GET", "/api/v1/canned?conversation_id=999999",
                               people["leyla"])
    assert (status, error["code"]) == (404, "conversation_not_found")


def with_body(az: str) -> dict:
    return {**DOST_RESPONSE, "body": {**DOST_RESPONSE["body"], "az": az}}


@pytest.mark.parametrize(("body", "code"), [
    (with_body("Salam {name}"), "canned_variable_unknown"),
    (with_body("Salam {contact_name"), "canned_braces_broken"),
    (with_body("Salam contact_name}"), "canned_braces_broken"),
    (with_body("Salam {}"), "canned_variable_unknown"),
    (with_body("   "), "canned_text_invalid"),
    (with_body("x" * 4001), "canned_text_invalid"),
    ({**DOST_RESPONSE, "title": {"az": "Sənədlər", "en": "Documents"}}, "canned_text_invalid"),
    ({**DOST_RESPONSE, "title": {**DOST_RESPONSE["title"], "ru": 7}}, "canned_text_invalid"),
    ({**DOST_RESPONSE, "body": "Salam"}, "canned_text_invalid"),
    ({**DOST_RESPONSE, "queue": "no-such-queue"}, "canned_queue_unknown"),
    ({**DOST_RESPONSE, "key": "Böyük hərflər"}, "canned_key_invalid"),
    ({**DOST_RESPONSE, "key": None}, "canned_key_invalid"),
])
async def test_a_bad_response_is_a_400_with_its_code_and_stores_nothing(client, ctx, admin,
                                                                       body, code):
    status, error = await call(client, "POST", "/api/v1/admin/canned", admin, body)
    assert (status, error["code"]) == (400, code), error
    async with ctx.store.read() as tx:
        assert await tx.canned.all() == []
    assert await audit_rows(ctx) == []


async def test_an_unknown_variable_names_itself_and_the_known_ones(client, admin):
    status, error = await call(client, "POST", "/api/v1/admin/canned", admin,
                               with_body("Salam {fin_code}"))
    assert status == 400 and error["variable"] == "fin_code"
    assert error["known"] == ", ".join(canned.VARIABLES)


async def test_keys_are_unique_and_a_default_keeps_its_key(client, ctx, admin):
    assert (await call(client, "POST", "/api/v1/admin/canned", admin, DOST_RESPONSE))[0] == 201
    for key in ("dost-baku-1-documents", "greeting"):
        status, error = await call(client, "POST", "/api/v1/admin/canned", admin,
                                   {**DOST_RESPONSE, "key": key})
        assert (status, error["code"]) == (409, "canned_key_taken")
    # A deleted default's key stays the default's: it may come back by a reset.
    assert (await call(client, "DELETE", "/api/v1/admin/canned/greeting", admin))[0] == 204
    status, error = await call(client, "POST", "/api/v1/admin/canned", admin,
                               {**DOST_RESPONSE, "key": "greeting"})
    assert status == 409


async def test_an_admin_edits_and_deletes_their_own_response(client, ctx, admin, dost_agent):
    await call(client, "POST", "/api/v1/admin/canned", admin, DOST_RESPONSE)
    changed = {"queue": None, "title": DOST_RESPONSE["title"],
               "body": {**DOST_RESPONSE["body"], "en": "Dear {contact_name}, see dost.gov.az."}}
    status, updated = await call(client, "PUT", "/api/v1/admin/canned/dost-baku-1-documents",
                                 admin, changed)
    assert status == 200 and updated["queue"] is None
    assert updated["body"]["en"] == "Dear {contact_name}, see dost.gov.az."
    status, error = await call(client, "PUT", "/api/v1/admin/canned/dost-baku-1-documents",
                               admin, with_body("{queue"))
    assert (status, error["code"]) == (400, "canned_braces_broken")
    assert (await call(client, "DELETE", "/api/v1/admin/canned/dost-baku-1-documents",
                       admin))[0] == 204
    status, error = await call(client, "DELETE", "/api/v1/admin/canned/dost-baku-1-documents",
                               admin)
    assert (status, error["code"]) == (404, "canned_not_found")
    assert (await call(client, "PUT", "/api/v1/admin/canned/nowhere", admin, changed))[0] == 404
    assert await audit_rows(ctx) == [
        (admin.id, "canned.created", "dost-baku-1-documents"),
        (admin.id, "canned.updated", "dost-baku-1-documents"),
        (admin.id, "canned.deleted", "dost-baku-1-documents")]
    async with ctx.store.read() as tx:
        updated_event = (await tx.audit.recent(limit=3))[1]
        assert await tx.canned.all() == []
    assert updated_event["details"] == {"changed": ["body", "queue"], "default": False}


async def test_a_default_is_edited_deleted_and_reset_to_the_shipped_text(client, ctx, admin,
                                                                         people):
    shipped = canned.shipped()["greeting"]
    edited = {"queue": None, "title": shipped["title"],
              "body": {**shipped["body"], "az": "Salam, {contact_name}! Mən {agent_name}."}}
    status, view = await call(client, "PUT", "/api/v1/admin/canned/greeting", admin, edited)
    assert status == 200 and view["is_default"] and view["modified"]

    async def greeting_text():
        listed = (await call(client, "GET", "/api/v1/canned", people["leyla"]))[1]
        found = [r for r in listed["responses"] if r["key"] == "greeting"]
        return found[0]["texts"]["az"] if found else None

    assert await greeting_text() == "Salam, {contact_name}! Mən {agent_name}."
    status, view = await call(client, "POST", "/api/v1/admin/canned/greeting/reset", admin)
    assert status == 200 and view["body"] == shipped["body"] and not view["modified"]
    assert await greeting_text() == shipped["body"]["az"]

    assert (await call(client, "DELETE", "/api/v1/admin/canned/greeting", admin))[0] == 204
    assert await greeting_text() is None
    status, listed = await call(client, "GET", "/api/v1/admin/canned", admin)
    assert listed["deleted_defaults"] == [{"key": "greeting", "title": shipped["title"]}]
    assert "greeting" not in {r["key"] for r in listed["responses"]}
    assert (await call(client, "POST", "/api/v1/admin/canned/greeting/reset", admin))[0] == 200
    assert await greeting_text() == shipped["body"]["az"]
    status, error = await call(client, "POST", "/api/v1/admin/canned/nowhere/reset", admin)
    assert (status, error["code"]) == (404, "canned_default_unknown")
    assert await audit_rows(ctx) == [
        (admin.id, "canned.updated", "greeting"), (admin.id, "canned.reset", "greeting"),
        (admin.id, "canned.deleted", "greeting"), (admin.id, "canned.reset", "greeting")]


async def test_the_admins_page_is_for_admins(client, ctx, people, admin):
    assert (await client.get("/admin/canned", allow_redirects=False)).status == 302
    for person, status in ((people["leyla"], 403), (people["nigar"], 403), (admin, 200)):
        token = person.headers["Authorization"].removeprefix("Bearer ")
        response = await client.get("/admin/canned", cookies={"cc_session": token})
        assert response.status == status
        page = await response.text()
        assert ('href="/admin"' in page) == (status == 200)


async def test_the_console_listing_by_cookie_matches_the_api(client, ctx, people):
    c = await seed(ctx, queue="migration-registration", text=REGISTRATION, name="Aysel Qasımova")
    token = people["leyla"].headers["Authorization"].removeprefix("Bearer ")
    response = await client.get(f"/console/canned?conversation_id={c.id}",
                                cookies={"cc_session": token})
    listed = await response.json()
    greeting = next(r for r in listed["responses"] if r["id"] == "greeting")
    assert greeting["texts"]["az"] == (f"Salam, Aysel Qasımova! Mən Leyla Məmmədova, "
                                       f"müraciətinizlə mən məşğul oluram (müraciət № {c.id}). "
                                       "Sizə necə kömək edə bilərəm?")
