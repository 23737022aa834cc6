"""Signing in and out in a real browser: where Chromium actually lands after signing in from
a crafted link, what an incomplete form says, and that signing out leaves the agent offline."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from inbox.context import open_context
from tests.browser.conftest import AGENT, sign_in

pytestmark = pytest.mark.e2e

# The `next` of a link someone could send an agent, exactly as it would sit in the link.
FOREIGN_NEXT = ["/%5Chost.example/x", "/%09/host.example/x", "/%0a/host.example",
                "//host.example", "/%5C%5Chost.example", "https://host.example",
                "javascript:alert(1)"]


async def _elsewhere(route) -> None:
    """Any request off this site is answered here (there is no network): were the browser
    sent there, the test sees where it went instead of a DNS error."""
    await route.fulfill(status=200, content_type="text/html", body="<h1>elsewhere</h1>")


async def _sign_in_from(watched, base_url: str, query: str) -> str:
    page = watched.page
    await page.goto(f"{base_url}/console/login?{query}")
    await page.fill("#login-email", AGENT[0])
    await page.fill("#login-password", AGENT[1])
    await page.click("#login-submit")
    await page.wait_for_url(lambda url: "/console/login" not in url)
    await page.wait_for_load_state()
    return page.url


async def test_after_signing_in_the_browser_stays_on_this_site(system, open_page):
    base = system.base_url
    for next_url in FOREIGN_NEXT:
        watched = await open_page()
        await watched.page.context.route(
            lambda url: not url.startswith(base), _elsewhere)
        assert await _sign_in_from(watched, base, f"next={next_url}") == f"{base}/console", \
            next_url
        assert watched.dialogs == [] and watched.errors == []
        await watched.page.context.close()
    watched = await open_page()
    assert await _sign_in_from(watched, base, "next=/console%3Fc%3D5") == f"{base}/console?c=5"
    # The page's own check holds whatever it was given (a future server bug, an injected
    # attribute): the browser's own reading of the target decides.
    for planted in ["/\\host.example/x", "/\t/host.example/x", "https://host.example/"]:
        watched = await open_page()
        await watched.page.context.route(lambda url: not url.startswith(base), _elsewhere)
        page = watched.page
        await page.goto(f"{base}/console/login")
        await page.evaluate("next => { document.getElementById('login-form')"
                            ".dataset.next = next; }", planted)
        await page.fill("#login-email", AGENT[0])
        await page.fill("#login-password", AGENT[1])
        await page.click("#login-submit")
        await page.wait_for_url(lambda url: "/console/login" not in url)
        assert urlsplit(page.url)[:3] == urlsplit(f"{base}/console")[:3], planted
        await page.context.close()


async def test_an_incomplete_form_says_what_is_missing_without_asking_the_server(
        system, open_page, tmp_path):
    watched = await open_page()
    page = watched.page
    logins = []
    page.on("request", lambda r: logins.append(r.url) if "/auth/login" in r.url else None)
    await page.goto(f"{system.base_url}/console/login")
    error = page.locator("#login-error")
    for email, password, expected, invalid in [
            ("", "", "Enter your e-mail address and password.", "#login-email"),
            ("  ", "x", "Enter your e-mail address.", "#login-email"),
            (AGENT[0], "", "Enter your password.", "#login-password")]:
        await page.fill("#login-email", email)
        await page.fill("#login-password", password)
        await page.click("#login-submit")
        await error.wait_for()
        assert await error.text_content() == expected
        assert await page.get_attribute(invalid, "aria-invalid") == "true"
        assert await page.evaluate("document.activeElement.id") == invalid[1:]
    await page.screenshot(path=str(tmp_path / "login-missing-password.png"))
    assert logins == []
    await page.fill("#login-password", "not-the-password")
    await page.click("#login-submit")
    await page.locator("#login-error", has_text="Wrong e-mail or password.").wait_for()
    assert await page.get_attribute("#login-password", "aria-invalid") is None
    assert watched.errors == []


async def _presence(email: str) -> str:
    ctx = open_context(pool=False)     # the system's database: the environment points at it
    try:
        async with ctx.store.read() as tx:
            return (await tx.users.by_email(email))["presence"]
    finally:
        await ctx.close()


async def test_signing_out_leaves_the_agent_offline_not_away(system, open_page):
    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, AGENT)
    await page.click('#presence button[data-presence="away"]')
    await page.wait_for_selector('#presence button[data-presence="away"][aria-checked="true"]')
    assert await _presence(AGENT[0]) == "away"
    await page.click("#logout")
    await page.wait_for_url("**/console/login")
    assert await _presence(AGENT[0]) == "offline"
    assert watched.errors == []
