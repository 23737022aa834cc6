"""The console's language: each user's choice saved on their account (POST
/api/v1/me/language), else the browser's Accept-Language, else Azerbaijani; the pages render in
it and hand their scripts the same language's texts; API errors carry the stable code the
console translates. On SQLite and PostgreSQL, real Redis."""

from __future__ import annotations

import html
import json
import re

import pytest

from app import create_app
from inbox.auth import CSRF_HEADER
from tests.inbox.test_auth import LEYLA, NIGAR, login
from tests.web.test_api import people as people  # a fixture, used by name


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))



def _page_language(text: str) -> str:
    return re.search(r'<html lang="(\w+)"', text).group(1)


def _script_texts(text: str) -> dict[str, str]:
    return json.loads(html.unescape(re.search(r'data-texts="([^"]*)"', text).group(1)))


async def test_a_saved_language_is_the_users_on_every_page_and_in_me(client, people):
    agent = people["leyla"].headers
    saved = await client.post("/api/v1/me/language", json={"language": "ru"}, headers=agent)
    assert saved.status == 200
    assert (await saved.json())["console_language"] == "ru"
    assert (await (await client.get("/api/v1/me", headers=agent)).json())["console_language"] \
        == "ru"

    # The browser asks for English; the saved choice wins.
    csrf = (await login(client, LEYLA))["csrf_token"]
    page = await (await client.get("/console", headers={"Accept-Language": "en-GB"})).text()
    assert _page_language(page) == "ru"
    assert 'data-locale="ru-RU"' in page and 'data-timezone="Asia/Baku"' in page
    assert "Взять следующее" in page and ">Обращения<" in page and "Take next" not in page
    assert _script_texts(page)["status.resolved"] == "Решено"
    assert '<option value="ru" lang="ru" title="Русский" selected>RU</option>' in page

    # The switcher's call from the page (cookie and CSRF) changes it again.
    again = await client.post("/api/v1/me/language", json={"language": "az"},
                              headers={CSRF_HEADER: csrf})
    assert again.status == 200
    page = await (await client.get("/console", headers={"Accept-Language": "ru"})).text()
    assert _page_language(page) == "az" and "Növbətini götür" in page


async def test_a_supervisors_wallboard_and_reports_follow_their_language(client, people):
    await client.post("/api/v1/me/language", json={"language": "az"},
                      headers=people["nigar"].headers)
    await login(client, NIGAR)
    board = await (await client.get("/wallboard")).text()
    assert _page_language(board) == "az" and "Ən uzun gözləmə" in board
    reports = await (await client.get("/reports")).text()
    assert "Qruplaşdır" in reports and "CSV yüklə" in reports


@pytest.mark.parametrize("language", ["de", "AZ", "az-AZ", "", 5, ["ru"], True, "missing"])
async def test_an_unknown_language_is_a_400_with_its_code_and_saves_nothing(client, people,
                                                                            language):
    agent = people["leyla"].headers
    await client.post("/api/v1/me/language", json={"language": "ru"}, headers=agent)
    refused = await client.post("/api/v1/me/language",
                                json={} if language == "missing" else {"language": language},
                                headers=agent)
    assert refused.status == 400
    body = await refused.json()
    assert body["code"] == "unknown_language" and "az, ru, en" in body["error"]
    assert (await (await client.get("/api/v1/me", headers=agent)).json())["console_language"] \
        == "ru"


async def test_only_a_signed_in_user_sets_their_own_language(client, people):
    anonymous = await client.post("/api/v1/me/language", json={"language": "ru"})
    assert anonymous.status == 401
    assert (await anonymous.json())["code"] == "authentication_required"
    # A cookie session without its CSRF header (another site's form) is refused.
    await login(client, LEYLA)
    forged = await client.post("/api/v1/me/language", json={"language": "en"})
    assert forged.status == 403 and (await forged.json())["code"] == "csrf_token"
    me = await (await client.get("/api/v1/me")).json()
    assert me["console_language"] is None


async def test_null_goes_back_to_the_browsers_language_then_azerbaijani(client, people):
    await client.post("/api/v1/me/language", json={"language": "en"},
                      headers=people["leyla"].headers)
    cleared = await client.post("/api/v1/me/language", json={"language": None},
                                headers=people["leyla"].headers)
    assert (await cleared.json())["console_language"] is None
    await login(client, LEYLA)
    asked = {"ru-RU,ru;q=0.9,en;q=0.8": "ru", "en-GB,en;q=0.9": "en", "de-DE,de;q=0.9": "az",
             "": "az"}
    for header, expected in asked.items():
        page = await (await client.get("/console", headers={"Accept-Language": header})).text()
        assert _page_language(page) == expected, header


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_login_page_speaks_the_browsers_language_or_the_one_its_link_asks(client):
    cases = [({"Accept-Language": "ru"}, "", "ru", "Войти"),
             ({"Accept-Language": "en-US,en"}, "", "en", "Sign in"),
             ({}, "", "az", "Daxil ol"),
             ({"Accept-Language": "en"}, "lang=ru&", "ru", "Войти"),
             ({"Accept-Language": "en"}, "lang=xx&", "en", "Sign in")]
    for headers, query, language, submit in cases:
        page = await (await client.get(f"/console/login?{query}next=/reports",
                                       headers=headers)).text()
        assert _page_language(page) == language, (headers, query)
        assert f'id="login-submit">{submit}</button>' in page
        # Each language's link keeps where the user was going.
        assert 'href="/console/login?lang=az&amp;next=/reports"' in page


async def test_api_errors_carry_a_stable_code_beside_their_text(client, people):
    wrong = await client.post("/api/v1/auth/login", json={"email": LEYLA, "password": "yanlış"})
    assert await wrong.json() == {"error": "wrong e-mail or password",
                                  "code": "wrong_credentials"}
    missing = await client.get("/api/v1/conversations/999999", headers=people["leyla"].headers)
    assert (await missing.json())["code"] == "conversation_not_found"
    no_route = await client.get("/api/v1/nowhere", headers=people["leyla"].headers)
    assert no_route.status == 404 and (await no_route.json())["code"] == "not_found"
    malformed = await client.post("/api/v1/me/presence", data="{",
                                  headers=people["leyla"].headers)
    assert (await malformed.json())["code"] == "malformed_json"


async def test_canned_titles_come_in_the_agents_language(client, people):
    await client.post("/api/v1/me/language", json={"language": "ru"},
                      headers=people["leyla"].headers)
    await login(client, LEYLA)
    canned = await (await client.get("/console/canned")).json()
    greeting = next(entry for entry in canned["responses"] if entry["id"] == "greeting")
    assert greeting["title"] == "Приветствие"
    assert greeting["titles"] == {"az": "Salamlama", "ru": "Приветствие", "en": "Greeting"}
