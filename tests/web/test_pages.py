"""What a browser finds at the site's root and its icon: the root leads to the console, and
every page names a real icon instead of leaving /favicon.ico a 404."""

from __future__ import annotations

import pytest

from app import create_app


@pytest.fixture
async def client(environment, config, aiohttp_client):
    return await aiohttp_client(create_app(config))


async def test_the_root_leads_to_the_console(client) -> None:
    response = await client.get("/", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, "/console")

    landing = await client.get("/")   # a stranger ends on the login page
    assert landing.status == 200 and landing.url.path == "/console/login"


@pytest.mark.parametrize("page", ["/console/login", "/chat"])
async def test_pages_link_the_icon(client, page: str) -> None:
    html = await (await client.get(page)).text()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


async def test_the_icon_is_served_where_browsers_look(client) -> None:
    asked = await client.get("/favicon.ico", allow_redirects=False)
    assert (asked.status, asked.headers["Location"]) == (301, "/static/favicon.svg")

    icon = await client.get("/favicon.ico")
    assert icon.status == 200 and icon.content_type == "image/svg+xml"
    assert (await icon.text()).startswith("<svg xmlns=\"http://www.w3.org/2000/svg\"")
