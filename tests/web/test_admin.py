"""The admin API (`/api/v1/admin/…`) over HTTP against the real app, on SQLite and PostgreSQL,
real Redis: only admins reach it; accounts are checked as `app.py user add` checks them, with
a code for each refusal; every change writes one audit row in its own transaction and a
refused one writes none; a reset password or a deactivation ends the user's sessions; the
configuration view holds no secret."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app import create_app
from inbox.storage.schema import users
from settings import load_config
from tests.conftest import TEST_CONFIG, with_test_channels
from tests.inbox.test_auth import LEYLA, PASSWORD, add_user, bearer, login
from tests.web.email_samples import mailbox_yaml
from tests.web.test_api import REGISTRATION, SUPPORT_RU, mint_token, seed
from tests.web.test_api import people as people  # a fixture, used by name

ELVIN = "elvin.quliyev@migration.gov.az"     # the deployment's admin
NEW_AGENT = "gunel.rzayeva@142.gov.az"
NEW_PASSWORD = "Gəncə-2026-növbə"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(with_test_channels(create_app(config)))


@pytest.fixture
async def admin(ctx) -> tuple[int, dict[str, str]]:
    admin_id = await add_user(ctx, ELVIN, name="Elvin Quliyev", role="admin")
    return admin_id, await mint_token(ctx, admin_id)


def new_agent(**changes) -> dict:
    return {"email": NEW_AGENT, "name": "Günel Rzayeva", "role": "agent",
            "queues": ["call-centre-142"], "languages": ["az", "ru"],
            "capacity": {"chat": 4, "email": 12}, "voice_address": "+994 50 123 45 67",
            "password": NEW_PASSWORD, **changes}


async def audit_rows(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        return list(reversed(await tx.audit.recent(100)))


async def user_count(ctx) -> int:
    async with ctx.store.read() as tx:
        return (await tx.conn.execute(select(func.count()).select_from(users))).scalar_one()


async def create(client, headers, **changes) -> dict:
    response = await client.post("/api/v1/admin/users", json=new_agent(**changes),
                                 headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


ENDPOINTS = [("GET", "/api/v1/admin/users", None),
             ("POST", "/api/v1/admin/users", new_agent()),
             ("PATCH", "/api/v1/admin/users/{id}", {"role": "admin"}),
             ("POST", "/api/v1/admin/users/{id}/deactivate", {}),
             ("POST", "/api/v1/admin/users/{id}/reactivate", {}),
             ("POST", "/api/v1/admin/users/{id}/password", {"password": "Qəbələ-12345"}),
             ("GET", "/api/v1/admin/audit", None),
             ("GET", "/api/v1/admin/config", None)]


@pytest.mark.parametrize("who", ["leyla", "nigar"])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_agents_and_supervisors_get_a_403_from_every_admin_endpoint(
        client, ctx, people, who, method, path, body):
    before = await user_count(ctx)
    target = people["rauf"].id
    response = await client.request(method, path.format(id=target), json=body,
                                    headers=people[who].headers)
    assert response.status == 403
    assert (await response.json())["code"] == "admins_only"
    assert await user_count(ctx) == before and await audit_rows(ctx) == []
    async with ctx.store.read() as tx:
        rauf = await tx.users.get(target)
    assert rauf["role"] == "agent" and rauf["active"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_no_admin_endpoint_answers_without_a_session(client, method, path, body):
    response = await client.request(method, path.format(id=1), json=body)
    assert response.status == 401


async def test_an_admins_cookie_call_that_changes_something_needs_the_csrf_header(
        client, ctx, admin):
    await login(client, ELVIN)
    response = await client.post("/api/v1/admin/users", json=new_agent())
    assert response.status == 403 and (await response.json())["code"] == "csrf_token"
    assert await audit_rows(ctx) == []


async def test_an_admin_creates_an_agent_who_then_signs_in(client, ctx, admin):
    admin_id, headers = admin
    created = await create(client, headers)
    assert {k: created[k] for k in ("email", "name", "role", "queues", "languages", "capacity",
                                    "voice_address", "active")} == {
        "email": NEW_AGENT, "name": "Günel Rzayeva", "role": "agent",
        "queues": ["call-centre-142"], "languages": ["az", "ru"],
        "capacity": {"chat": 4, "email": 12}, "voice_address": "+994501234567", "active": True}
    assert "password" not in json.dumps(created) and "password_hash" not in created

    signed_in = await login(client, NEW_AGENT, NEW_PASSWORD)
    assert signed_in["user"]["role"] == "agent"

    [row] = await audit_rows(ctx)
    assert (row["actor_id"], row["action"], row["target_kind"], row["target_id"]) == \
        (admin_id, "user.created", "user", str(created["id"]))
    assert row["details"]["fields"] == ["email", "name", "role", "queues", "languages",
                                        "capacity", "voice_address"]
    assert row["details"]["values"]["role"] == "agent"
    text = json.dumps(row["details"], ensure_ascii=False)
    assert NEW_PASSWORD not in text and "+99450" not in text and "$argon2" not in text

    listed = await (await client.get("/api/v1/admin/users", headers=headers)).json()
    assert NEW_AGENT in [user["email"] for user in listed]


@pytest.mark.parametrize(("changes", "code"), [
    ({"email": "gunel.rzayeva@"}, "email_invalid"),
    ({"name": "   "}, "name_empty"),
    ({"role": "director"}, "unknown_role"),
    ({"queues": ["dost-sumqayit"]}, "unknown_queue"),
    ({"queues": []}, "agent_without_queues"),
    ({"languages": []}, "languages_required"),
    ({"languages": ["az", "de"]}, "unknown_language"),
    ({"password": "qisa"}, "password_too_short"),
    ({"password": None}, "password_too_short"),
    ({"capacity": {"chat": -1}}, "capacity_invalid"),
    ({"capacity": {"chat": 3, "voice": 2}}, "capacity_invalid"),
    ({"capacity": {"chat": "3"}}, "capacity_invalid"),
    ({"capacity": [3]}, "capacity_invalid"),
    ({"voice_address": "ring me"}, "voice_address_invalid"),
    ({"queues": "call-centre-142"}, "bad_request"),
    ({"queues": ["call-centre-142,triage"]}, "bad_request"),
    ({"name": 7}, "bad_request"),
    ({"superpowers": True}, "bad_request"),
])
async def test_a_refused_account_answers_a_400_with_its_code_and_writes_nothing(
        client, ctx, admin, changes, code):
    _, headers = admin
    before = await user_count(ctx)
    response = await client.post("/api/v1/admin/users", json=new_agent(**changes),
                                 headers=headers)
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["code"] == code, body
    assert await user_count(ctx) == before and await audit_rows(ctx) == []


async def test_every_problem_of_an_account_is_named_at_once(client, admin):
    _, headers = admin
    response = await client.post("/api/v1/admin/users", headers=headers, json=new_agent(
        email="nope", role="director", languages=[], password="x"))
    body = await response.json()
    assert response.status == 400 and body["code"] == "email_invalid"
    assert [p["code"] for p in body["problems"]] == [
        "email_invalid", "unknown_role", "languages_required", "password_too_short"]


async def test_an_address_in_use_is_a_409_and_changes_nothing(client, ctx, admin, people):
    _, headers = admin
    response = await client.post("/api/v1/admin/users", headers=headers,
                                 json=new_agent(email=LEYLA.upper(), name="Someone Else"))
    assert response.status == 409 and (await response.json())["code"] == "email_taken"
    assert await audit_rows(ctx) == []
    async with ctx.store.read() as tx:
        assert (await tx.users.by_email(LEYLA))["name"] == "Leyla Məmmədova"


async def test_an_edit_changes_the_fields_given_and_audits_them_with_old_and_new(
        client, ctx, admin, people):
    admin_id, headers = admin
    rauf = people["rauf"].id
    response = await client.patch(f"/api/v1/admin/users/{rauf}", headers=headers, json={
        "role": "supervisor", "queues": ["call-centre-142", "triage"],
        "capacity": {"chat": 5}, "voice_address": "sip:rauf@pbx.142.gov.az"})
    assert response.status == 200, await response.text()
    edited = await response.json()
    assert (edited["role"], edited["queues"], edited["capacity"], edited["voice_address"],
            edited["name"], edited["languages"]) == (
        "supervisor", ["call-centre-142", "triage"], {"chat": 5, "email": 10},
        "sip:rauf@pbx.142.gov.az", "Rauf Hüseynov", ["az", "ru", "en"])
    [row] = await audit_rows(ctx)
    assert (row["actor_id"], row["action"], row["target_id"]) == \
        (admin_id, "user.updated", str(rauf))
    assert row["details"]["fields"] == ["role", "queues", "capacity", "voice_address"]
    assert row["details"]["changes"]["role"] == {"from": "agent", "to": "supervisor"}
    assert row["details"]["changes"]["capacity"] == {"from": {"chat": 3, "email": 10},
                                                     "to": {"chat": 5, "email": 10}}
    assert "voice_address" not in row["details"]["changes"]

    # The same again changes nothing and writes no audit row.
    again = await client.patch(f"/api/v1/admin/users/{rauf}", headers=headers,
                               json={"role": "supervisor", "capacity": {"chat": 5}})
    assert again.status == 200 and len(await audit_rows(ctx)) == 1

    refused = await client.patch(f"/api/v1/admin/users/{rauf}", headers=headers,
                                 json={"role": "agent", "queues": []})
    assert refused.status == 400
    assert (await refused.json())["code"] == "agent_without_queues"
    assert len(await audit_rows(ctx)) == 1
    for body in ({"email": "x@y.az"}, {"password": "Şəki-2026-növbə"}):
        response = await client.patch(f"/api/v1/admin/users/{rauf}", headers=headers, json=body)
        assert response.status == 400 and (await response.json())["code"] == "bad_request"


async def test_an_admin_cannot_demote_or_deactivate_themselves(client, ctx, admin):
    admin_id, headers = admin
    demoted = await client.patch(f"/api/v1/admin/users/{admin_id}", headers=headers,
                                 json={"role": "supervisor"})
    assert demoted.status == 409 and (await demoted.json())["code"] == "cannot_demote_self"
    gone = await client.post(f"/api/v1/admin/users/{admin_id}/deactivate", headers=headers)
    assert gone.status == 409 and (await gone.json())["code"] == "cannot_deactivate_self"
    async with ctx.store.read() as tx:
        me = await tx.users.get(admin_id)
    assert me["role"] == "admin" and me["active"] and await audit_rows(ctx) == []
    # Their own name they may change.
    renamed = await client.patch(f"/api/v1/admin/users/{admin_id}", headers=headers,
                                 json={"name": "Elvin Quliyev-Məmmədov"})
    assert renamed.status == 200


async def test_deactivating_ends_the_users_sessions_and_reactivating_lets_them_back(
        client, ctx, admin, people):
    admin_id, headers = admin
    leyla = people["leyla"]
    own = bearer((await login(client, LEYLA))["token"])
    deactivated = await client.post(f"/api/v1/admin/users/{leyla.id}/deactivate",
                                    headers=headers)
    assert deactivated.status == 200 and (await deactivated.json())["active"] is False
    for token in (leyla.headers, own):
        assert (await client.get("/api/v1/me", headers=token)).status == 401
    refused = await client.post("/api/v1/auth/login", json={"email": LEYLA,
                                                            "password": PASSWORD})
    assert refused.status == 401
    # Deactivating again changes nothing and is not audited twice.
    await client.post(f"/api/v1/admin/users/{leyla.id}/deactivate", headers=headers)
    reactivated = await client.post(f"/api/v1/admin/users/{leyla.id}/reactivate",
                                    headers=headers)
    assert (await reactivated.json())["active"] is True
    await login(client, LEYLA)
    rows = await audit_rows(ctx)
    assert [(r["actor_id"], r["action"], r["target_id"]) for r in rows] == [
        (admin_id, "user.deactivated", str(leyla.id)),
        (admin_id, "user.reactivated", str(leyla.id))]
    assert rows[0]["details"] == {"fields": ["active"], "sessions_ended": 2}


async def test_taking_an_agent_off_a_queue_returns_what_they_hold_there(
        client, ctx, admin, people):
    _, headers = admin
    leyla = people["leyla"]
    kept = await seed(ctx, queue="migration-registration", text=REGISTRATION,
                      name="Günel Əliyeva", status="open", assignee=leyla.id)
    left = await seed(ctx, queue="migration-support", text=SUPPORT_RU, name="Ольга Ким",
                      status="pending", category="support", language="ru",
                      assignee=leyla.id)
    edited = await client.patch(f"/api/v1/admin/users/{leyla.id}", headers=headers,
                                json={"queues": ["migration-registration"]})
    assert edited.status == 200, await edited.text()
    async with ctx.store.read() as tx:
        stays, returned = (await tx.conversations.get(kept.id),
                           await tx.conversations.get(left.id))
        events = await tx.events.of_conversation(left.id)
    assert (stays["assignee_id"], stays["status"]) == (leyla.id, "open")
    # She could no longer open it: back in its queue, for someone who works it.
    assert (returned["assignee_id"], returned["status"]) == (None, "waiting")
    assert [(e["type"], e["data"]) for e in events if e["type"] == "unassigned"] == [
        ("unassigned", {"agent_id": leyla.id, "reason": "agent left the queue"})]
    assert (await client.get(f"/api/v1/conversations/{left.id}",
                             headers=leyla.headers)).status == 403
    # Made a supervisor (who sees every queue), nobody's work moves.
    again = await seed(ctx, queue="call-centre-142", text=SUPPORT_RU, name="Ольга Ким",
                       status="open", assignee=people["rauf"].id)
    promoted = await client.patch(f"/api/v1/admin/users/{people['rauf'].id}", headers=headers,
                                  json={"role": "supervisor", "queues": []})
    assert promoted.status == 200, await promoted.text()
    async with ctx.store.read() as tx:
        assert (await tx.conversations.get(again.id))["assignee_id"] == people["rauf"].id


async def test_a_reset_password_ends_every_session_of_the_user(client, ctx, admin, people):
    admin_id, headers = admin
    leyla = people["leyla"]
    old = bearer((await login(client, LEYLA))["token"])
    assert (await client.get("/api/v1/me", headers=old)).status == 200

    short = await client.post(f"/api/v1/admin/users/{leyla.id}/password", headers=headers,
                              json={"password": "1234567"})
    assert short.status == 400 and (await short.json())["code"] == "password_too_short"
    assert (await client.get("/api/v1/me", headers=old)).status == 200
    assert await audit_rows(ctx) == []

    reset = await client.post(f"/api/v1/admin/users/{leyla.id}/password", headers=headers,
                              json={"password": NEW_PASSWORD})
    assert reset.status == 200 and (await reset.json()) == {"sessions_ended": 2}
    for token in (old, leyla.headers):
        assert (await client.get("/api/v1/me", headers=token)).status == 401
    stale = await client.post("/api/v1/auth/login", json={"email": LEYLA, "password": PASSWORD})
    assert stale.status == 401
    await login(client, LEYLA, NEW_PASSWORD)
    [row] = await audit_rows(ctx)
    assert (row["actor_id"], row["action"], row["target_id"], row["details"]) == (
        admin_id, "user.password_reset", str(leyla.id),
        {"fields": ["password"], "sessions_ended": 2})
    assert NEW_PASSWORD not in json.dumps(row["details"], ensure_ascii=False)


@pytest.mark.parametrize("target", ["999999", "abc", "0"])
async def test_an_unknown_user_is_a_404(client, ctx, admin, target):
    _, headers = admin
    for method, path, body in ENDPOINTS[2:6]:
        response = await client.request(method, path.format(id=target), json=body,
                                        headers=headers)
        assert response.status == 404, (method, path)
        assert (await response.json())["code"] == "user_not_found"
    assert await audit_rows(ctx) == []


async def test_the_audit_trail_reads_newest_first_in_pages_with_names(client, admin, people):
    admin_id, headers = admin
    created = await create(client, headers)
    await client.patch(f"/api/v1/admin/users/{created['id']}", headers=headers,
                       json={"name": "Günel Rzayeva-Əliyeva"})
    await client.post(f"/api/v1/admin/users/{people['rauf'].id}/deactivate", headers=headers)

    first = await (await client.get("/api/v1/admin/audit?limit=2", headers=headers)).json()
    assert [item["action"] for item in first["items"]] == ["user.deactivated", "user.updated"]
    newest = first["items"][0]
    assert newest["actor"] == {"id": admin_id, "name": "Elvin Quliyev", "email": ELVIN}
    assert newest["target"]["name"] == "Rauf Hüseynov" and newest["target_kind"] == "user"
    assert newest["created_at"].endswith("+04:00")
    assert first["next_before"] == first["items"][1]["id"]
    second = await (await client.get(f"/api/v1/admin/audit?limit=2&before="
                                     f"{first['next_before']}", headers=headers)).json()
    assert [item["action"] for item in second["items"]] == ["user.created"]
    assert second["next_before"] is None
    one = await (await client.get(f"/api/v1/admin/audit?target_kind=user&target_id="
                                  f"{created['id']}", headers=headers)).json()
    assert [item["action"] for item in one["items"]] == ["user.updated", "user.created"]
    for query in ("limit=0", "limit=201", "limit=x", "before=-3", "before=x"):
        response = await client.get(f"/api/v1/admin/audit?{query}", headers=headers)
        assert response.status == 400 and (await response.json())["code"] == "bad_page"


SECRETS = {"IMAP_PASSWORD": "imap-Sirr-5ZK2QJ7", "SMTP_PASSWORD": "smtp-Sirr-9QX1LM2",
           "TELEGRAM_BOT_TOKEN": "123456:AAH-telegram-sirr", "TWILIO_AUTH_TOKEN": "twilio-sirr-42",
           "DATABASE_URL": "postgresql://cc:db-sirr@db.internal/cc"}


@pytest.fixture
def secret_config(tmp_path):
    """The tests' configuration with a mailbox whose passwords come from the environment."""
    text = TEST_CONFIG.read_text(encoding="utf-8")
    mailbox = mailbox_yaml().replace("password: test}", "password: \"${IMAP_PASSWORD}\"}", 1) \
        .replace("password: test}", "password: \"${SMTP_PASSWORD}\"}", 1)
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("    mailboxes: []\n", "    mailboxes:\n" + mailbox),
                    encoding="utf-8")
    config = load_config(path, env=SECRETS)
    assert config.channels.email.mailboxes[0].imap.password == SECRETS["IMAP_PASSWORD"]
    return config


async def test_the_configuration_view_shows_queues_rules_and_hours_and_no_secret(
        aiohttp_client, environment, ctx, secret_config, monkeypatch):
    for name, value in SECRETS.items():
        if name != "DATABASE_URL":
            monkeypatch.setenv(name, value)
    client = await aiohttp_client(with_test_channels(create_app(secret_config)))
    admin_id = await add_user(ctx, ELVIN, name="Elvin Quliyev", role="admin")
    response = await client.get("/api/v1/admin/config", headers=await mint_token(ctx, admin_id))
    assert response.status == 200
    text = await response.text()
    view = json.loads(text)
    assert set(view) == {"timezone", "queues", "routing", "business_hours", "public_holidays"}
    assert [q["id"] for q in view["queues"]] == list(secret_config.queue_ids)
    assert view["routing"]["default_queue"] == secret_config.routing.default_queue
    assert view["routing"]["rules"][0]["queue"] == secret_config.routing.rules[0].queue
    assert view["business_hours"]["open"] == "09:00" and view["business_hours"]["holidays"] == "AZ"
    names = " ".join(h["name"] for h in view["public_holidays"])
    assert "Novruz" in names   # the admin's console language is az: the calendar's own names
    for secret in SECRETS.values():
        assert secret not in text
    for word in ("password", "token", "secret", "dsn", "api_key", "imap", "smtp"):
        assert word not in text.lower(), word


async def test_the_admin_screen_is_for_admins_in_their_language(client, ctx, admin, people):
    from tests.inbox.test_auth import NIGAR

    await login(client, NIGAR)
    refused = await client.get("/admin", headers={"Accept-Language": "en"})
    assert refused.status == 403
    assert "/admin" not in await (await client.get("/console")).text()

    await login(client, ELVIN)
    page = await client.get("/admin", headers={"Accept-Language": "az"})
    assert page.status == 200
    text = await page.text()
    assert '<html lang="az"' in text and "İstifadəçilər" in text and "Audit jurnalı" in text
    assert 'href="/admin/canned"' in text and "/static/admin.js" in text
    assert 'href="/admin" aria-current="page"' in text
    console = await (await client.get("/console", headers={"Accept-Language": "ru"})).text()
    assert 'href="/admin"' in console and "Администрирование" in console


async def test_the_admin_screen_sends_a_stranger_to_sign_in(client):
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/console/login?next=/admin"
