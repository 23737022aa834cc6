"""The web pages of agents and supervisors: the console, its login page, the wall-board and the
reports page (the canned responses are web/canned.py's). Pages are jinja2 shells; all data
comes from the agent API (`/api/v1`) through the page's own JavaScript.

Every word the pages and their scripts show comes from one catalogue
(templates/console/texts.yaml, az/ru/en), in the language the user chose (saved on their
account), else the one their browser asks for, else Azerbaijani. The page renders with it
(`t(key)`) and hands the script the same language's texts (data-texts)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from inbox import auth
from inbox.events import console_groups
from inbox.messages import CALL_TEXT
from inbox.replies import FALLBACK_LANGUAGE, REPLY_LANGUAGES, TEMPLATES_DIR, preferred_language
from inbox.texts import Catalogue, fill, load_catalogue
from web.appkeys import CONTEXT

TEXTS_FILE = TEMPLATES_DIR / "console" / "texts.yaml"
# The locale each language's dates, times and numbers are written in (Intl in the pages).
LOCALES = {"az": "az-Latn-AZ", "ru": "ru-RU", "en": "en-GB"}
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
# E-mail HTML is shown in a sandboxed srcdoc <iframe> (no scripts, opaque origin). Such a
# frame inherits this page's policy, so the one stylesheet it inlines is allowed by its hash;
# the console passes the text to its script (data-frame-css) and the two always agree.
EMAIL_FRAME_CSS = (TEMPLATES_DIR.parent / "static" / "email-frame.css").read_text(
    encoding="utf-8").replace("\r\n", "\n")
EMAIL_FRAME_CSS_HASH = "sha256-" + base64.b64encode(
    hashlib.sha256(EMAIL_FRAME_CSS.encode("utf-8")).digest()).decode("ascii")
# Every script and style comes from this server; resident-supplied text can never run.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; script-src 'self'; style-src 'self' '{EMAIL_FRAME_CSS_HASH}'; "
        "img-src 'self' data: blob: https:; media-src 'self' https:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The console reads the groups of event types from its page (data-event-groups).
EVENT_GROUPS = json.dumps(console_groups())

routes = web.RouteTableDef()
_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                            autoescape=jinja2.select_autoescape(["html"]),
                            undefined=jinja2.StrictUndefined)


@lru_cache(maxsize=1)
def console_texts() -> Catalogue:
    """templates/console/texts.yaml by language: {az: {key: text}, ru: …, en: …}; a key
    without its text in every language is refused here, not found by an agent."""
    return load_catalogue(TEXTS_FILE)


def page_language(request: web.Request, user: dict[str, Any] | None) -> str:
    """The user's saved console language; before signing in (or never chosen) the one the
    login page's link asked for (`?lang=`), else the browser's, else Azerbaijani."""
    saved = user.get("console_language") if user else None
    if saved in REPLY_LANGUAGES:
        return saved
    asked = request.query.get("lang")
    if user is None and asked in REPLY_LANGUAGES:
        return asked
    return preferred_language(request.headers.get("Accept-Language")) or FALLBACK_LANGUAGE


def _render(request: web.Request, name: str, user: dict[str, Any] | None, status: int = 200,
            **values: Any) -> web.Response:
    language = page_language(request, user)
    texts = console_texts()[language]

    def translate(key: str, **named: Any) -> str:
        return fill(texts[key], named)

    config = request.app[CONTEXT].config
    html = _pages.get_template(f"console/{name}").render(
        user=user, t=translate, lang=language, locale=LOCALES[language],
        languages=REPLY_LANGUAGES, timezone=config.timezone,
        away_reasons=[(reason.id, reason.label(language)) for reason in config.away_reasons],
        texts_json=json.dumps(texts, ensure_ascii=False), **values)
    return web.Response(text=html, status=status, content_type="text/html",
                        headers={**PAGE_HEADERS, "Vary": "Accept-Language, Cookie"})


async def signed_in_user(request: web.Request) -> dict[str, Any] | None:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if not token:
        return None
    session = await auth.session_for(request.app[CONTEXT].store, token, via_cookie=True)
    return session.user if session else None


def _to_login(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(f"/console/login?next={quote(request.path_qs, safe='/')}")


def same_origin_path(target: str | None, fallback: str = "/console") -> str:
    r"""`target` if a browser can only read it as a path on this site, else `fallback`.

    Browsers are lenient before they resolve a URL: they drop tabs and newlines anywhere and
    leading control characters, and read a backslash as a slash, so "/\host", "/\t/host"
    and "/%0a/host" (once decoded) all become "//host", another site. A target with any of
    those characters is refused rather than cleaned, as is anything with a scheme or a host."""
    if not target or any(ch < " " or ch in "\\\x7f" for ch in target):
        return fallback
    if not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


async def page(request: web.Request, template: str, *, supervisors_only: bool = False,
                admins_only: bool = False, **values: Any) -> web.Response:
    user = await signed_in_user(request)
    if user is None:
        raise _to_login(request)
    if (supervisors_only and user["role"] not in SUPERVISOR_ROLES) or (
            admins_only and user["role"] != "admin"):
        return _render(request, "forbidden.html", user, status=403, page="",
                       supervisor=user["role"] in SUPERVISOR_ROLES, admins_only=admins_only)
    return _render(request, template, user, supervisor=user["role"] in SUPERVISOR_ROLES,
                   **values)


@routes.get("/console")
async def console_page(request: web.Request) -> web.Response:
    return await page(request, "console.html", page="console", frame_css=EMAIL_FRAME_CSS,
                       event_groups=EVENT_GROUPS, call_text=CALL_TEXT)


@routes.get("/console/login")
async def login_page(request: web.Request) -> web.Response:
    # Only a local path: the login page must not become an open redirect.
    target = same_origin_path(request.query.get("next"))
    return _render(request, "login.html", None, next_url=target, page="login",
                   supervisor=False)


@routes.get("/wallboard")
async def wallboard_page(request: web.Request) -> web.Response:
    return await page(request, "wallboard.html", supervisors_only=True, page="wallboard")


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    return await page(request, "reports.html", supervisors_only=True, page="reports")


@routes.get("/admin")
async def admin_page(request: web.Request) -> web.Response:
    """Users, the deployment's configuration and the audit trail (static/admin.js)."""
    return await page(request, "admin.html", admins_only=True, page="admin")


@routes.get("/")
async def home(_request: web.Request) -> web.Response:
    """The site's root is the agents' console (which sends a stranger to its login page)."""
    raise web.HTTPFound("/console")


@routes.get("/favicon.ico")
async def favicon(_request: web.Request) -> web.Response:
    """For browsers that ask before reading the pages' icon link."""
    raise web.HTTPMovedPermanently("/static/favicon.svg")


def setup_routes(app: web.Application) -> None:
    app.add_routes(routes)
