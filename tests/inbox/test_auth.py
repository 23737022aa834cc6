"""Agents' authentication over HTTP: login, throttling, bearer tokens, the cookie session with its
CSRF header, logout. The real app on SQLite and PostgreSQL with real Redis."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network

import pytest
from sqlalchemy import select, update

from app import create_app
from inbox import login_throttle
from inbox.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, hash_password
from inbox.login_throttle import delay_after
from inbox.storage import utcnow
from inbox.storage.records import as_rows
from inbox.storage.schema import auth_tokens
from inbox.storage.users import token_digest

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
        return await tx.users.save(email, name=name, role=role, queues=list(queues),
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
        return as_rows(await tx.conn.execute(select(auth_tokens)))


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
        assert await response.json() == {"error": "wrong e-mail or password",
                                         "code": "wrong_credentials"}
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
    for payload, error, code in [
        ({"email": LEYLA}, "email and password are required", "credentials_required"),
        ({"email": LEYLA, "password": 12345678}, "email and password are required",
         "credentials_required"),
        ([LEYLA, PASSWORD], "the body must be a JSON object", "malformed_json"),
    ]:
        response = await client.post("/api/v1/auth/login", json=payload)
        assert response.status == 400, payload
        assert await response.json() == {"error": error, "code": code}
    response = await client.post("/api/v1/auth/login", data='{"email": "leyla@',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.content_type == "application/json"
    assert (await response.json())["error"].startswith("malformed JSON body")


# --- the brake on password guessing --------------------------------------------------------
# It lives in Redis and argon2 makes every guess slow: one database is enough for these.

ATTACKER = "203.0.113.7"
OFFICE = "198.51.100.20"


@pytest.fixture
async def proxied(aiohttp_client, environment, config):
    """The app behind a trusted reverse proxy on this machine: X-Forwarded-For says who is
    asking, so one test can be several client addresses."""
    proxy = replace(config, trusted_proxies=(ip_network("127.0.0.1/32"),))
    return await aiohttp_client(create_app(proxy))


@pytest.fixture
def long_waits(monkeypatch):
    """The real schedule a hundred times longer: a wait the test expects to meet must not
    run out while a loaded machine answers the attempt before it."""
    monkeypatch.setattr(login_throttle, "delay_after", lambda n: 100 * delay_after(n))


async def attempt(client, email: str, password: str, address: str):
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password},
                             headers={"X-Forwarded-For": address})


async def time_passes(ctx) -> None:
    """The waits run out (without the test sleeping through them)."""
    async for key in ctx.redis.scan_iter("cc:login:wait:*"):
        await ctx.redis.delete(key)


def test_failures_earn_growing_delays_up_to_a_cap():
    assert [delay_after(n) for n in range(1, 13)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_failures_slow_that_address_down_with_growing_waits(proxied, ctx, long_waits):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(1, 4):   # the first three typos cost nothing
        assert (await attempt(proxied, LEYLA, f"guess-{n}", ATTACKER)).status == 401, n
    for n in range(4, 9):
        # The count is per account whatever case the guesser types it in.
        email = LEYLA.upper() if n % 2 else LEYLA
        assert (await attempt(proxied, email, f"guess-{n}", ATTACKER)).status == 401, n
        response = await attempt(proxied, LEYLA, PASSWORD, ATTACKER)   # at once, even right
        assert response.status == 429, n
        assert response.headers["Retry-After"] == str(100 * 2 ** (n - 4))
        assert await response.json() == {"error": "too many failed logins; try again later",
                                         "code": "login_throttled",
                                         "retry_after_s": 100 * 2 ** (n - 4)}
        await time_passes(ctx)
    assert await token_rows(ctx) == []
    assert (await attempt(proxied, LEYLA, PASSWORD, ATTACKER)).status == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ten_wrong_passwords_elsewhere_do_not_keep_the_agent_out(proxied, ctx,
                                                                      long_waits):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(10):
        await time_passes(ctx)
        assert (await attempt(proxied, LEYLA, f"guess-{n}", ATTACKER)).status == 401
    # The guesser waits, even with the right password ...
    assert (await attempt(proxied, LEYLA, PASSWORD, ATTACKER)).status == 429
    # ... and Leyla, at her desk, signs in at once.
    response = await attempt(proxied, LEYLA, PASSWORD, OFFICE)
    assert response.status == 200
    assert (await response.json())["user"]["email"] == LEYLA


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_one_address_guessing_across_accounts_is_capped(proxied, ctx, monkeypatch):
    monkeypatch.setattr(login_throttle, "ADDRESS_FAILURES", 5)
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(5):   # one guess at each of five accounts: no per-account wait applies
        response = await attempt(proxied, f"agent{n}@migration.gov.az", "Parol123", ATTACKER)
        assert response.status == 401, n
    response = await attempt(proxied, LEYLA, PASSWORD, ATTACKER)
    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= login_throttle.ADDRESS_WINDOW_S
    assert await token_rows(ctx) == []
    assert (await attempt(proxied, LEYLA, PASSWORD, OFFICE)).status == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_parallel_guesses_do_not_get_past_the_wait(proxied, ctx, long_waits):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(3):
        assert (await attempt(proxied, LEYLA, f"guess-{n}", ATTACKER)).status == 401
    responses = await asyncio.gather(*(attempt(proxied, LEYLA, f"guess-{n}", ATTACKER)
                                       for n in range(3, 9)))
    # The fourth is let in and sets a wait before it is even checked; the rest meet it.
    assert sorted(r.status for r in responses) == [401, 429, 429, 429, 429, 429]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_successful_login_starts_the_count_again(proxied, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(3):
        assert (await attempt(proxied, LEYLA, f"typo-{n}", OFFICE)).status == 401
    assert (await attempt(proxied, LEYLA, PASSWORD, OFFICE)).status == 200
    # Three more typos are free again (without the reset the next would be a 429).
    for n in range(3):
        assert (await attempt(proxied, LEYLA, f"typo-{n}", OFFICE)).status == 401, n
    assert (await attempt(proxied, LEYLA, PASSWORD, OFFICE)).status == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, ctx, long_waits):
    """Otherwise a guesser would name a fresh address on every try."""
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for n in range(4):
        assert (await attempt(client, LEYLA, f"guess-{n}", f"192.0.2.{n}")).status == 401
    assert (await attempt(client, LEYLA, PASSWORD, "192.0.2.99")).status == 429


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_empty_field_is_a_400_and_costs_no_attempt(client, ctx):
    await add_user(ctx, LEYLA, name="Leyla Məmmədova")
    for payload in [{"email": "", "password": PASSWORD}, {"email": "  ", "password": "x"},
                    {"email": LEYLA, "password": ""}] * 2:
        response = await client.post("/api/v1/auth/login", json=payload)
        assert response.status == 400, payload
        assert await response.json() == {"error": "email and password are required",
                                         "code": "credentials_required"}
    assert (await login(client, LEYLA))["user"]["email"] == LEYLA


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
        assert await response.json() == {"error": "authentication required",
                                         "code": "authentication_required"}


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
        await tx.users.update(user_id, active=False)
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
        assert await response.json() == {"error": f"missing or wrong {CSRF_HEADER} header",
                                         "code": "csrf_token"}
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
