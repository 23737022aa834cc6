"""A small stand-in for Twilio's REST API: the Messages resource, as the real client calls it.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
(account sid and auth token), Twilio's Message JSON on success and Twilio's error JSON
(`code`, `message`, `more_info`, `status`) on failure, and records every request so tests can
assert the exact form fields the client sent. `fail_next` makes the next calls fail. A create
needs a Body, a MediaUrl or a ContentSid (an approved template, with its ContentVariables as
a JSON object), and is refused with Twilio's error codes as Twilio refuses it otherwise.

`GET` on the same path is Twilio's message list: filtered by `To`, `From`, `DateSent`,
`DateSent<` and `DateSent>` (Twilio's `DateSent<=` / `DateSent>=` on the wire), newest first,
paged by `PageSize` and `Page`/`PageToken` with Twilio's paging fields (`next_page_uri`...).
Every message created is listed, as Twilio shows it once sent (status `sent`, `date_sent`).

A create with `MediaUrl` fields (an MMS or a WhatsApp file; the field repeats, one a file) is
recorded with them; when the test gives `fetch_media` (how to GET a URL of the app under
test), each is fetched right away, as Twilio fetches the file before it sends, and kept in
`fetched_media` as (url, status, content type, body).

`DELETE` on a message's, a call's or a recording's path deletes it (204), or answers Twilio's
404 for a sid it does not hold (`calls`, `recordings`); `fail_next` makes it fail as a
create would.

`hold_next` keeps a create request open, either before Twilio accepts it or after (the
message exists and is listed, but the answer never comes), so a test can kill the sender
mid-send; `delay_s` makes every create slow.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from inbox.storage import utcnow

API_VERSION = "2010-04-01"
MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
MESSAGE_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
CALL_PATH = "/2010-04-01/Accounts/{account_sid}/Calls/{sid}.json"
RECORDING_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/{sid}.json"


@dataclass(frozen=True)
class RecordedRequest:
    account_sid: str
    auth: tuple[str, str] | None
    form: list[tuple[str, str]]           # in the order sent; MediaUrl may repeat
    headers: dict[str, str]

    def field(self, name: str) -> str | None:
        return next((value for key, value in self.form if key == name), None)

    def fields(self) -> dict[str, str]:
        return dict(self.form)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.form if key == name]


@dataclass(frozen=True)
class Failure:
    status: int
    code: int | None
    message: str
    retry_after: str | None = None     # a Retry-After header (a 429's)


@dataclass
class Hold:
    """A create request kept open: `accept_first` creates the message before hanging."""

    accept_first: bool
    at_request: int                     # the index in `FakeTwilio.requests` it applies to
    entered: asyncio.Event = field(default_factory=asyncio.Event)    # the request is held
    released: asyncio.Event = field(default_factory=asyncio.Event)   # let it finish


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[Failure | None] = field(default_factory=list)   # None: succeed
    sids: list[str] = field(default_factory=list)
    next_sids: list[str] = field(default_factory=list)   # sids to hand out before random ones
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)   # media sid -> file
    media_requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)   # Message JSON, oldest first
    list_requests: list[dict[str, str]] = field(default_factory=list)   # each list call's query
    deletes: list[str] = field(default_factory=list)     # the sids of each delete request
    calls: set[str] = field(default_factory=set)         # the calls' sids Twilio holds
    recordings: set[str] = field(default_factory=set)    # the recordings' sids it holds
    delay_s: float = 0.0                # every create waits this long before answering
    in_flight: int = 0                  # creates being answered now...
    most_in_flight: int = 0             # ...and the most there were at once
    hold: Hold | None = None
    fetch_media: Callable[[str], Awaitable[tuple[int, str, bytes]]] | None = None
    fetched_media: list[tuple[str, int, str, bytes]] = field(default_factory=list)

    def hold_next(self, accept_first: bool, skip: int = 0) -> Hold:
        """Keep the create request after the next `skip` ones open; with `accept_first` the
        message is created (and listed) first, as when Twilio accepted it and the answer was
        lost."""
        self.hold = Hold(accept_first, len(self.requests) + skip)
        return self.hold

    def add_message(self, to: str, from_: str, body: str, created: datetime,
                    sid: str | None = None) -> str:
        """A message Twilio holds that did not come through this fake's create (sent earlier,
        or from elsewhere on the account)."""
        sid = sid or "SM" + secrets.token_hex(16)
        fields = {"To": to, "From": from_, "Body": body}
        self.messages.append(_message(self.account_sid, sid, fields, list(fields.items()),
                                      created))
        return sid

    def fail_next(self, status: int, code: int | None = None, message: str = "",
                  times: int = 1, skip: int = 0, retry_after: str | None = None) -> None:
        """The next `times` calls, after `skip` that succeed, answer `status` with Twilio's
        error body for `code` (and a Retry-After header when given)."""
        self.failures.extend([None] * skip
                             + [Failure(status, code, message, retry_after)] * times)

    def _next_failure(self) -> Failure | None:
        return self.failures.pop(0) if self.failures else None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(MESSAGES_PATH, self.create)
        app.router.add_get(MESSAGES_PATH, self.list_messages)
        app.router.add_get(MEDIA_PATH, self.media_file)
        app.router.add_delete(MESSAGE_PATH, self.delete_record)
        app.router.add_delete(CALL_PATH, self.delete_record)
        app.router.add_delete(RECORDING_PATH, self.delete_record)
        return app

    async def delete_record(self, request: web.Request) -> web.Response:
        """Twilio's delete of a message (with its media), a call's record or a recording:
        204 and it is gone; 404 with Twilio's error for a sid it does not hold."""
        account_sid = request.match_info["account_sid"]
        auth = _basic_auth(request.headers.get("Authorization"))
        sid = request.match_info["sid"]
        self.deletes.append(sid)
        if auth != (self.account_sid, self.auth_token) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if failure := self._next_failure():
            if failure.code is None:
                return web.Response(status=failure.status, text="upstream trouble")
            return _error(failure.status, failure.code, failure.message)
        if "/Messages/" in request.path:
            held = any(message["sid"] == sid for message in self.messages)
            self.messages = [message for message in self.messages if message["sid"] != sid]
        else:
            kept = self.calls if "/Calls/" in request.path else self.recordings
            held = sid in kept
            kept.discard(sid)
        if not held:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.Response(status=204)

    async def media_file(self, request: web.Request) -> web.Response:
        """A Media resource's file (Twilio itself redirects to storage; the body is the same)."""
        auth = _basic_auth(request.headers.get("Authorization"))
        self.media_requests.append(RecordedRequest(request.match_info["account_sid"], auth, [],
                                                   dict(request.headers)))
        if auth != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        if failure := self._next_failure():
            return web.Response(status=failure.status, text="upstream trouble")
        found = self.media.get(request.match_info["media_sid"])
        if found is None:
            return _error(404, 20404, "The requested resource was not found")
        body, content_type = found
        return web.Response(body=body, content_type=content_type)

    async def create(self, request: web.Request) -> web.Response:
        account_sid = request.match_info["account_sid"]
        form = [(k, str(v)) for k, v in (await request.post()).items()]
        auth = _basic_auth(request.headers.get("Authorization"))
        self.requests.append(RecordedRequest(account_sid, auth, form, dict(request.headers)))
        if auth != (self.account_sid, self.auth_token) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if failure := self._next_failure():
            if failure.code is None:
                response = web.Response(status=failure.status, text="upstream trouble")
            else:
                response = _error(failure.status, failure.code, failure.message)
            if failure.retry_after is not None:
                response.headers["Retry-After"] = failure.retry_after
            return response
        fields = dict(form)
        if "To" not in fields:
            return _error(400, 21604, "A 'To' phone number is required.")
        if refused := _content_refused(fields):
            return refused
        if self.fetch_media is not None:
            for url in (value for key, value in form if key == "MediaUrl"):
                status, content_type, body = await self.fetch_media(url)
                self.fetched_media.append((url, status, content_type, body))
        hold = self.hold if self.hold and self.hold.at_request == len(self.requests) - 1 \
            else None
        if hold is not None and not hold.accept_first:
            hold.entered.set()
            await hold.released.wait()
        if self.delay_s:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delay_s)
            finally:
                self.in_flight -= 1
        sid = self.next_sids.pop(0) if self.next_sids else "SM" + secrets.token_hex(16)
        self.sids.append(sid)
        message = _message(account_sid, sid, fields, form, utcnow())
        self.messages.append(message)
        if hold is not None and hold.accept_first:
            hold.entered.set()
            await hold.released.wait()
        return web.json_response(_created_view(message), status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        """Twilio's message list: filters, newest first, and Twilio's paging fields."""
        account_sid = request.match_info["account_sid"]
        auth = _basic_auth(request.headers.get("Authorization"))
        if auth != (self.account_sid, self.auth_token) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        query = dict(request.query)
        self.list_requests.append(query)
        if failure := self._next_failure():
            if failure.code is None:
                return web.Response(status=failure.status, text="upstream trouble")
            return _error(failure.status, failure.code, failure.message)
        try:
            size = min(int(query.get("PageSize", "50")), 1000)
            page = int(query.get("Page", "0"))
            bounds = {key: _date_filter(query[key])
                      for key in ("DateSent", "DateSent<", "DateSent>") if key in query}
        except ValueError:
            return _error(400, 20001, "Invalid paging or DateSent parameter")
        if size < 1 or page < 0:
            return _error(400, 20001, "Invalid paging parameter")
        matching = [m for m in self.messages
                    if query.get("To", m["to"]) == m["to"]
                    and query.get("From", m["from"]) == m["from"]
                    and _sent_within(m["_date_sent"], bounds)]
        matching.sort(key=lambda m: m["_date_sent"], reverse=True)
        start = page * size
        records = matching[start:start + size]
        path = MESSAGES_PATH.format(account_sid=account_sid)
        filters = [(k, v) for k, v in request.query.items()
                   if k not in ("Page", "PageSize", "PageToken")]

        def page_uri(number: int) -> str:
            paging = [("PageSize", str(size)), ("Page", str(number))]
            if number > 0:
                paging.append(("PageToken", f"PA{matching[number * size - 1]['sid']}"))
            return f"{path}?{urlencode(filters + paging)}"

        more = start + size < len(matching)
        return web.json_response({
            "end": start + len(records) - 1 if records else 0,
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "messages": [_listed_view(m) for m in records],
            "start": start,
            "uri": page_uri(page),
        })


CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


def _content_refused(fields: dict[str, str]) -> web.Response | None:
    """What Twilio answers a create without content, or with a template (Content API) it
    cannot take: a ContentSid must be an HX sid, and ContentVariables a JSON object of
    strings keyed by the placeholders' numbers."""
    if not (fields.get("Body") or fields.get("MediaUrl") or fields.get("ContentSid")):
        return _error(400, 21619, "A text message body or media URL must be specified.")
    if "ContentSid" in fields and not CONTENT_SID.fullmatch(fields["ContentSid"]):
        return _error(400, 21655, "The ContentSid is Invalid.")
    if "ContentVariables" in fields:
        try:
            variables = json.loads(fields["ContentVariables"])
        except ValueError:
            variables = None
        if not isinstance(variables, dict) or not all(
                isinstance(v, str) for v in variables.values()):
            return _error(400, 21656, "The ContentVariables Parameter is invalid.")
        if "ContentSid" not in fields:
            return _error(400, 21656, "ContentVariables needs a ContentSid.")
    return None


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}",
                              "status": status}, status=status)


def _date_filter(value: str) -> datetime:
    """A DateSent filter value: Twilio documents YYYY-MM-DD; the library sends a full
    YYYY-MM-DDTHH:MM:SSZ."""
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(value)


def _sent_within(sent: datetime, bounds: dict[str, datetime]) -> bool:
    if "DateSent" in bounds and sent.date() != bounds["DateSent"].date():
        return False
    if "DateSent>" in bounds and sent < bounds["DateSent>"]:
        return False
    return not ("DateSent<" in bounds and sent > bounds["DateSent<"])


def _created_view(message: dict[str, Any]) -> dict[str, Any]:
    """The create call's answer: the message as just accepted, not yet sent."""
    view = _listed_view(message)
    view["date_sent"] = None
    view["status"] = "accepted" if message["messaging_service_sid"] else "queued"
    return view


def _listed_view(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _message(account_sid: str, sid: str, fields: dict[str, str],
             form: list[tuple[str, str]], created: datetime) -> dict[str, Any]:
    now = format_datetime(created, usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "_date_sent": created,
        "account_sid": account_sid, "api_version": API_VERSION, "body": fields.get("Body", ""),
        "date_created": now, "date_sent": now, "date_updated": now,
        "direction": "outbound-api", "error_code": None, "error_message": None,
        "from": fields.get("From"), "messaging_service_sid": fields.get("MessagingServiceSid"),
        "num_media": str(sum(1 for k, _ in form if k == "MediaUrl")),
        "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
        "status": "sent",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": fields["To"], "uri": f"{uri}.json",
    }


async def serve(aiohttp_server, monkeypatch, account_sid: str, auth_token: str) -> FakeTwilio:
    """A fake on a local port, with TWILIO_API_BASE (and the credentials) pointing at it for
    this process and the processes it starts."""
    fake = FakeTwilio(account_sid, auth_token)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    monkeypatch.setenv("TWILIO_API_BASE", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", auth_token)
    return fake
