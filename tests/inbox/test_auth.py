"""Agents' authentication over HTTP: login, throttling, bearer tokens, the cookie session with its
CSRF header, logout. The real app on SQLite and PostgreSQL with real Redis."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from inbox.auth import CSRF_COOKIE, CSRF_HEADER, LOGIN_ATTEMPTS, SESSION_COOKIE, hash_password
from inbox.schema import auth_tokens
from inbox.store import token_digest, utcnow

PASSWORD = "Bakı-2025-növbə"
# Hashing is deliberately slow; every test user shares this one hash.
PASSWORD_HASH = hash_password(PASSWORD)

LEYLA = "leyla.mammadova@migration.gov.az"      # agent: the two migration queues
RAUF = "rauf.huseynov@142.gov.az"               # agent: the 142 call centre
NIGAR = "nigar.aliyeva@migration.gov.az"        # supervisor: every queue
USER = ("id", "email", "name", "role", "queues", "languages", "presence")


async def add_user(ctx, email: str, *, name: str, role: str = "agent",
                   queues: tuple[str, ...] = (), languages: tuple[str, ...] = ("az", "ru"),
                   presence: str = "offline", active: bool = True) -> int:
    async with ctx.store.transaction() as tx:
        return await tx.save_user(email, name=name, role=role, queues=list(queues),
                                  languages=list(languages), capacity={"chat": 3, "email": 10},
                                  password_hash=PASSWORD_HASH, active=active, presence=presence)


async def add_staff(ctx) -> dict[str, int]:
    """The three people most tests work as, by e-mail."""
    return {
        LEYLA: await add_user(ctx, LEYLA, name="Leyla Məmmədova",
                              queues=("migration-registration", "migration-support")),
        RAUF: await add_user(ctx, RAUF, name="Rauf Hüseynov", queues=("call-centre-142",),
                             languages=("az", "ru", "en")),
        NIGAR: await add_user(ctx, NIGAR, name="Nigar Əliyeva", role="supervisor"),
    }


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def login(client, email: str, password: str = PASSWORD) -> dict:
    response = await client.post("/api/v1/auth/login", json={"email": email,
                                                              "password": password})
    assert response.status == 200, await response.text()
    return await response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_rows(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        return await tx._all(select(auth_tokens))


# --- login ------------------------------------------------------------------------------------

async def test_login_answers_token_user_and_sets_the_session_cookies(client, ctx):
    user_id = await add_user(ctx, LEYLA, name="Leyla Məmmədova",
                             queues=("migration-registration",))
    response = await client.post("/api/v1/auth/login",
                                 json={"email": LEYLA, "password": PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "csrf_token", "user"}
    assert {k: body["user"][k] for k in USER} == {
        "id": user_id, "email": LEYLA, "name": "Leyla Məmmədova", "role": "agent",
        "queues": ["migration-registration"], "languages": ["az", "ru"], "presence": "offline"}
    session = response.cookies[SESSION_COOKIE]
    assert session.value == body["token"]
    assert session["httponly"] is True and session["samesite"] == "Strict"
    assert session["path"] == "/"
    assert response.cookies[CSRF_COOKIE].value == body["csrf_token"]
    # Only a digest of the token is kept: a leaked table does not log anyone in.
    [row] = await token_rows(ctx)
    assert row["token_hash"] == token_digest(body["token"]) != body["token"]
    assert row["user_id"] == user_id and row["csrf_token"] == body["csrf_token"]


async def test_login_email_ignores_case(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    body = await login(client, "Leyla.Mammadova@Migration.GOV.az")
    assert body["user"]["email"] == LEYLA


async def test_bad_credentials_get_one_and_the_same_401(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for email, password in [(LEYLA, "Bakı-2025-novbe"),          # diacritics folded: wrong
                            ("leyla@example.gov.az", PASSWORD)]:  # nobody with that e-mail
        response = await client.post("/api/v1/auth/login", json={"email": email,
                                                                 "password": password})
        assert response.status == 401, email
        assert await response.json() == {"error": "wrong e-mail or password"}
        assert SESSION_COOKIE not in response.cookies
    assert await token_rows(ctx) == []


async def test_a_deactivated_user_cannot_log_in(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova", active=False)
    response = await client.post("/api/v1/auth/login", json={"email": LEYLA,
                                                             "password": PASSWORD})
    assert response.status == 401
    assert await token_rows(ctx) == []


# The body is checked before the database is asked: one database is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_login_with_an_unusable_body_is_a_json_400(client, ctx):
    for payload, error in [
        ({"email": LEYLA}, "email and password are required"),
        ({"email": LEYLA, "password": 12345678}, "email and password are required"),
        ([LEYLA, PASSWORD], "the body must be a JSON object"),
    ]:
        response = await client.post("/api/v1/auth/login", json=payload)
        assert response.status == 400, payload
        assert await response.json() == {"error": error}
    response = await client.post("/api/v1/auth/login", data='{"email": "leyla@',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.content_type == "application/json"
    assert (await response.json())["error"].startswith("malformed JSON body")


# The failure counter lives in Redis and argon2 makes every guess slow: one database is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ten_failures_lock_the_address_even_against_the_right_password(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    await add_user(ctx, RAUF, name="Rauf Hüseynov")
    for attempt in range(LOGIN_ATTEMPTS):
        # The counter is per address, whatever case the guesser types it in.
        email = LEYLA.upper() if attempt % 2 else LEYLA
        response = await client.post("/api/v1/auth/login",
                                     json={"email": email, "password": f"guess-{attempt}"})
        assert response.status == 401, attempt
    response = await client.post("/api/v1/auth/login", json={"email": LEYLA,
                                                             "password": PASSWORD})
    assert response.status == 429
    assert await response.json() == {"error": "too many failed logins; try again later"}
    assert await token_rows(ctx) == []
    ttl = await ctx.redis.ttl(f"cc:login-failures:{LEYLA}")
    assert 0 < ttl <= 15 * 60
    # Another address is not affected.
    assert (await login(client, RAUF))["user"]["email"] == RAUF


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_parallel_guesses_do_not_get_past_the_limit(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    await ctx.redis.set(f"cc:login-failures:{LEYLA}", LOGIN_ATTEMPTS - 2)
    responses = await asyncio.gather(*(
        client.post("/api/v1/auth/login", json={"email": LEYLA, "password": f"guess-{n}"})
        for n in range(6)))
    assert sorted(r.status for r in responses) == [401, 401, 429, 429, 429, 429]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_successful_login_clears_the_failure_count(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    key = f"cc:login-failures:{LEYLA}"
    await ctx.redis.set(key, LOGIN_ATTEMPTS - 1)          # nine typos earlier this morning
    await login(client, LEYLA)
    assert await ctx.redis.exists(key) == 0
    response = await client.post("/api/v1/auth/login", json={"email": LEYLA,
                                                             "password": "one more typo"})
    assert response.status == 401   # counting starts again, not locked at 10
    assert await ctx.redis.get(key) == b"1"


# --- bearer tokens ----------------------------------------------------------------------------

async def test_me_with_a_bearer_token(client, ctx):
    staff = await add_staff(ctx)
    token = (await login(client, NIGAR))["token"]
    client.session.cookie_jar.clear()          # the token alone must be enough
    response = await client.get("/api/v1/me", headers=bearer(token))
    assert response.status == 200
    me = await response.json()
    assert {k: me[k] for k in USER} == {"id": staff[NIGAR], "email": NIGAR,
                                        "name": "Nigar Əliyeva", "role": "supervisor",
                                        "queues": [], "languages": ["az", "ru"],
                                        "presence": "offline"}


async def test_no_valid_token_is_a_401(client, ctx):
    for headers in [{}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer not-a-token-we-issued"},
                    {"Authorization": "Basic bGV5bGE6cGFyb2w="}]:
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status == 401, headers
        assert await response.json() == {"error": "authentication required"}


async def test_every_api_call_needs_a_session(client, ctx):
    for method, path in [("GET", "/api/v1/conversations"), ("GET", "/api/v1/queues"),
                         ("GET", "/api/v1/conversations/1"), ("GET", "/api/v1/contacts/1"),
                         ("POST", "/api/v1/conversations/1/messages"),
                         ("POST", "/api/v1/auth/logout")]:
        response = await client.request(method, path, json={"body": "Salam"})
        assert response.status == 401, (method, path)


async def test_an_expired_token_is_refused(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    token = (await login(client, LEYLA))["token"]
    async with ctx.store.transaction() as tx:
        await tx.conn.execute(update(auth_tokens).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.get("/api/v1/me", headers=bearer(token))
    assert response.status == 401


async def test_deactivating_a_user_ends_their_sessions(client, ctx):
    user_id = await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    token = (await login(client, LEYLA))["token"]
    async with ctx.store.transaction() as tx:
        await tx.update_user(user_id, active=False)
    response = await client.get("/api/v1/me", headers=bearer(token))
    assert response.status == 401


# --- cookie session and CSRF ------------------------------------------------------------------

async def test_cookie_session_reads_without_csrf_header(client, ctx):
    staff = await add_staff(ctx)
    await login(client, LEYLA)
    response = await client.get("/api/v1/me")            # the cookie jar holds cc_session
    assert response.status == 200
    assert (await response.json())["id"] == staff[LEYLA]


async def test_cookie_post_without_the_right_csrf_header_is_a_403(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    await login(client, LEYLA)
    for headers in [{}, {CSRF_HEADER: ""}, {CSRF_HEADER: "forged-csrf-token"}]:
        response = await client.post("/api/v1/auth/logout", headers=headers)
        assert response.status == 403, headers
        assert await response.json() == {"error": f"missing or wrong {CSRF_HEADER} header"}
    assert len(await token_rows(ctx)) == 1                  # still logged in
    assert (await client.get("/api/v1/me")).status == 200


async def test_a_non_ascii_csrf_header_is_a_403_not_a_crash(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    await login(client, LEYLA)
    response = await client.post("/api/v1/auth/logout", headers={CSRF_HEADER: "şifrə"})
    assert response.status == 403
    assert len(await token_rows(ctx)) == 1


async def test_cookie_post_with_the_csrf_header_goes_through(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    csrf = (await login(client, LEYLA))["csrf_token"]
    response = await client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf})
    assert response.status == 200
    assert await response.json() == {"status": "logged out"}
    assert await token_rows(ctx) == []


async def test_a_bearer_post_needs_no_csrf_header(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    token = (await login(client, LEYLA))["token"]
    client.session.cookie_jar.clear()
    response = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert response.status == 200


# --- logout -----------------------------------------------------------------------------------

async def test_logout_invalidates_only_that_token(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    desk = (await login(client, LEYLA))["token"]
    phone = (await login(client, LEYLA))["token"]
    client.session.cookie_jar.clear()
    response = await client.post("/api/v1/auth/logout", headers=bearer(desk))
    assert response.status == 200
    assert response.cookies[SESSION_COOKIE].value == ""   # the browser is told to forget it
    assert (await client.get("/api/v1/me", headers=bearer(desk))).status == 401
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status == 200
    assert [r["token_hash"] for r in await token_rows(ctx)] == [token_digest(phone)]


async def test_logout_ends_the_cookie_session(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    body = await login(client, LEYLA)
    await client.post("/api/v1/auth/logout", headers={CSRF_HEADER: body["csrf_token"]})
    # Even a client that keeps the old cookie is no longer let in.
    response = await client.get("/api/v1/me", cookies={SESSION_COOKIE: body["token"]})
    assert response.status == 401
