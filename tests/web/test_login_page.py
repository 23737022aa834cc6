"""The console's login page: where it sends the browser after signing in. Only a path on this
site, as the browser itself will read it; the browser-level check is in tests/browser."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app
from web.console import same_origin_path

# Each is what a browser turns into another site: "\" read as "/", tabs and newlines dropped,
# a scheme or a host of its own.
FOREIGN = ["/\\host/x", "/\t/host/x", "/\n/host", "/\r/host", "//host", "/\\\\host",
           "\\\\host", "https://host", "http:host", "javascript:alert(1)", " //host",
           "\t//host", "host/x", "", None]
LOCAL = ["/console", "/console?c=5", "/reports", "/wallboard#today", "/%5Chost/x"]


@pytest.mark.parametrize("target", FOREIGN)
def test_a_target_a_browser_could_read_as_another_site_falls_back_to_the_console(target):
    assert same_origin_path(target) == "/console"


@pytest.mark.parametrize("target", LOCAL)
def test_a_path_on_this_site_is_kept(target):
    assert same_origin_path(target) == target


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def _next_url(client, query: str) -> str:
    response = await client.get(f"/console/login?{query}")
    assert response.status == 200
    [value] = re.findall(r'data-next="([^"]*)"', await response.text())
    return html.unescape(value)


# The page reads no database: one is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("query", "expected"), [
    ("next=/%5Chost/x", "/console"),
    ("next=/%09/host/x", "/console"),
    ("next=/%0a/host", "/console"),
    ("next=/%0D/host", "/console"),
    ("next=//host", "/console"),
    ("next=/%5C%5Chost", "/console"),
    ("next=https://host", "/console"),
    ("next=javascript:alert(1)", "/console"),
    ("", "/console"),
    ("next=/console%3Fc%3D5", "/console?c=5"),
    ("next=/reports", "/reports"),
])
async def test_the_login_page_only_offers_a_local_next_page(client, query, expected):
    assert await _next_url(client, query) == expected


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_signed_out_visit_is_sent_to_the_login_page_with_its_path_and_query(client):
    response = await client.get("/console?c=5", allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/console/login"
    assert parse_qs(location.query) == {"next": ["/console?c=5"]}
    assert await _next_url(client, location.query) == "/console?c=5"
