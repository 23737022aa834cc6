"""The OpenAPI 3 document of the HTTP interface (`GET /api/v1/openapi.json`).

Written by hand from the routes, so it says what clients may rely on; a test checks that it
is a valid OpenAPI document and that every route the app serves under /api/v1 is in it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from routing.assignment import CAPACITY_KINDS
from web.http import MAX_ID

routes = web.RouteTableDef()


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None,
        status: str = "200") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response.update(_json(schema))
    return {status: response}


_ERRORS = {
    "400": {"description": "malformed input", **_json(_ref("Error"))},
    "401": {"description": "not logged in", **_json(_ref("Error"))},
    "403": {"description": "outside the caller's queues or role", **_json(_ref("Error"))},
    "404": {"description": "no such object", **_json(_ref("Error"))},
}
# What only a call with a body can meet.
_BODY_ERRORS = {
    "413": {"description": "the body is over the size limit, or a text over its length",
            **_json(_ref("Error"))},
    "422": {"description": "well-formed, but the action cannot be carried out (an unknown "
                           "queue or template, a status that cannot be set, ...)",
            **_json(_ref("Error"))},
}


def _op(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {**responses, **_ERRORS}}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
        operation["responses"].update(_BODY_ERRORS)
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


def _raw_body(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation whose body is a file's bytes, not JSON."""
    operation["requestBody"] = {"required": True, "content": {
        "*/*": {"schema": {"type": "string", "format": "binary"}}}}
    operation["responses"].update(_BODY_ERRORS)
    operation["responses"]["415"] = {"description": "its content is no kind accepted",
                                     **_json(_ref("Error"))}
    return operation


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


_ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}
_ID = {"name": "id", "in": "path", "required": True, "schema": _ID_SCHEMA}
_MATCH_ID = {"name": "match_id", "in": "path", "required": True, "schema": _ID_SCHEMA}
_INTERVAL = [_query("from", "ISO date or time, Asia/Baku when no offset (default: 30 days "
                            "before `to`); years 1970 to 9998"),
             _query("to", "ISO date or time, exclusive; a date means its whole day"),
             _query("format", "json (default) or csv", {"enum": ["json", "csv"]})]
_CATEGORY = {"type": "string", "enum": ["inquiry", "registration", "support"]}
_WATCHING = {"description": "take_over_first: a supervisor watches a colleague's conversation "
                            "read-only until they take it over", **_json(_ref("Error"))}
_WATCHING_OR_WINDOW = {**_WATCHING, "description": _WATCHING["description"] + "; or "
                       "free_text_window_closed: only an approved template may go out"}
_STATUS = "(waiting|open|pending|resolved)"
_GROUPS = ["channel", "queue", "agent", "category"]
_TIME = {"type": "string", "format": "date-time"}
_LANGUAGE_TEXTS = {"type": "object", "required": ["az", "ru", "en"], "additionalProperties": False,
                   "properties": {language: {"type": "string", "minLength": 1}
                                  for language in ("az", "ru", "en")}}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "CannedResponse": {"type": "object",
                       "required": ["key", "queue", "title", "body", "is_default", "modified"],
                       "properties": {
                           "key": {"type": "string"}, "queue": {"type": ["string", "null"]},
                           "title": {"type": "object"}, "body": {"type": "object"},
                           "tags": {"type": "array", "items": {"type": "string"}},
                           "is_default": {"type": "boolean"}, "modified": {"type": "boolean"}}},
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"},
                             "code": {"type": "string",
                                      "description": "stable name of the error, what clients "
                                                     "match on and translate; the text may "
                                                     "change"}}},
    "AdminUser": {"type": "object", "required": [
        "id", "email", "name", "role", "queues", "languages", "capacity", "voice_address",
        "active", "presence", "created_at"], "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "role": {"enum": ["agent", "supervisor", "admin"]},
        "queues": {"type": "array", "items": {"type": "string"}},
        "languages": {"type": "array", "items": {"type": "string"}},
        "capacity": {"type": "object", "additionalProperties": {"type": "integer"}},
        "voice_address": {"type": ["string", "null"]}, "active": {"type": "boolean"},
        "presence": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}},
    "AuditPage": {"type": "object", "required": ["items", "next_before"], "properties": {
        "items": {"type": "array", "items": {"type": "object", "required": [
            "id", "action", "actor_id", "actor", "target_kind", "target_id", "target",
            "details", "created_at"], "properties": {
            "id": {"type": "integer"}, "action": {"type": "string"},
            "actor_id": {"type": "integer"},
            "actor": {"type": ["object", "null"]}, "target_kind": {"type": "string"},
            "target_id": {"type": "string"}, "target": {"type": ["object", "null"]},
            "details": {"type": "object"},
            "created_at": {"type": "string", "format": "date-time"}}}},
        "next_before": {"type": ["integer", "null"]}}},
    "User": {"type": "object", "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "role": {"enum": ["agent", "supervisor", "admin"]},
        "queues": {"type": "array", "items": {"type": "string"}},
        "languages": {"type": "array", "items": {"type": "string"}},
        "presence": {"enum": ["online", "away", "offline"]},
        "presence_reason": {"type": ["string", "null"],
                            "description": "why away (config away_reasons), else null"},
        "presence_since": _NULLABLE_TIME,
        "console_language": {"enum": ["az", "ru", "en", None],
                             "description": "the console's language as the user chose it; "
                                            "null: their browser's"}}},
    "Attachment": {"type": "object", "properties": {
        "content_type": {"type": "string"}, "filename": {"type": ["string", "null"]},
        "size": {"type": ["integer", "null"]}, "url": {"type": ["string", "null"]}}},
    "Message": {"type": "object", "properties": {
        "id": {"type": "integer"}, "conversation_id": {"type": "integer"},
        "direction": {"enum": ["in", "out", "note"]}, "body": {"type": "string"},
        "html": {"type": ["string", "null"],
                 "description": "an e-mail's HTML, sanitized; show it in a sandboxed frame"},
        "email": {"oneOf": [{"type": "null"}, _ref("MailFacts")],
                  "description": "a mail's facts: the resident's mail as received, or the "
                                 "subject an agent gave their reply; null for other messages"},
        "telegram": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
            "name": {"type": ["string", "null"]}, "username": {"type": ["string", "null"]}}}],
            "description": "the resident's Telegram name and username the message came "
                           "with; null for other messages"},
        "attachments": {"type": "array", "items": _ref("Attachment")},
        "created_at": _TIME,
        "author": {"type": "object", "properties": {
            "kind": {"enum": ["resident", "agent", "system"]},
            "id": {"type": ["integer", "null"]}}},
        "delivery_status": {"enum": ["received", "queued", "sent", "delivered", "read",
                                     "failed", None]},
        "delivery_error": {"type": ["string", "null"]},
        "erased": {"type": "boolean",
                   "description": "the resident's personal data was erased: no text or files"},
        "sent_by": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
            "channel": {"enum": ["sms", "email"]}, "address": {"type": "string"}}}],
            "description": "a web-chat reply sent by SMS or e-mail because the resident had "
                           "left the chat: the channel and the address (masked); else null"},
        "whisper": {"type": "boolean",
                    "description": "a supervisor's whisper (a note: never sent to the "
                                   "resident)"}}},
    "MailFacts": {"type": "object", "properties": {
        "subject": {"type": ["string", "null"]}, "from": {"type": ["string", "null"]},
        "from_name": {"type": ["string", "null"]},
        "to": {"type": "array", "items": {"type": "string"}},
        "cc": {"type": "array", "items": {"type": "string"}},
        "quoted": {"type": ["string", "null"],
                   "description": "the quoted history the new text (body) left out"},
        "notes": {"type": "array", "items": {"type": "string"},
                  "description": "what of the mail could not be read"}}},
    "MailReply": {"type": "object", "properties": {
        "subject": {"type": "string",
                    "description": "the subject a reply carries unless the agent gives one"},
        "signature": {"type": ["string", "null"],
                      "description": "the mailbox's signature in the resident's language, "
                                     "added under the reply when it is sent"}}},
    "Event": {"type": "object", "properties": {
        "id": {"type": "integer"}, "type": {"type": "string"},
        "actor": {"type": ["integer", "null"]}, "data": {"type": "object"},
        "created_at": _TIME}},
    "Conversation": {"type": "object", "properties": {
        "id": {"type": "integer"},
        "status": {"enum": ["intake", "waiting", "open", "pending", "resolved"],
                   "description": "intake: the guided registration intake is still asking "
                                  "the resident; no agent is offered it and no clock runs"},
        "channel": {"type": "string"}, "category": {**_CATEGORY, "type": ["string", "null"]},
        "category_confidence": {"type": ["number", "null"]},
        "language": {"type": ["string", "null"]}, "queue": {"type": ["string", "null"]},
        "assignee": {"type": ["integer", "null"]}, "priority": {"type": "integer"},
        "contact": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": ["string", "null"]},
            "phone": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
            "erased": {"type": "boolean",
                       "description": "the resident's personal data was erased"}}},
        "created_at": _TIME, "first_response_at": _NULLABLE_TIME,
        "last_message_at": _TIME, "sla_due_at": _NULLABLE_TIME,
        "sla_state": {"enum": ["ok", "at_risk", "breached"]},
        "tags": {"type": "array", "items": {"type": "string"},
                 "description": "tag ids from config, in the order they were added"}}},
    "ConversationDetail": {"allOf": [_ref("Conversation"), {"type": "object", "properties": {
        "messages": {"type": "array", "items": _ref("Message")},
        "events": {"type": "array", "items": _ref("Event")},
        "mail_reply": {"oneOf": [{"type": "null"}, _ref("MailReply")],
                       "description": "on a channel whose replies are mail (e-mail); else "
                                      "null"},
        "reply_to": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
            "phone": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
            "given_at": {"type": ["string", "null"]}}}],
            "description": "where the resident asked answers to go when they are not in the "
                           "chat (typed in the web chat's form, verified by nobody); else "
                           "null"},
        "intake": {"oneOf": [{"type": "null"}, _ref("Intake")],
                   "description": "the guided registration intake's answers, when the "
                                  "conversation had one; else null"}}}]},
    "Intake": {"type": "object", "properties": {
        "status": {"enum": ["active", "paused", "complete", "handed_over"]},
        "step": {"type": "string", "description": "the question it stands at or ended on"},
        "reason": {"type": ["string", "null"], "description": "why it was handed over"},
        "consent": {"type": ["boolean", "null"]},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "kind": {"type": "string"},
            "value": {"description": "null when the resident skipped it"},
            "masked": {"type": "boolean", "description": "a FIN or ID card number shown "
                       "masked: the reader is not an operator of the conversation's queue "
                       "(its messages' identifiers are masked alike)"},
            "labels": {"type": ["object", "null"],
                       "description": "a chosen service's or option's label per language"}}}},
        "documents": {"type": "array", "items": {"type": "integer"},
                      "description": "the messages carrying the resident's documents"}}},
    "Queue": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "names": _LANGUAGE_TEXTS,
        "kind": {"enum": ["operators", "mailbox"]}, "waiting": {"type": "integer"},
        "longest_wait_s": {"type": "integer"}, "agents_online": {"type": "integer"}}},
    "Contact": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
        "language": {"type": ["string", "null"]},
        "preferred_channel": {"type": ["string", "null"]},
        "erased_at": {"oneOf": [{"type": "null"}, _TIME],
                      "description": "when the resident's personal data was erased"},
        "identities": {"type": "array", "items": {"type": "object"}},
        "conversations": {"type": "array", "items": {"type": "object"}},
        "possible_matches": {"type": "array", "items": _ref("PossibleMatch")}}},
    "PossibleMatch": {
        "type": "object",
        "description": "another contact that typed the same identifier, or was vouched for "
                       "the one this contact typed; never joined until an agent confirms",
        "properties": {
            "id": {"type": "integer"}, "kind": {"enum": ["fin", "id_card", "phone", "email"]},
            "value": {"type": "string", "description": "masked"}, "found_at": _TIME,
            "contact": {"type": "object", "properties": {
                "id": {"type": "integer"},
                "visible": {"type": "boolean",
                            "description": "whether the caller may see that contact"},
                "name": {"type": ["string", "null"], "description": "null unless visible"}}}}},
    "SummaryRow": {"type": "object", "properties": {
        "key": {}, "conversations": {"type": "integer"},
        "first_response_p50_s": {"type": ["number", "null"]},
        "first_response_p90_s": {"type": ["number", "null"]},
        "resolution_p50_s": {"type": ["number", "null"]},
        "sla_breached": {"type": "integer"}}},
}

_CONVERSATION = _ok("the conversation", _ref("Conversation"))
_CONFLICT = {"409": {"description": "the change conflicts with what is stored (an e-mail "
                               "address in use; an admin's own role or access)",
                     **_json(_ref("Error"))}}
_ACCOUNT_FIELDS: dict[str, Any] = {
    "name": {"type": "string"}, "role": {"enum": ["agent", "supervisor", "admin"]},
    "queues": {"type": "array", "items": {"type": "string"}},
    "languages": {"type": "array", "items": {"enum": ["az", "ru", "en"]}},
    "capacity": {"type": "object", "properties": {
        "chat": {"type": "integer", "minimum": 0, "maximum": 100},
        "email": {"type": "integer", "minimum": 0, "maximum": 100}},
        "additionalProperties": False},
    "voice_address": {"type": ["string", "null"]},
}
_ACCOUNT_BODY = {"type": "object", "additionalProperties": False,
                 "required": ["email", "name", "role", "languages", "password"],
                 "properties": {"email": {"type": "string", "format": "email"},
                                "password": {"type": "string", "minLength": 8},
                                **_ACCOUNT_FIELDS}}
_ACCOUNT_EDIT_BODY = {"type": "object", "additionalProperties": False,
                      "properties": _ACCOUNT_FIELDS}


_TEXTS = {"type": "object", "properties": {
    "az": {"type": "string"}, "ru": {"type": "string"}, "en": {"type": "string"}}}
_OUTCOME = {"type": "object", "required": ["id", "kind", "notification", "attempts"],
            "properties": {
    "id": {"type": "integer"},
    "kind": {"enum": ["approved", "rejected", "pickup", "more_info"]},
    "reason": {"type": ["string", "null"]}, "centre": {"type": ["string", "null"]},
    "actor_id": {"type": ["integer", "null"]}, "created_at": {"type": "string"},
    "notification": {"enum": ["pending", "sent", "delivered", "failed"]},
    "attempts": {"type": "array", "items": {"type": "object", "properties": {
        "attempt": {"type": "integer"}, "channel": {"type": "string"},
        "message_id": {"type": ["integer", "null"]},
        "delivery_status": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]}, "created_at": {"type": "string"}}}}}}


def _rows(row: dict[str, Any]) -> dict[str, Any]:
    """A report's 200: JSON rows, or the same rows as CSV with `format=csv`."""
    return {"200": {"description": "rows", "content": {
        "application/json": {"schema": {"type": "array", "items": row}},
        "text/csv": {"schema": {"type": "string"}}}}}


_KEY = {"name": "key", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"}}
_CANNED_BODY = {"type": "object", "required": ["title", "body"], "properties": {
    "queue": {"type": ["string", "null"]}, "title": _LANGUAGE_TEXTS, "body": _LANGUAGE_TEXTS}}
_CANNED_BODY_NEW = {**_CANNED_BODY, "required": ["key", "title", "body"], "properties": {
    **_CANNED_BODY["properties"], "key": _KEY["schema"]}}

PATHS: dict[str, Any] = {
    "/healthz": {"get": _op("liveness", _ok("alive", {"type": "object"}), public=True)},
    "/readyz": {"get": _op("readiness: database and Redis answer",
                           {**_ok("ready", {"type": "object"}),
                            **_ok("names what does not answer", {"type": "object"}, "503")},
                           public=True)},
    "/metrics": {"get": _op("Prometheus metrics", {"200": {
        "description": "text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}}, public=True)},
    "/api/v1/auth/login": {"post": _op(
        "log in; also sets the session cookie and the CSRF cookie",
        {**_ok("logged in", {"type": "object", "properties": {
            "token": {"type": "string"}, "csrf_token": {"type": "string"},
            "user": _ref("User")}}),
         "429": {"description": "too many failed logins from this address (at this account, "
                                "or at any): wait Retry-After seconds (also `retry_after_s`)",
                 "headers": {"Retry-After": {"schema": {"type": "integer"}}}}},
        body={"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string"}, "password": {"type": "string"}}}, public=True)},
    "/api/v1/auth/logout": {"post": _op("end the session; the agent goes offline",
                                        _ok("logged out"))},
    "/api/v1/me": {"get": _op("the caller", _ok("the user", _ref("User")))},
    "/api/v1/me/presence": {"post": _op(
        "set presence (also a console heartbeat)", _ok("the user", _ref("User")),
        body={"type": "object", "required": ["presence"], "properties": {
            "presence": {"enum": ["online", "away", "offline"]},
            "reason": {"type": ["string", "null"],
                       "description": "only when away: an id of config away_reasons"}}})},
    "/api/v1/me/language": {"post": _op(
        "save the language of the caller's own console pages", _ok("the user", _ref("User")),
        body={"type": "object", "required": ["language"], "properties": {
            "language": {"enum": ["az", "ru", "en", None]}}})},
    "/api/v1/conversations": {"get": _op(
        "conversations of the caller's queues, newest activity first",
        _ok("a page", {"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("Conversation")},
            "next_cursor": {"type": ["string", "null"]}}}),
        params=[_query("status", "waiting, open, pending or resolved; several comma-separated",
                       {"type": "string", "pattern": f"^{_STATUS}?(,{_STATUS}?)*$"}),
                _query("queue", "queue id"), _query("channel", "channel name"),
                _query("category", "inquiry, registration or support",
                       {**_CATEGORY, "enum": ["", *_CATEGORY["enum"]]}),
                _query("assignee", "me, none or an agent id",
                       {"type": "string", "pattern": "^(me|none|[0-9]{1,19})?$"}),
                _query("q", "search in name, phone, FIN and text"),
                _query("limit", "1 to 200", {"type": "integer"}),
                _query("cursor", "next_cursor of the previous page")])},
    "/api/v1/conversations/{id}": {"get": _op(
        "a conversation with its messages and events",
        _ok("the conversation", _ref("ConversationDetail")), params=[_ID])},
    "/api/v1/conversations/{id}/messages": {"post": _op(
        "reply on the conversation's channel (queued for delivery) or add a private note; a "
        "supervisor's reply to a colleague's conversation is 409 take_over_first",
        {**_ok("the message", _ref("Message"), status="201"), "409": _WATCHING_OR_WINDOW},
        params=[_ID],
        body={"type": "object", "anyOf": [{"required": ["body"]}, {"required": ["template"]}],
              "properties": {
            "body": {"type": "string"}, "private": {"type": "boolean"},
            "subject": {"type": ["string", "null"], "maxLength": 250,
                        "description": "e-mail only: the reply's subject, one line without "
                                       "control characters; blank or absent for the one "
                                       "answering the resident's mail"},
            "template": {"type": "string",
                         "description": "an approved template of the channel instead of "
                                        "free text"},
            "variables": {"type": "object"},
            "attachments": {"type": "array", "maxItems": 5, "items": {"type": "string"},
                            "description": "ids of the caller's uploads in this "
                                           "conversation (POST .../uploads); with them "
                                           "body may be empty"}}})},
    "/api/v1/conversations/{id}/whisper": {"post": _op(
        "supervisors and admins: a whisper, a note for the conversation's agents shown apart "
        "and announced to its assignee (conversation.whisper); never sent to the resident",
        _ok("the note", _ref("Message"), status="201"), params=[_ID],
        body={"type": "object", "required": ["body"], "properties": {
            "body": {"type": "string"}}})},
    "/api/v1/conversations/{id}/take-over": {"post": _op(
        "supervisors and admins: assign the conversation to the caller, who may then answer "
        "the resident", _CONVERSATION, params=[_ID])},
    "/api/v1/conversations/{id}/assign": {"post": _op(
        "assign, unassign (agent_id null) or transfer (queue)", _CONVERSATION, params=[_ID],
        body={"type": "object", "properties": {
            "agent_id": {**_ID_SCHEMA, "type": ["integer", "null"]},
            "queue": {"type": ["string", "null"]}}})},
    "/api/v1/conversations/{id}/transfer-targets": {"get": _op(
        "every queue the conversation may be transferred to, and every colleague with their "
        "presence and load against capacity for the conversation's kind of work",
        _ok("queues and agents", {"type": "object", "properties": {
            "capacity_kind": {"enum": ["chat", "email"]},
            "queues": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "names": _LANGUAGE_TEXTS,
                "kind": {"enum": ["operators", "mailbox"]}}}},
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "role": {"type": "string"}, "presence": {"enum": ["online", "away", "offline"]},
                "queues": {"type": "array", "items": {"type": "string"}},
                "languages": {"type": "array", "items": {"type": "string"}},
                "load": {"type": "integer"}, "capacity": {"type": "integer"},
                "full": {"type": "boolean"}}}}}}),
        params=[_ID])},
    "/api/v1/conversations/{id}/status": {"post": _op(
        "open, pending or resolved", _CONVERSATION, params=[_ID],
        body={"type": "object", "required": ["status"], "properties": {
            "status": {"enum": ["open", "pending", "resolved"]}}})},
    "/api/v1/conversations/{id}/typing": {"post": _op(
        "the agent is writing a reply: the resident sees it where the channel can show it "
        "(web chat window; Telegram chat action, at most every 4 s per chat)",
        {**_ok("passed on", status="204"), "409": _WATCHING}, params=[_ID])},
    "/api/v1/conversations/{id}/category": {"post": _op(
        "a human's category correction, kept as training data", _CONVERSATION, params=[_ID],
        body={"type": "object", "required": ["category"], "properties": {
            "category": _CATEGORY, "reroute": {"type": "boolean"}}})},
    "/api/v1/conversations/{id}/tags": {"put": _op(
        "set the conversation's tags and wrap-up codes (ids from GET /api/v1/tags); the "
        "tagged event records what was added and removed", _CONVERSATION, params=[_ID],
        body={"type": "object", "required": ["tags"], "properties": {
            "tags": {"type": "array", "maxItems": 20, "items": {"type": "string"}}}})},
    "/api/v1/conversations/{id}/outcome": {"post": _op(
        "record the outcome of a registration or support case; the worker notifies the "
        "resident on their preferred channel, then the next ones",
        {**_ok("the conversation's outcomes", {"type": "array", "items": _OUTCOME},
               status="201"),
         "409": {"description": "not a registration or support case", **_json(_ref("Error"))}},
        params=[_ID],
        body={"type": "object", "required": ["kind"], "properties": {
            "kind": {"enum": ["approved", "rejected", "pickup", "more_info"]},
            "reason": {"type": ["string", "null"], "maxLength": 1000},
            "centre": {"type": ["string", "null"]}}})},
    "/api/v1/conversations/{id}/outcomes": {"get": _op(
        "the case's outcomes with each notification attempt and its delivery state",
        _ok("outcomes", {"type": "array", "items": _OUTCOME}), params=[_ID])},
    "/api/v1/dost-centres": {"get": _op(
        "the DOST centres a pickup outcome may name, with address and hours per language",
        _ok("centres", {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "address", "hours"], "properties": {
                "id": {"type": "string"}, "name": _TEXTS, "address": _TEXTS,
                "hours": _TEXTS}}}))},
    "/api/v1/tags": {"get": _op(
        "the tags and wrap-up codes of the deployment, labelled in az, ru and en, and the "
        "queues whose conversations are resolved only with a wrap-up code",
        _ok("tags", {"type": "object", "required": ["tags", "wrap_up_required"], "properties": {
            "tags": {"type": "array", "items": {
                "type": "object", "required": ["id", "label", "wrap_up"], "properties": {
                    "id": {"type": "string"}, "wrap_up": {"type": "boolean"},
                    "label": {"type": "object", "properties": {
                        "az": {"type": "string"}, "ru": {"type": "string"},
                        "en": {"type": "string"}}}}}},
            "wrap_up_required": {"type": "array", "items": {"type": "string"}}}}))},
    "/api/v1/canned": {"get": _op(
        "the canned responses the caller may use: global ones and those of the caller's "
        "queues (and of the conversation's); with conversation_id each text is filled for "
        "that conversation and `language` is the conversation's",
        _ok("responses", {"type": "object", "required": ["language", "responses"],
                          "properties": {
            "language": {"enum": ["az", "ru", "en"]}, "filled": {"type": "boolean"},
            "languages": {"type": "array", "items": {"type": "string"}},
            "variables": {"type": "array", "items": {"type": "string"}},
            "responses": {"type": "array", "items": {
                "type": "object", "required": ["id", "key", "queue", "title", "texts"],
                "properties": {"id": {"type": "string"}, "key": {"type": "string"},
                               "queue": {"type": ["string", "null"]},
                               "title": {"type": "string"}, "titles": _LANGUAGE_TEXTS,
                               "tags": {"type": "array", "items": {"type": "string"}},
                               "texts": _LANGUAGE_TEXTS}}}}}),
        params=[_query("conversation_id", "fill the texts for this conversation",
                       _ID_SCHEMA)])},
    "/api/v1/admin/canned": {
        "get": _op("admins: every canned response in force, the shipped defaults an admin "
                   "deleted, the variables and the queues", _ok("the responses",
                                                                {"type": "object"})),
        "post": _op("admins: a new canned response (201); its key is its address",
                    {**_ok("the response", _ref("CannedResponse"), status="201"),
                     "409": {"description": "the key is taken (canned_key_taken)"}},
                    body=_CANNED_BODY_NEW)},
    "/api/v1/admin/canned/{key}": {
        "put": _op("admins: replace a response's queue, titles and texts (a shipped default "
                   "so edited stays until reset)", _ok("the response", _ref("CannedResponse")),
                   params=[_KEY], body=_CANNED_BODY),
        "delete": _op("admins: delete a response (a shipped default stays deleted until "
                      "reset)", {"204": {"description": "deleted"}}, params=[_KEY])},
    "/api/v1/admin/canned/{key}/reset": {"post": _op(
        "admins: a shipped default back as shipped, whether edited or deleted",
        _ok("the response", _ref("CannedResponse")), params=[_KEY])},
    "/api/v1/conversations/{id}/merge": {"post": _op(
        "move another conversation of the same contact into this one", _CONVERSATION,
        params=[_ID], body={"type": "object", "required": ["conversation_id"],
                            "properties": {"conversation_id": _ID_SCHEMA}})},
    "/api/v1/conversations/{id}/split": {"post": _op(
        "move a message and every later one into a new conversation",
        _ok("the new conversation", _ref("Conversation"), status="201"), params=[_ID],
        body={"type": "object", "required": ["message_id"],
              "properties": {"message_id": _ID_SCHEMA}})},
    "/api/v1/agents": {"get": _op(
        "colleagues: names, roles, presence and queues",
        _ok("agents", {"type": "array", "items": {"type": "object"}}))},
    "/api/v1/messages/{id}/attachments/{index}": {"get": _op(
        "a stored attachment of a message the caller may see",
        {"200": {"description": "the file, in its own content type",
                 "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}},
        params=[_ID, {"name": "index", "in": "path", "required": True,
                      "schema": {"type": "integer", "minimum": 0}}])},
    "/api/v1/messages/{id}/attachments/{index}/preview": {"get": _op(
        "a PDF attachment's first page drawn as a PNG (800 pixels wide), for a caller who "
        "may see the message; 422 no_preview for any other file or a PDF that cannot be drawn",
        {"200": {"description": "the page, as a picture",
                 "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
        params=[_ID, {"name": "index", "in": "path", "required": True,
                      "schema": {"type": "integer", "minimum": 0}}])},
    "/api/v1/conversations/{id}/uploads": {"post": _raw_body(_op(
        "one file for the caller's next reply or note in this conversation: the raw bytes, "
        "the name percent-encoded in X-Filename; its kind is read from its content. 400 "
        "upload_empty, 413 upload_too_large, 415 upload_type_not_allowed, 422 when the "
        "channel cannot carry it to this resident (files_not_to_this_number, "
        "file_type_not_carried, file_too_large_for_channel, channel_carries_no_files); "
        "`?for=note` skips the channel's check",
        _ok("the held upload; its id goes in the message's attachments", {
            "type": "object", "properties": {
                "upload": {"type": "string"}, "content_type": {"type": "string"},
                "filename": {"type": "string"}, "size": {"type": "integer"}}},
            status="201"),
        params=[_ID, {"name": "for", "in": "query", "required": False,
                      "schema": {"type": "string", "enum": ["note"]}}]))},
    "/api/v1/messages/{id}/raw": {"get": _op(
        "a received e-mail exactly as it came (the bytes the poll kept), to callers who may "
        "see its conversation; a download of type message/rfc822. 404 for any other message",
        {"200": {"description": "the mail",
                 "content": {"message/rfc822": {"schema": {"type": "string",
                                                           "format": "binary"}}}}},
        params=[_ID])},
    "/api/v1/templates": {"get": _op(
        "approved templates a channel accepts outside its free-text window",
        _ok("templates", {"type": "array", "items": {"type": "object"}}))},
    "/api/v1/channels": {"get": _op(
        "the registered channels and what the console needs of each: its label, its kind of "
        "work, whether it has approved templates, whether an address is a phone number, "
        "whether the resident's words were heard (a call) rather than written, whether its "
        "replies are mail with a subject",
        _ok("channels", {"type": "array", "items": {
            "type": "object",
            "required": ["name", "label", "capacity_kind", "templates", "phone_address",
                         "heard", "subject"],
            "properties": {
                "name": {"type": "string"}, "label": {"type": "string"},
                "capacity_kind": {"enum": list(CAPACITY_KINDS)},
                "templates": {"type": "boolean"}, "phone_address": {"type": "boolean"},
                "heard": {"type": "boolean"}, "subject": {"type": "boolean"}}}}))},
    "/api/v1/queue/next": {"post": _op(
        "assign the caller the next waiting conversation it may take",
        {**_CONVERSATION, "204": {"description": "nothing waiting"}})},
    "/api/v1/queues": {"get": _op("the caller's queues",
                                  _ok("queues", {"type": "array", "items": _ref("Queue")}))},
    "/api/v1/contacts/{id}": {
        "get": _op("a contact, its identities, conversations and possible matches",
                   _ok("the contact", _ref("Contact")), params=[_ID]),
        "patch": _op("set the contact's name, language or preferred channel (an event on "
                     "each of its conversations names the agent)",
                     _ok("the contact", _ref("Contact")),
                     params=[_ID],
                     body={"type": "object", "minProperties": 1,
                           "additionalProperties": False, "properties": {
                               "name": {"type": "string", "minLength": 1, "maxLength": 200},
                               "language": {"enum": ["az", "ru", "en"]},
                               "preferred_channel": {"type": ["string", "null"]}}})},
    "/api/v1/contacts/{id}/timeline": {"get": _op(
        "the resident's messages across every channel and conversation the caller may see, "
        "oldest first within a page, pages from the newest",
        _ok("a page", {"type": "object", "required": ["items", "next_before"], "properties": {
            "items": {"type": "array", "items": {"allOf": [_ref("Message"), {
                "type": "object", "properties": {"channel": {"type": "string"}}}]}},
            "next_before": {"type": ["integer", "null"]}}}),
        params=[_ID, _query("before", "a message id: the page before it",
                            {"type": "integer", "minimum": 1}),
                _query("limit", "1 to 200, default 50", {"type": "integer", "minimum": 1,
                                                         "maximum": 200})])},
    "/api/v1/contacts/{id}/matches/{match_id}/confirm": {"post": _op(
        "confirm a possible match: the later of the two contacts joins the earlier one "
        "(the answer); the contacts_merged events name the agent",
        {**_ok("the joined contact", _ref("Contact")),
         "409": {"description": "the match was already decided"}},
        params=[_ID, _MATCH_ID])},
    "/api/v1/contacts/{id}/matches/{match_id}/dismiss": {"post": _op(
        "dismiss a possible match: two residents; it is not raised again",
        {**_ok("the contact", _ref("Contact")),
         "409": {"description": "the match was already decided"}},
        params=[_ID, _MATCH_ID])},
    "/api/v1/contacts/{id}/merge": {"post": _op(
        "another contact is the same resident: join it into this one",
        _ok("the contact", _ref("Contact")), params=[_ID],
        body={"type": "object", "required": ["contact_id"],
              "properties": {"contact_id": _ID_SCHEMA}})},
    "/api/v1/contacts/{id}/export": {"get": _op(
        "admins: a copy of what the centre holds about the resident (a JSON attachment, or "
        "with format=html a page to print for them in their language); internal notes "
        "stay out",
        {"200": {"description": "the resident's document", "content": {
            "application/json": {"schema": {"type": "object", "required": [
                "exported_at", "contact", "typed_identifiers", "conversations"], "properties": {
                    "exported_at": _TIME, "contact": {"type": "object"},
                    "typed_identifiers": {"type": "array", "items": {"type": "object"}},
                    "conversations": {"type": "array", "items": {"type": "object"}}}}},
            "text/html": {"schema": {"type": "string"}}}},
         "400": {"description": "format_invalid or unknown_language", **_json(_ref("Error"))},
         "403": {"description": "not an admin"},
         "409": {"description": "merged into another contact"}},
        params=[_ID, _query("format", "json (the default) or html", {"enum": ["json", "html"]}),
                _query("language", "the printed copy's language (html only); by default "
                       "the resident's", {"enum": ["az", "ru", "en"]})])},
    "/api/v1/contacts/{id}/erase": {"post": _op(
        "admins: erase the resident's personal data (every conversation of theirs resolved); "
        "what the reports count stays",
        {**_ok("the contact as left, and what was erased", {"allOf": [_ref("Contact"), {
            "type": "object", "properties": {"erasure": {"type": "object", "properties": {
                "conversations": {"type": "integer"}, "messages": {"type": "integer"},
                "files": {"type": "integer"}, "at_providers": {"type": "integer"},
                "dead_letters": {"type": "integer"}}}}}]}),
         "403": {"description": "not an admin"},
         "409": {"description": "a conversation not resolved, already erased, or merged"}},
        params=[_ID],
        body={"type": "object", "required": ["reason"], "additionalProperties": False,
              "properties": {"reason": {"enum": ["resident_request", "legal_order"]},
                             "reference": {"type": "string", "maxLength": 100}}})},
    "/api/v1/stream": {"get": _op(
        "server-sent events: conversation.created, conversation.updated, message.created, "
        "message.updated, queue.updated, agent.updated, sla.updated",
        _ok("text/event-stream"))},
    "/api/v1/reports/summary": {"get": _op(
        "response and resolution figures per channel, queue, agent, category or tag (a "
        "conversation counts under each of its tags, untagged ones under null)",
        _rows(_ref("SummaryRow")),
        params=[*_INTERVAL, _query("group_by", "channel (default), queue, agent, category or tag",
                                   {"enum": [*_GROUPS, "tag"]})])},
    "/api/v1/reports/csat": {"get": _op(
        "satisfaction survey answers per queue, agent, channel, category or tag",
        _rows({"type": "object", "required": ["key", "surveys", "answered", "response_rate",
                                              "average", "csat"], "properties": {
            "key": {}, "surveys": {"type": "integer"}, "answered": {"type": "integer"},
            "response_rate": {"type": "number"}, "average": {"type": ["number", "null"]},
            "csat": {"type": ["number", "null"]}}}),
        params=[*_INTERVAL, _query("group_by", "queue (default), agent, channel, category or "
                                   "tag", {"enum": ["queue", "agent", "channel", "category",
                                                    "tag"]})])},
    "/api/v1/reports/presence": {"get": _op(
        "agents' time in each presence state, away time per reason, within the range",
        _rows({"type": "object", "required": ["agent_id", "agent", "presence", "reason",
                                              "seconds"], "properties": {
            "agent_id": _ID_SCHEMA, "agent": {"type": ["string", "null"]},
            "presence": {"enum": ["online", "away", "offline"]},
            "reason": {"type": ["string", "null"]}, "seconds": {"type": "integer"}}}),
        params=[*_INTERVAL])},
    "/api/v1/reports/volumes": {"get": _op(
        "conversations per day, week or month",
        _rows({"type": "object"}),
        params=[*_INTERVAL, _query("period", "day (default), week or month",
                                   {"enum": ["day", "week", "month"]}),
                _query("group_by", "channel, queue, agent or category (default: none)",
                       {"enum": _GROUPS})])},
    "/api/v1/reports/totals": {"get": _op(
        "the figures a ministry publishes", _ok("totals", {"type": "object"}),
        params=_INTERVAL[:2])},
    "/api/v1/wallboard": {"get": _op(
        "queues and agents now, and today's figures", _ok("the board", {"type": "object"}))},
    "/api/v1/mail/dead-letters": {"get": _op(
        "admins: the mails the mailboxes' polls could not take in, newest first (200 at "
        "most); `app.py email replay ID` takes one in again",
        _ok("dead letters", {"type": "array", "items": {
            "type": "object",
            "required": ["id", "mailbox", "folder", "uid", "attempts", "error", "created_at"],
            "properties": {"id": _ID_SCHEMA, "mailbox": {"type": "string"},
                           "folder": {"type": "string"}, "uid": {"type": "integer"},
                           "attempts": {"type": "integer"}, "error": {"type": "string"},
                           "created_at": {"type": "string", "format": "date-time"}}}}))},
    "/api/v1/admin/users": {
        "get": _op("admins: every account, deactivated ones too",
                   _ok("the accounts", {"type": "array", "items": _ref("AdminUser")})),
        "post": _op("admins: a new account, checked as `app.py user add` checks one (409 "
                    "when the e-mail address has one); audited",
                    {**_ok("the account", _ref("AdminUser"), "201"), **_CONFLICT},
                    body=_ACCOUNT_BODY)},
    "/api/v1/admin/users/{id}": {"patch": _op(
        "admins: change any of name, role, queues, languages, capacity, voice_address; "
        "an admin cannot take their own admin role (409); audited with old and new values",
        {**_ok("the account", _ref("AdminUser")), **_CONFLICT},
        body=_ACCOUNT_EDIT_BODY, params=[_ID])},
    "/api/v1/admin/users/{id}/deactivate": {"post": _op(
        "admins: end the account's access and sessions; its conversations return to their "
        "queues; not one's own (409); audited",
        {**_ok("the account", _ref("AdminUser")), **_CONFLICT}, params=[_ID])},
    "/api/v1/admin/users/{id}/reactivate": {"post": _op(
        "admins: restore the account's access; audited",
        _ok("the account", _ref("AdminUser")), params=[_ID])},
    "/api/v1/admin/users/{id}/password": {"post": _op(
        "admins: a new password for the account; every session it had ends; audited "
        "(never the password)",
        _ok("how many sessions ended", {"type": "object", "required": ["sessions_ended"],
                                        "properties": {"sessions_ended": {"type": "integer"}}}),
        body={"type": "object", "required": ["password"],
              "properties": {"password": {"type": "string", "minLength": 8}}},
        params=[_ID])},
    "/api/v1/admin/audit": {"get": _op(
        "admins: the audit trail of admin changes, newest first, in pages",
        _ok("a page", _ref("AuditPage")),
        params=[_query("limit", "1 to 200, default 50",
                       {"type": "integer", "minimum": 1, "maximum": 200}),
                _query("before", "the previous page's next_before", _ID_SCHEMA),
                _query("target_kind", "only changes of this kind of thing (user, ...)"),
                _query("target_id", "only changes of this thing")])},
    "/api/v1/admin/config": {"get": _op(
        "admins: the deployment's queues, routing rules, business hours and public holidays "
        "(read-only; no secret)", _ok("the configuration", {
            "type": "object",
            "required": ["timezone", "queues", "routing", "business_hours", "public_holidays"],
        }))},
    "/api/v1/openapi.json": {"get": _op("this document", _ok("OpenAPI 3.1"), public=True)},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Contact centre API", "version": "1",
             "description": "The unified inbox of the State Migration Service and the DOST "
                            "centres. Provider webhooks and the web-chat WebSocket are "
                            "described in the repository's docs/webhooks.md and "
                            "docs/websocket.md."},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "cc_session",
                        "description": "state-changing calls also need X-CSRF-Token"},
        },
    },
    "security": [{"bearer": []}, {"session": []}],
}


@routes.get("/api/v1/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
