"""Staff accounts: what `user add` accepts, and ending access (deactivation, a new password,
signing out) on the real app, SQLite and PostgreSQL, real Redis."""

from __future__ import annotations

import asyncio

import pytest

from app import create_app
from inbox import actions, assignment, users
from inbox.actions import Actor
from inbox.ingest import ingest
from tests.inbox.test_assignment import REGISTRATION, agent, conversation, events, message
from tests.inbox.test_auth import (
    LEYLA,
    PASSWORD,
    RAUF,
    add_user,
    bearer,
    login,
    token_rows,
)

QUEUES = ("migration-registration", "migration-support", "triage")


# --- what `user add` accepts ------------------------------------------------------------------

def check(email="aysel.kerimova@migration.gov.az", name="Aysel Kərimova", role="agent",
          queues="migration-registration", languages="az,ru", **flags):
    return users.checked_account(email, name, role, queues, languages, QUEUES, **flags)


def test_a_good_account_is_normalised():
    account, problems = check(email="Aysel.Kerimova@Migration.GOV.az", queues=" triage ,",
                              languages="az, en")
    assert problems == []
    assert account == users.Account("aysel.kerimova@migration.gov.az", "Aysel Kərimova",
                                    "agent", ("triage",), ("az", "en"))


@pytest.mark.parametrize(("given", "problem"), [
    ({"email": "notanemail"},
     "'notanemail' is not an e-mail address: An email address must have an @-sign."),
    ({"email": "aysel@migration"}, "'aysel@migration' is not an e-mail address: The part "
                                   "after the @-sign is not valid. It should have a period."),
    ({"languages": "az,de"}, "--languages: unknown language(s) de; use az, ru, en"),
    ({"languages": ""}, "--languages needs one or more of az, ru, en"),
    ({"queues": "triage,dost-baku-9"}, "--queues: unknown queue(s) dost-baku-9; the "
                                       "configuration has migration-registration, "
                                       "migration-support, triage"),
    ({"queues": ""}, "an agent sees only the conversations of their queues: give --queues "
                     "(one or more of migration-registration, migration-support, triage), or "
                     "--no-queues to create the account without any on purpose"),
    ({"queues": "triage", "without_queues": True},
     "--queues and --no-queues contradict each other"),
    ({"name": "  "}, "--name must not be empty"),
])
def test_what_cannot_be_saved_is_said_plainly(given, problem):
    assert check(**given) == (None, [problem])


def test_every_problem_is_reported_at_once():
    account, problems = check(email="notanemail", queues="", languages="az,de")
    assert account is None and len(problems) == 3


def test_queues_are_optional_for_supervisors_and_on_purpose_for_agents():
    assert check(role="supervisor", queues="")[1] == []
    assert check(role="admin", queues="")[1] == []
    account, problems = check(queues="", without_queues=True)
    assert problems == [] and account.queues == ()


# --- ending access ----------------------------------------------------------------------------

@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def user_row(ctx, user_id: int):
    async with ctx.store.read() as tx:
        return await tx.users.get(user_id)


async def test_deactivating_ends_every_session_and_reactivating_needs_a_new_sign_in(client, ctx):
    leyla = await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=QUEUES[:1])
    rauf_id = await add_user(ctx, RAUF, name="Rauf Hüseynov")
    rauf = (await login(client, RAUF))["token"]
    phone = (await login(client, LEYLA))["token"]
    desk = await login(client, LEYLA)           # the last login: the test's cookie session
    assert (await client.get("/api/v1/me")).status == 200
    done = await users.deactivate(ctx, LEYLA)
    assert (done.user_id, done.sessions_ended) == (leyla, 2)
    assert (await client.get("/api/v1/me")).status == 401                        # cookie
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status == 401
    assert (await client.get("/api/v1/me", headers=bearer(rauf))).status == 200  # others stay
    assert [r["user_id"] for r in await token_rows(ctx)] == [rauf_id]
    response = await client.post("/api/v1/auth/login", json={"email": LEYLA,
                                                             "password": PASSWORD})
    assert response.status == 401
    assert (await users.reactivate(ctx, LEYLA))["id"] == leyla
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status == 401
    assert (await client.get("/api/v1/me", headers=bearer(desk["token"]))).status == 401
    assert (await login(client, LEYLA))["user"]["id"] == leyla


async def test_nobody_to_deactivate(ctx):
    assert await users.deactivate(ctx, "nobody@migration.gov.az") is None
    assert await users.reactivate(ctx, "nobody@migration.gov.az") is None


async def test_a_deactivated_agents_conversations_go_back_to_their_queue(ctx):
    nigar = await agent(ctx, "nigar@example.gov.az", ["migration-registration"])
    answered = (await ingest(ctx, message(REGISTRATION, "a"))).conversation_id
    parked = (await ingest(ctx, message(REGISTRATION, "b"))).conversation_id
    nigar_acts = Actor(nigar, "agent", ("migration-registration",))
    await actions.reply(ctx, nigar_acts, answered, "Salam, buyurun.")
    await actions.reply(ctx, nigar_acts, parked, "Sənədləri göndərin, zəhmət olmasa.")
    await actions.set_status(ctx, nigar_acts, parked, "pending")
    assert {(await conversation(ctx, i))["assignee_id"] for i in (answered, parked)} == {nigar}
    rashad = await agent(ctx, "rashad@example.gov.az", ["migration-registration"])

    done = await users.deactivate(ctx, "nigar@example.gov.az")
    assert sorted(done.returned) == sorted([answered, parked])
    # Rashad has room for both: they are his now; Nigar shows as offline.
    for conversation_id in (answered, parked):
        row = await conversation(ctx, conversation_id)
        assert (row["assignee_id"], row["status"]) == (rashad, "open")
        assert ("unassigned", {"agent_id": nigar, "reason": "agent deactivated"}) in \
            await events(ctx, conversation_id)
    assert (await user_row(ctx, nigar))["presence"] == "offline"
    # Nothing new reaches her either.
    await assignment.set_presence(ctx, rashad, "offline")
    later = (await ingest(ctx, message(REGISTRATION, "c"))).conversation_id
    assert (await conversation(ctx, later))["assignee_id"] is None


async def test_a_new_password_ends_the_sessions_the_old_one_opened(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=QUEUES[:1])
    token = (await login(client, LEYLA))["token"]
    await login(client, LEYLA)                  # another device
    account, _ = users.checked_account(LEYLA, "Leyla Məmmədova", "agent", QUEUES[0], "az,ru",
                                       QUEUES)
    # `user add` again with the same password (a new queue, say): she stays signed in.
    saved = await users.save(ctx, account, PASSWORD)
    assert (saved.created, saved.sessions_ended) == (False, 0)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200
    saved = await users.save(ctx, account, "Yeni-şifrə-2026")
    assert saved.sessions_ended == 2
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401
    assert await token_rows(ctx) == []
    assert (await login(client, LEYLA, "Yeni-şifrə-2026"))["user"]["email"] == LEYLA


async def test_updating_a_deactivated_account_keeps_it_deactivated(ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova", active=False)
    account, _ = users.checked_account(LEYLA, "Leyla Məmmədova", "agent", QUEUES[0], "az",
                                       QUEUES)
    saved = await users.save(ctx, account, PASSWORD)
    assert saved.active is False
    assert (await user_row(ctx, saved.user_id))["active"] is False


async def _read_until_closed(response, timeout: float) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while chunk := await response.content.readany():
            seen += chunk
    return seen


# The stream's end comes through Redis; the session check behind it is the same SQL either way.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_deactivated_users_event_stream_ends_at_once(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=QUEUES[:1])
    await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=QUEUES[:1])
    leyla = (await login(client, LEYLA))["token"]
    rauf = (await login(client, RAUF))["token"]
    streams = {}
    for name, token in (("leyla", leyla), ("rauf", rauf)):
        streams[name] = await client.get("/api/v1/stream", headers=bearer(token))
        assert streams[name].status == 200
        assert await streams[name].content.readuntil(b"\n\n") == b": connected\n\n"
    await users.deactivate(ctx, LEYLA)
    # Well before the 15 s heartbeat: the stream is closed, and Rauf's goes on.
    await _read_until_closed(streams["leyla"], timeout=5)
    with pytest.raises(TimeoutError):
        await _read_until_closed(streams["rauf"], timeout=1)
    streams["rauf"].close()


async def test_signing_out_takes_the_agent_offline(client, ctx):
    for before in ("away", "online"):
        leyla = await add_user(ctx, LEYLA, name="Leyla Məmmədova", queues=QUEUES[:1])
        body = await login(client, LEYLA)
        await assignment.set_presence(ctx, leyla, before)
        response = await client.post("/api/v1/auth/logout", headers=bearer(body["token"]))
        assert response.status == 200
        assert (await user_row(ctx, leyla))["presence"] == "offline", before
