"""What every Twilio channel shares: credentials, webhook signatures, the REST client, error codes.

Webhooks are signed by Twilio with the account's Auth Token over the exact URL it called plus
the sorted form fields; the twilio library's `RequestValidator` does the arithmetic. The REST
client is the library's own async client, pointed at `TWILIO_API_BASE` so tests, gateways and
regional edges work without patching the library.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from multidict import MultiDict, MultiDictProxy
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import MediaError, PermanentSendError, RateLimited, TransientSendError
from channels.sending import shared
from web.http import unstorable

log = logging.getLogger(__name__)

# The Twilio client logs every REST request at INFO (URL, headers, form): the lines name
# residents' phone numbers, which logs must not carry.
logging.getLogger("twilio").setLevel(logging.WARNING)

DEFAULT_API_BASE = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio answers a Messages create within a second or two; past this the send is retried.
REST_TIMEOUT_S = 15.0
# How long a 429 without a (readable) Retry-After holds our sends back.
DEFAULT_RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    api_base: str = DEFAULT_API_BASE


def auth_token(env: Mapping[str, str] | None = None) -> str | None:
    """TWILIO_AUTH_TOKEN, the secret that signs webhooks; None when unset or empty."""
    env = os.environ if env is None else env
    return env.get("TWILIO_AUTH_TOKEN") or None


def credentials(env: Mapping[str, str] | None = None) -> TwilioCredentials | None:
    """The REST credentials from the environment, or None when either part is missing."""
    env = os.environ if env is None else env
    sid, token = env.get("TWILIO_ACCOUNT_SID"), auth_token(env)
    if not sid or not token:
        return None
    return TwilioCredentials(sid, token, (env.get("TWILIO_API_BASE") or DEFAULT_API_BASE))


# --- webhook signatures -------------------------------------------------------------------


def webhook_url(public_url: str, path_qs: str) -> str:
    """The URL Twilio was configured to call: PUBLIC_URL plus the path (and query) it hit.
    Twilio signs the URL it was given, not what a proxy in front of us rewrote it to."""
    return public_url.rstrip("/") + path_qs


def decode_form(body: bytes) -> MultiDictProxy[str]:
    """A webhook's url-encoded body as its fields (repeated fields kept); ValueError when it
    is not UTF-8 text, raw or percent-encoded, or holds what cannot be stored (a NUL).

    Twilio sends UTF-8 and signs the decoded values, so such a body cannot be Twilio's.
    aiohttp's `request.post()` would raise UnicodeDecodeError on it (a 500), and would decode
    by whatever charset the request claims; this reads UTF-8 only.
    """
    try:
        pairs = parse_qsl(body.rstrip().decode("utf-8"), keep_blank_values=True,
                          encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ValueError("the form is not UTF-8 text") from None
    for name, value in pairs:
        if problem := unstorable(name) or unstorable(value):
            raise ValueError(f"the form holds {problem}")
    return MultiDictProxy(MultiDict(pairs))


def signature_valid(token: str, url: str, form: Any, signature: str | None) -> bool:
    """Whether `signature` is Twilio's HMAC of `url` and `form` under `token`.

    `form` may be a multidict (aiohttp's `request.post()`): repeated fields are signed each.
    `RequestValidator.validate` checks the URL both with and without the scheme's default
    port (":443" / ":80"), because Twilio signs whichever form it was configured with and
    load balancers may add or drop it. A URL with a non-default port is checked as given
    and with the port removed, again as the library does.
    """
    if not signature:
        return False
    validator = RequestValidator(token)
    # The URL as given is one of the two forms the library tries (with the port when it has
    # one, without when it has none): checking it first spares a second HMAC on every
    # webhook from a Twilio configured with this URL, and accepts nothing more.
    if "bodySHA256" not in url and hmac.compare_digest(
            validator.compute_signature(url, form).encode(), signature.encode()):
        return True
    return validator.validate(url, form, signature)


# --- the REST client ----------------------------------------------------------------------


def basic_authorization(user: str, password: str) -> str:
    """The HTTP Basic `Authorization` header value for Twilio's account sid and token."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def rewrite_api_url(url: str, api_base: str) -> str:
    """`url` with Twilio's API origin replaced by `api_base`; any other URL unchanged."""
    if url.startswith(DEFAULT_API_BASE + "/"):
        return api_base.rstrip("/") + url[len(DEFAULT_API_BASE):]
    return url


class ApiBaseHttpClient(AsyncTwilioHttpClient):
    """The library's async HTTP client, sending `https://api.twilio.com/...` to `api_base`.

    The generated resources hard-code the API domain (`twilio.rest.api.ApiBase`), and the
    library's edge/region settings only choose among Twilio's own hosts, so the one honest
    seam is the HTTP client: every request keeps its path, form, headers and Basic auth and
    only its origin changes. It also applies a real timeout: the library passes
    `timeout=None` per request, which aiohttp reads as "wait forever" (a number becomes
    aiohttp's total timeout).
    """

    def __init__(self, api_base: str, timeout_s: float = REST_TIMEOUT_S):
        super().__init__(pool_connections=True)
        self.api_base = api_base.rstrip("/")
        self.timeout_s = timeout_s

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: Any = None, auth: Any = None, timeout: Any = None,
                      allow_redirects: bool = False) -> Response:
        if auth is not None:
            # The same Basic credentials, but as a header: aiohttp deprecates its BasicAuth
            # helper, which the library would otherwise build from `auth`.
            headers = {**(headers or {}), "Authorization": basic_authorization(*auth)}
        response = await super().request(
            method, rewrite_api_url(url, self.api_base), params=params, data=data,
            headers=headers, auth=None,
            timeout=timeout or self.timeout_s,
            allow_redirects=allow_redirects)
        if response.status_code == 429:
            # The library's exception drops the headers, and Retry-After is the point.
            wait = retry_after_s((response.headers or {}).get("Retry-After"))
            raise RateLimited(f"Twilio answered 429; retrying in {wait:g} s", wait,
                              by_provider=True)
        return response

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The library logs each request's query at INFO: a message list's To and From, the
        # resident's phone number in clear. The path names only the account and resource.
        log.debug("Twilio %s %s", kwargs["method"], urlsplit(kwargs["url"]).path)

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("Twilio answered %s", status_code)


def retry_after_s(value: str | None) -> float:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@asynccontextmanager
async def _own_client(creds: TwilioCredentials) -> AsyncIterator[Client]:
    http_client = ApiBaseHttpClient(creds.api_base)
    try:
        yield Client(creds.account_sid, creds.auth_token, http_client=http_client)
    finally:
        await http_client.close()


def rest_client(creds: TwilioCredentials) -> AbstractAsyncContextManager[Client]:
    """A Twilio REST client: the worker's long-lived one (its connections kept warm from one
    send to the next, `channels.sending.kept_open`), or one for this block alone when the
    send runs on an event loop of its own."""
    return shared(("twilio", creds), lambda: _own_client(creds))


# --- error codes --------------------------------------------------------------------------

# Twilio error codes an agent may meet, with a reason they can act on. REST errors (2xxxx,
# 6xxxx) come from Messages create; delivery errors (3xxxx, 63xxx) from status callbacks.
ERROR_REASONS: dict[int, str] = {
    20003: "Twilio rejected the account credentials (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)",
    20404: "the Twilio resource was not found (check the account and sender settings)",
    21211: "invalid 'To' phone number",
    21212: "invalid 'From' number: check channels.twilio sms_from / whatsapp_from",
    21408: "sending to this country or region is not enabled on the Twilio account",
    21606: "the 'From' number cannot send messages to this destination",
    21608: "a trial Twilio account can only send to verified numbers",
    21610: "the resident has unsubscribed (replied STOP) from this sender",
    21612: "Twilio cannot route a message from this sender to this number",
    21614: "the 'To' number is not a mobile number that can receive SMS",
    21617: "the message body is longer than Twilio allows",
    21656: "the WhatsApp template variables are not valid JSON for this template",
    30003: "the resident's phone is switched off or unreachable",
    30004: "the message was blocked (the resident or their carrier blocks this sender)",
    30005: "the number does not exist or is no longer in service",
    30006: "the number is a landline or its carrier cannot receive messages",
    30007: "the carrier filtered the message as spam",
    30008: "the carrier reported an unknown delivery error",
    63001: "the WhatsApp sender could not authenticate with WhatsApp",
    63003: "the resident's number is not on WhatsApp",
    63007: "no WhatsApp sender is registered for the 'From' address",
    63016: "outside the WhatsApp 24-hour window: only an approved template may be sent",
    63024: "WhatsApp rejected the recipient as invalid",
    63032: "the resident has blocked WhatsApp messages from this business",
}

# Codes worth another try although they come with a 4xx: rate limits and queue overflow.
TRANSIENT_CODES = frozenset({20429, 30001, 63018})


def error_reason(code: int | str | None, fallback: str = "") -> str:
    """The readable reason for a Twilio error code, else `fallback`, else the bare code."""
    try:
        number = int(code) if code not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    if number is not None and number in ERROR_REASONS:
        return ERROR_REASONS[number]
    return fallback or (f"Twilio error {code}" if code not in (None, "") else "unknown error")


def send_error(status: int, code: int | None, message: str) -> Exception:
    """The channel error for a failed REST call: retry on 5xx, 429 and rate-limit codes,
    give up with a readable reason on any other 4xx."""
    if status >= 500 or status == 429 or code in TRANSIENT_CODES:
        return TransientSendError(f"Twilio answered {status} (code {code}); will retry")
    # An unknown code keeps Twilio's own words: they may name the number, but this text goes
    # only to the message's delivery_error that agents see, never to the logs.
    return PermanentSendError(error_reason(code, message or f"Twilio answered {status}"),
                              str(code) if code is not None else str(status))


def classify_exception(exc: BaseException) -> Exception | None:
    """The channel error for an exception from the twilio client, or None if it is not one
    we understand (the caller re-raises it)."""
    if isinstance(exc, RateLimited):
        return exc
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        code = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
        text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or ""
        return send_error(int(exc.status), code, str(text))
    if isinstance(exc, TwilioException) and len(exc.args) > 1 \
            and isinstance(exc.args[1], Response):
        # A list page Twilio refused: the library raises its bare exception with the response.
        return send_error(exc.args[1].status_code, *_error_body(exc.args[1].text))
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return TransientSendError(f"Twilio could not be reached ({type(exc).__name__})")
    return None


async def delete_records(external_ids: Sequence[str], resource: Callable[[Any, str], Any]
                         ) -> dict[str, str | None]:
    """Delete these records at Twilio (`resource(client, sid)`: the one to delete, a message,
    a call, a recording): by sid, None once gone (deleted now, or not found: deleted
    before), else why not, to try again later (`inbox.provider_erasures`)."""
    creds = credentials()
    if creds is None:
        return dict.fromkeys(external_ids, "Twilio is not configured")
    outcome: dict[str, str | None] = {}
    async with rest_client(creds) as client:
        for sid in external_ids:
            outcome[sid] = None
            try:
                await resource(client, sid).delete_async()
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    continue
                if (error := classify_exception(exc)) is None:
                    raise
                outcome[sid] = str(error)
    return outcome


def _error_body(text: str) -> tuple[int | None, str]:
    """(code, message) of Twilio's error JSON; (None, "") when the body is not that."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or "")


# --- media ----------------------------------------------------------------------------------

MEDIA_TIMEOUT_S = 60.0


async def fetch_media(url: str, max_bytes: int) -> tuple[bytes, str]:
    """Download a Twilio media URL (MediaUrlN) with the account's credentials: (body, type).

    Twilio answers with a redirect to short-lived storage; aiohttp drops the Authorization
    header when a redirect leaves the origin, so the credentials go to Twilio only.
    Raises MediaError, saying whether trying again later may help.
    """
    creds = credentials()
    if creds is None:
        raise MediaError("Twilio credentials are not configured", transient=True)
    timeout = aiohttp.ClientTimeout(total=MEDIA_TIMEOUT_S)
    headers = {"Authorization": basic_authorization(creds.account_sid, creds.auth_token)}
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            http.get(rewrite_api_url(url, creds.api_base), headers=headers) as response:
        if response.status >= 500 or response.status == 429:
            raise MediaError(f"Twilio answered {response.status}", transient=True)
        if response.status != 200:
            raise MediaError(f"Twilio answered {response.status}", transient=False)
        if (response.content_length or 0) > max_bytes:
            raise MediaError(f"larger than {max_bytes} bytes", transient=False)
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > max_bytes:
                raise MediaError(f"larger than {max_bytes} bytes", transient=False)
        return bytes(body), response.content_type
