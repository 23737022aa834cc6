"""Input no client should send is a 4xx with a message that names what is wrong, never a 500:
ids past the database's range or that are not integers, cursors a client made up, lone
surrogates and bottomless nesting in JSON, report dates at the calendar's edge, methods a path
does not have. Each answer writes nothing (every table and Redis are compared before and
after) and logs no traceback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest
from sqlalchemy import func, select

from app import create_app
from inbox.storage.schema import metadata
from tests.inbox.test_auth import LEYLA, NIGAR, add_staff
from tests.web.test_api import REGISTRATION, Person, mint_token, seed

MIGRATION = "migration-registration"
ID_PAST_RANGE = 2**63                     # one past BIGINT


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def people(ctx) -> dict[str, Person]:
    """leyla: agent of the migration queues; nigar: supervisor."""
    ids = await add_staff(ctx)
    return {name: Person(ids[email], await mint_token(ctx, ids[email]))
            for name, email in (("leyla", LEYLA), ("nigar", NIGAR))}


async def snapshot(ctx) -> tuple[dict[str, int], list[bytes]]:
    """Rows per table and every Redis key: what a refused request must leave as it was."""
    async with ctx.store.read() as tx:
        counts = {table.name: (await tx.conn.execute(
            select(func.count()).select_from(table))).scalar_one()
            for table in metadata.sorted_tables}
    return counts, sorted(await ctx.redis.keys("*"))


def tracebacks(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.exc_info or record.levelno >= logging.ERROR]


def cursor_of(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def refused(client, method: str, path: str, headers: dict, *, status: int = 400,
                  **kwargs) -> str:
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status == status, (path, await response.text())
    assert response.content_type == "application/json"
    body = await response.json()
    assert {"error", "code"} <= set(body)
    return body["error"]


ONE_DATABASE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def test_an_assignee_that_is_no_id_is_a_400(client, ctx, people, caplog):
    await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    before = await snapshot(ctx)
    for assignee in [str(ID_PAST_RANGE), "99999999999999999999", "1e20", "1.0", "true", "-3",
                     "0", " 7", "1_0", "٣"]:
        error = await refused(client, "GET", "/api/v1/conversations",
                              people["nigar"].headers, params={"assignee": assignee})
        assert error == "assignee must be me, none or an agent id", assignee
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_a_cursor_no_server_made_is_a_400(client, ctx, people, caplog):
    await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    for payload in [
        ["2026-01-05T10:00:00", 5],                       # a time without its offset
        ["2026-01-05T10:00:00+04:00", 10**30],            # an id past the range
        ["2026-01-05T10:00:00+04:00", ID_PAST_RANGE],
        ["2026-01-05T10:00:00+04:00", 1.5],
        ["2026-01-05T10:00:00+04:00", True],
        ["2026-01-05T10:00:00+04:00", "5"],
        ["0001-01-01T00:00:00+14:00", 5],                 # before the first UTC moment
        ["2026-01-05T10:00:00+04:00", "\ud800"],
    ]:
        error = await refused(client, "GET", "/api/v1/conversations", people["nigar"].headers,
                              params={"cursor": cursor_of(payload)})
        assert error == "malformed cursor", payload
    assert tracebacks(caplog) == []


async def test_an_unknown_category_filter_is_a_400(client, ctx, people):
    error = await refused(client, "GET", "/api/v1/conversations?category=complaint",
                          people["nigar"].headers)
    assert error == "category must be one of inquiry, registration, support"


async def test_the_servers_own_cursor_still_pages(client, ctx, people):
    first = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Elnur Quliyev")
    headers = people["nigar"].headers
    page = await (await client.get("/api/v1/conversations?limit=1", headers=headers)).json()
    response = await client.get("/api/v1/conversations", headers=headers,
                                params={"limit": "1", "cursor": page["next_cursor"]})
    assert response.status == 200
    assert [c["id"] for c in (await response.json())["items"]] == [first.id]


async def test_an_id_in_a_body_must_be_an_integer_in_range(client, ctx, people, caplog):
    c = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Elnur Quliyev")
    headers = people["nigar"].headers
    before = await snapshot(ctx)
    fields = [
        (f"/api/v1/conversations/{c.id}/merge", "conversation_id",
         "conversation_id must be the id of the conversation to merge in"),
        (f"/api/v1/conversations/{c.id}/split", "message_id",
         "message_id must be the id of the first message of the new matter"),
        (f"/api/v1/contacts/{c.contact_id}/merge", "contact_id",
         "contact_id must be the id of the contact to merge in"),
        (f"/api/v1/conversations/{c.id}/assign", "agent_id",
         "agent_id must be an id or null, queue a queue id"),
    ]
    # As JSON text: 1e20 and 5.0 are what an attacker types, json.dumps would not write them.
    for value in [str(ID_PAST_RANGE), "100000000000000000000", "0", "-1", "1e20", "1E3",
                  "5.0", "true", '"1"']:
        for path, key, message in fields:
            error = await refused(client, "POST", path, headers, data=f'{{"{key}": {value}}}')
            assert error == message, (path, value)
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


@ONE_DATABASE
async def test_an_id_in_the_path_that_is_no_id_is_a_404(client, ctx, people, caplog):
    await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    for path in ["/api/v1/conversations/{}", "/api/v1/contacts/{}",
                 "/api/v1/messages/{}/attachments/0", "/api/v1/messages/1/attachments/{}"]:
        for value in [str(ID_PAST_RANGE), "1e2", "1_0", "%201", "+1", "١", "-1"]:
            await refused(client, "GET", path.format(value), people["nigar"].headers,
                          status=404)
    assert tracebacks(caplog) == []


LONE = "\ud800"                               # json.dumps writes it as the escape "\\ud800"


async def test_a_lone_surrogate_in_any_json_string_is_a_400(client, ctx, people, caplog):
    c = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    before = await snapshot(ctx)
    for path, payload in [
        ("/api/v1/conversations/{id}/messages", {"body": f"Salam {LONE}"}),
        ("/api/v1/conversations/{id}/messages", {"body": "Salam", "private": True, LONE: 1}),
        ("/api/v1/conversations/{id}/messages", {"template": "x", "variables": {"1": LONE}}),
        ("/api/v1/conversations/{id}/assign", {"queue": LONE}),
        ("/api/v1/conversations/{id}/status", {"status": LONE}),
        ("/api/v1/conversations/{id}/category", {"category": [LONE]}),
        ("/api/v1/me/presence", {"presence": LONE}),
        ("/api/v1/auth/login", {"email": f"{LONE}@example.gov.az", "password": "x"}),
    ]:
        error = await refused(client, "POST", path.format(id=c.id), people["leyla"].headers,
                              data=json.dumps(payload))
        assert error == ("malformed JSON body: a string holds a lone surrogate "
                         "(\\ud800-\\udfff), which is not Unicode text"), (path, payload)
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_a_nul_in_a_json_string_or_a_query_is_a_400(client, ctx, people, caplog):
    c = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    before = await snapshot(ctx)
    for path, payload in [
        ("/api/v1/conversations/{id}/messages", {"body": "Salam\u0000"}),
        ("/api/v1/auth/login", {"email": "a\u0000@example.gov.az", "password": "x"}),
    ]:
        error = await refused(client, "POST", path.format(id=c.id), people["leyla"].headers,
                              data=json.dumps(payload))
        assert error == ("malformed JSON body: a string holds a NUL character (\\u0000), "
                         "which cannot be stored"), path
    for query in ["q=%00", "queue=a%00", "channel=%00", "category=%00", "status=open&%00=1"]:
        error = await refused(client, "GET", f"/api/v1/conversations?{query}",
                              people["nigar"].headers)
        assert error == ("a query parameter holds a NUL character (\\u0000), which cannot be "
                         "stored"), query
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_a_surrogate_pair_is_text_and_is_stored(client, ctx, people):
    c = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    response = await client.post(f"/api/v1/conversations/{c.id}/messages",
                                 data='{"body": "Salam \\ud83d\\ude00"}',
                                 headers=people["leyla"].headers)
    assert response.status == 201
    assert (await response.json())["body"] == "Salam 😀"


@ONE_DATABASE
async def test_json_nested_past_the_recursion_limit_is_a_400(client, ctx, people, caplog):
    c = await seed(ctx, queue=MIGRATION, text=REGISTRATION, name="Günel Əliyeva")
    before = await snapshot(ctx)
    error = await refused(client, "POST", f"/api/v1/conversations/{c.id}/messages",
                          people["leyla"].headers, data="[" * 100_000)
    assert error == "malformed JSON body: nested too deeply"
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


async def test_report_parameters_out_of_range_are_a_400(client, ctx, people, caplog):
    before = await snapshot(ctx)
    for query, error in [
        ("to=9999-12-31", "to must lie in the years 1970 to 9998"),
        ("from=0001-01-01", "from must lie in the years 1970 to 9998"),
        ("from=0001-01-01T00:00:00%2B14:00", "from must lie in the years 1970 to 9998"),
        ("to=0001-01-05", "to must lie in the years 1970 to 9998"),
    ]:
        for report in ("summary", "volumes", "totals"):
            assert await refused(client, "GET", f"/api/v1/reports/{report}?{query}",
                                 people["nigar"].headers) == error, (report, query)
    for report in ("summary", "volumes"):
        assert await refused(client, "GET", f"/api/v1/reports/{report}?format=xml",
                             people["nigar"].headers) == "format must be one of json, csv"
    assert await snapshot(ctx) == before
    assert tracebacks(caplog) == []


@ONE_DATABASE
async def test_an_unknown_method_is_a_json_405_naming_the_allowed_ones(client, people, caplog):
    for method, path, allow in [
        ("PUT", "/api/v1/me", {"GET", "HEAD"}),
        ("DELETE", "/api/v1/conversations/1", {"GET", "HEAD"}),
        ("PATCH", "/api/v1/conversations/1/messages", {"POST"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("PUT", "/webhooks/twilio/messaging", {"POST"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
    ]:
        response = await client.request(method, path, headers=people["nigar"].headers)
        assert response.status == 405, (method, path)
        assert set(response.headers["Allow"].split(",")) == allow, (method, path)
        assert await response.json() == {"error": "Method Not Allowed",
                                         "code": "method_not_allowed"}
    assert tracebacks(caplog) == []


@ONE_DATABASE
async def test_a_token_that_is_not_utf8_is_a_401(client, caplog):
    """Sent as raw bytes: an HTTP client library would encode the header itself."""
    for header in (b"Authorization: Bearer \xff\xfe", b"Cookie: cc_session=\xff\xfe"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\n" + header +
                     b"\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        assert answer.startswith(b"HTTP/1.1 401 "), answer
        assert answer.endswith(b'{"error": "authentication required", '
                               b'"code": "authentication_required"}'), answer
    assert tracebacks(caplog) == []


@ONE_DATABASE
async def test_pages_answer_an_unknown_method_with_405_and_allow(client):
    for path in ["/console", "/chat", "/reports", "/static/console.css"]:
        response = await client.post(path)
        assert response.status == 405, path
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
