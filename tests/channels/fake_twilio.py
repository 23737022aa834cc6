"""A small stand-in for Twilio's REST API: the Messages resource, as the real client calls it.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
(account sid and auth token), Twilio's Message JSON on success and Twilio's error JSON
(`code`, `message`, `more_info`, `status`) on failure, and records every request so tests can
assert the exact form fields the client sent. `fail_next` makes the next calls fail.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from inbox.store import utcnow

API_VERSION = "2010-04-01"
MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


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


@dataclass(frozen=True)
class Failure:
    status: int
    code: int | None
    message: str


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    next_sids: list[str] = field(default_factory=list)   # sids to hand out before random ones
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)   # media sid -> file
    media_requests: list[RecordedRequest] = field(default_factory=list)

    def fail_next(self, status: int, code: int | None = None, message: str = "",
                  times: int = 1) -> None:
        """The next `times` calls answer `status` with Twilio's error body for `code`."""
        self.failures.extend([Failure(status, code, message)] * times)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(MESSAGES_PATH, self.create)
        app.router.add_get(MEDIA_PATH, self.media_file)
        return app

    async def media_file(self, request: web.Request) -> web.Response:
        """A Media resource's file (Twilio itself redirects to storage; the body is the same)."""
        auth = _basic_auth(request.headers.get("Authorization"))
        self.media_requests.append(RecordedRequest(request.match_info["account_sid"], auth, [],
                                                   dict(request.headers)))
        if auth != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        if self.failures:
            failure = self.failures.pop(0)
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
        if self.failures:
            failure = self.failures.pop(0)
            if failure.code is None:
                return web.Response(status=failure.status, text="upstream trouble")
            return _error(failure.status, failure.code, failure.message)
        fields = dict(form)
        if "To" not in fields:
            return _error(400, 21604, "A 'To' phone number is required.")
        sid = self.next_sids.pop(0) if self.next_sids else "SM" + secrets.token_hex(16)
        self.sids.append(sid)
        return web.json_response(_message(account_sid, sid, fields, form), status=201)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}",
                              "status": status}, status=status)


def _message(account_sid: str, sid: str, fields: dict[str, str],
             form: list[tuple[str, str]]) -> dict[str, Any]:
    now = format_datetime(utcnow(), usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid, "api_version": API_VERSION, "body": fields.get("Body", ""),
        "date_created": now, "date_sent": None, "date_updated": now,
        "direction": "outbound-api", "error_code": None, "error_message": None,
        "from": fields.get("From"), "messaging_service_sid": fields.get("MessagingServiceSid"),
        "num_media": str(sum(1 for k, _ in form if k == "MediaUrl")),
        "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
        "status": "accepted" if "MessagingServiceSid" in fields else "queued",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": fields["To"], "uri": f"{uri}.json",
    }
