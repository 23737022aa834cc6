"""Twilio Messaging: SMS and WhatsApp, both directions, and their delivery status callbacks.

One Twilio webhook (`POST /webhooks/twilio/messaging`) carries both channels: a `From` of
`whatsapp:+994…` is WhatsApp, anything else SMS. The route verifies the signature, `parse`
(a pure function over the form) builds the `InboundMessage`, the intake journal commits it,
and only then does Twilio get its empty TwiML; the inbox ingests it right after. Outbound
messages go through the twilio library's async client; `POST /webhooks/twilio/status` moves
their delivery state forward.

A long text goes out in parts, one `messages.create` each, and each part's sid is recorded
the moment Twilio accepts it. Twilio's Messages API takes no idempotency key, so a send that
may already have reached Twilio (a worker killed while Twilio held the request, a timeout)
first asks Twilio's message list what it holds for the resident since the send began, takes
the parts it finds there as sent (`reconcile`), and sends only the rest.

Both channels store the resident's address as the bare E.164 number ("+994501234567"), so
the same phone is the same address on either; the `whatsapp:` prefix is Twilio's addressing
and is added back when sending.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from aiohttp import web

from channels.base import (
    PermanentSendError,
    RateLimited,
    SendResult,
    TransientSendError,
    as_text,
    problem_at,
)
from channels.media_store import refuse_unfit, with_signed_links
from channels.sending import SendRate, redis_batch
from channels.twilio.common import (
    SIGNATURE_HEADER,
    auth_token,
    classify_exception,
    credentials,
    decode_form,
    delete_records,
    error_reason,
    fetch_media,
    rest_client,
    signature_valid,
    webhook_url,
)
from channels.twilio.templates import WhatsAppTemplates
from inbox import media_links
from inbox.channel_traits import ChannelTraits, FileCarriage
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.jobs import FORGET_INTERVAL_S, FORGET_JOB
from inbox.messages import Attachment, InboundMessage, OutboundMessage
from inbox.port import ChannelPort
from settings import Config, Problem
from web.appkeys import CONTEXT, INTAKE

log = logging.getLogger(__name__)

MESSAGING_PATH = "/webhooks/twilio/messaging"
STATUS_PATH = "/webhooks/twilio/status"
WHATSAPP_PREFIX = "whatsapp:"
DEFAULT_REGION = "AZ"
SMS_MAX_CHARS = 1600          # Twilio refuses longer SMS bodies (21617)
WHATSAPP_MAX_CHARS = 4096     # WhatsApp's limit for a text message
MAX_MEDIA = 10                # Twilio forwards at most ten media items per message
MAX_SID_CHARS = 64
MAX_PROFILE_NAME = 200
# A status callback may beat the send job to recording the message's sid; it waits this
# long in Redis for the job to pick it up.
EARLY_STATUS_TTL_S = 600
EARLY_STATUS_KEY = "cc:twilio:early-status:{sid}"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Our clock and Twilio's may disagree by this much when a reconciliation compares times.
RECONCILE_CLOCK_SKEW = timedelta(seconds=60)
# Twilio's messages to one resident from our sender since a send began: a handful.
RECONCILE_LIMIT = 200
RECONCILE_PAGE_SIZE = 50
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Requests a second to Twilio's REST API from all workers together, unless
# `channels.twilio.send_rate` says otherwise. Twilio itself queues what one sender number
# may not pass at once (its messages-per-second); this ceiling keeps a storm of
# acknowledgements from running into the account's API limits, and its 429s are honoured
# all the same.
DEFAULT_SEND_RATE = 500


class PayloadError(ValueError):
    """A webhook form that is not a Twilio message we can take in; answered with 400."""


# --- inbound: pure parsing ----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def normalise_phone(raw: str) -> str:
    """The E.164 form of a phone number ("+994501234567"), reading national numbers as
    Azerbaijani; PayloadError when it is not a valid number. Cached: residents write again,
    and parsing a number is a tenth of a webhook's work."""
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise PayloadError("From is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise PayloadError("From is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def split_address(twilio_address: str) -> tuple[str, str]:
    """(channel, E.164 phone) of a Twilio address: `whatsapp:+994…` or a plain number."""
    if twilio_address.startswith(WHATSAPP_PREFIX):
        return "whatsapp", normalise_phone(twilio_address[len(WHATSAPP_PREFIX):])
    return "sms", normalise_phone(twilio_address)


def _required(form: Mapping[str, str], key: str) -> str:
    value = (form.get(key) or "").strip()
    if not value:
        raise PayloadError(f"{key} is missing")
    return value


def _media_count(form: Mapping[str, str]) -> int:
    raw = (form.get("NumMedia") or "0").strip()
    if not raw.isdecimal() or int(raw) > MAX_MEDIA:
        raise PayloadError(f"NumMedia must be a whole number from 0 to {MAX_MEDIA}")
    return int(raw)


def parse_attachments(form: Mapping[str, str]) -> tuple[Attachment, ...]:
    """The media Twilio announces (MediaUrlN, MediaContentTypeN for N < NumMedia). The URL is
    Twilio's; fetching the bytes (with the account's credentials) is a later job's work."""
    attachments = []
    for index in range(_media_count(form)):
        url = _required(form, f"MediaUrl{index}")
        content_type = (form.get(f"MediaContentType{index}") or "").strip()
        attachments.append(Attachment(content_type=content_type or "application/octet-stream",
                                      url=url))
    return tuple(attachments)


def parse(form: Mapping[str, str], received_at: datetime, raw_size: int = 0) -> InboundMessage:
    """The normalized message of a Twilio Messaging webhook form; PayloadError if malformed."""
    sid = _required(form, "MessageSid")
    if len(sid) > MAX_SID_CHARS or not sid.isalnum():
        raise PayloadError("MessageSid is not a Twilio message sid")
    channel, phone = split_address(_required(form, "From"))
    profile_name = (form.get("ProfileName") or "").strip()[:MAX_PROFILE_NAME]
    return InboundMessage(
        channel=channel, external_id=sid, address=phone, text=(form.get("Body") or "").strip(),
        received_at=received_at, display_name=profile_name or None, phone=phone,
        attachments=parse_attachments(form), raw_size=raw_size)


@dataclass(frozen=True)
class StatusReport:
    """One status callback: which send, what Twilio says now, and its error code if any."""

    message_sid: str
    twilio_status: str
    delivery_status: str | None      # ours (sent, delivered, read, failed), None: nothing to do
    error_code: str | None = None
    channels: tuple[str, ...] = ("sms", "whatsapp")   # where to look the sid up, likeliest first

    @property
    def error(self) -> str:
        """What goes to the message's delivery_error: "ErrorCode: reason"."""
        reason = error_reason(self.error_code, f"Twilio reported the message {self.twilio_status}")
        return f"{self.error_code}: {reason}" if self.error_code else reason


# Twilio's MessageStatus values and the delivery state each means here. The ones before
# "sent" change nothing: the send job has already recorded the message as sending.
TWILIO_STATUSES: dict[str, str | None] = {
    "accepted": None, "scheduled": None, "queued": None, "sending": None,
    "sent": "sent", "delivered": "delivered", "read": "read",
    "failed": "failed", "undelivered": "failed", "canceled": "failed",
    "receiving": None, "received": None, "partially_delivered": None,
}


def parse_status(form: Mapping[str, str]) -> StatusReport:
    sid = _required(form, "MessageSid")
    status = _required(form, "MessageStatus").lower()
    if status not in TWILIO_STATUSES:
        raise PayloadError(f"MessageStatus {status!r} is not one Twilio sends")
    whatsapp = any((form.get(k) or "").startswith(WHATSAPP_PREFIX) for k in ("To", "From"))
    return StatusReport(
        message_sid=sid, twilio_status=status, delivery_status=TWILIO_STATUSES[status],
        error_code=(form.get("ErrorCode") or "").strip() or None,
        channels=("whatsapp", "sms") if whatsapp else ("sms", "whatsapp"))


# --- outbound: pure decisions -------------------------------------------------------------


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at the last whitespace that fits
    (a single word longer than the limit is cut hard). Never returns an empty list."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def whatsapp_window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether free text may still go to a WhatsApp resident."""
    return WHATSAPP_TRAITS.free_text_allowed(last_inbound_at, now)


@dataclass(frozen=True)
class WhatsAppTemplate:
    content_sid: str                 # Twilio Content API sid (HX…) of the approved template
    variables: tuple[str, ...] = ()  # names of the placeholders {{1}}, {{2}}, … in order


@dataclass(frozen=True)
class MessagingSettings:
    sms_from: str | None = None
    whatsapp_from: str | None = None
    messaging_service_sid: str | None = None
    whatsapp_templates: dict[str, WhatsAppTemplate] = field(default_factory=dict)
    send_rate: int = DEFAULT_SEND_RATE


def messaging_settings(raw: Mapping[str, Any] | None) -> MessagingSettings:
    """The messaging part of config `channels.twilio` (a free-form mapping in settings);
    ValueError naming the key when it is unusable."""
    if not raw:
        raise ValueError("channels.twilio is not configured")
    templates: dict[str, WhatsAppTemplate] = {}
    for name, spec in (raw.get("whatsapp_templates") or {}).items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("content_sid"), str):
            raise ValueError(f"channels.twilio.whatsapp_templates.{name}: needs content_sid")
        variables = spec.get("variables") or []
        if not all(isinstance(v, str) for v in variables):
            raise ValueError(f"channels.twilio.whatsapp_templates.{name}.variables: "
                             "expected a list of names")
        templates[str(name)] = WhatsAppTemplate(spec["content_sid"], tuple(variables))
    whatsapp_from = raw.get("whatsapp_from") or None
    if whatsapp_from and not whatsapp_from.startswith(WHATSAPP_PREFIX):
        whatsapp_from = WHATSAPP_PREFIX + whatsapp_from
    send_rate = raw.get("send_rate", DEFAULT_SEND_RATE)
    if isinstance(send_rate, bool) or not isinstance(send_rate, int) or send_rate < 1:
        raise ValueError("channels.twilio.send_rate: expected a whole number of requests a "
                         "second, at least 1")
    return MessagingSettings(sms_from=raw.get("sms_from") or None, whatsapp_from=whatsapp_from,
                             messaging_service_sid=raw.get("messaging_service_sid") or None,
                             whatsapp_templates=templates, send_rate=send_rate)


def create_requests(settings: MessagingSettings, message: OutboundMessage,
                    status_callback: str) -> list[dict[str, Any]]:
    """The keyword arguments of each `messages.create` call that sends `message`: one per
    part of a long text, or one template send."""
    whatsapp = message.channel == "whatsapp"
    to = WHATSAPP_PREFIX + message.address if whatsapp else message.address
    if settings.messaging_service_sid:
        sender: dict[str, str] = {"messaging_service_sid": settings.messaging_service_sid}
    else:
        from_ = settings.whatsapp_from if whatsapp else settings.sms_from
        if not from_:
            raise ValueError(f"channels.twilio.{'whatsapp_from' if whatsapp else 'sms_from'} "
                             "is not configured")
        sender = {"from_": from_}
    common = {"to": to, "status_callback": status_callback, **sender}
    if whatsapp and message.extra.get("content_sid"):
        return [{**common, "content_sid": message.extra["content_sid"],
                 "content_variables": message.extra.get("content_variables") or "{}"}]
    limit = WHATSAPP_MAX_CHARS if whatsapp else SMS_MAX_CHARS
    media = [a.url for a in message.attachments if a.url]
    requests = [{**common, "body": part} for part in split_text(message.body, limit)]
    if media:
        requests[0]["media_url"] = media
    return requests


# --- reconciliation: which parts Twilio already holds (pure) -------------------------------


@dataclass(frozen=True)
class ListedMessage:
    """One message of Twilio's message list, as reconciliation reads it."""

    sid: str
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    direction: str | None
    date_created: datetime | None
    status: str | None = None
    error_code: str | None = None

    @classmethod
    def of(cls, instance: Any) -> ListedMessage:
        """From the twilio library's MessageInstance."""
        code = instance.error_code
        return cls(sid=instance.sid, to=instance.to, from_=instance.from_,
                   messaging_service_sid=instance.messaging_service_sid, body=instance.body,
                   direction=str(instance.direction) if instance.direction else None,
                   date_created=instance.date_created,
                   status=str(instance.status) if instance.status else None,
                   error_code=str(code) if code not in (None, 0) else None)


@dataclass(frozen=True)
class Reconciliation:
    found: tuple[ListedMessage, ...]   # Twilio's copy of each pending part it holds, in order
    # Why Twilio's list cannot tell which of its messages are ours; then nothing may be sent
    # again, or the resident could get the text twice.
    doubt: str | None = None


def is_copy(listed: ListedMessage, request: Mapping[str, Any], since: datetime) -> bool:
    """Whether Twilio's `listed` message is what `request` (a `messages.create` call's
    arguments) would have created at or after `since`: the same recipient, the same sender
    and, for text, the same body. A template's text is rendered by Twilio, so a template
    send is matched on recipient, sender and time alone."""
    if not (listed.direction or "").startswith("outbound") or listed.to != request["to"]:
        return False
    if "from_" in request:
        if listed.from_ != request["from_"]:
            return False
    elif listed.messaging_service_sid != request.get("messaging_service_sid"):
        return False
    if listed.date_created is not None and listed.date_created < since - RECONCILE_CLOCK_SKEW:
        return False
    return "body" not in request or listed.body == request["body"]


def reconcile(pending: Sequence[Mapping[str, Any]], listed: Sequence[ListedMessage],
              since: datetime, taken: set[str]) -> Reconciliation:
    """Which of the `pending` parts (in sending order) Twilio already holds among `listed`,
    its messages since the send began; `taken` are sids other messages of ours account for.

    Parts are sent one after another, so Twilio holds a prefix of them: each part is found
    by exactly one unaccounted copy, and the first part without one is where sending resumes.
    Two candidates for one part, or a later part found after an earlier one is missing (a
    part Twilio still queues has no date sent, so the list may not show it yet), is doubt.
    """
    used = set(taken)
    found: list[ListedMessage] = []
    for number, request in enumerate(pending, start=1):
        candidates = [m for m in listed if m.sid not in used and is_copy(m, request, since)]
        if len(candidates) > 1:
            return Reconciliation(tuple(found), doubt=(
                f"Twilio holds {len(candidates)} identical messages to the resident sent since "
                f"this one was queued, so it cannot tell whether part {number} went out"))
        if not candidates:
            later = [m for r in pending[number:] for m in listed
                     if m.sid not in used and is_copy(m, r, since)]
            if later:
                return Reconciliation(tuple(found), doubt=(
                    f"Twilio shows a later part of this message but not part {number}"))
            break
        found.append(candidates[0])
        used.add(candidates[0].sid)
    return Reconciliation(tuple(found))


# --- status callbacks: state in the database ----------------------------------------------


async def apply_status(ctx: InboxContext, report: StatusReport) -> bool:
    """Record a status callback on its outbound message; False when no message has the sid."""
    return await ChannelPort(ctx).apply_delivery_report(
        report.channels, report.message_sid, report.delivery_status, report.error)


def _early_key(sid: str) -> str:
    return EARLY_STATUS_KEY.format(sid=sid)


async def _keep_early(ctx: InboxContext, report: StatusReport) -> None:
    key = _early_key(report.message_sid)
    data = json.dumps([report.twilio_status, report.error_code])
    async with ctx.redis.pipeline(transaction=True) as pipe:
        await pipe.rpush(key, data).expire(key, EARLY_STATUS_TTL_S).execute()


async def _take_early(ctx: InboxContext, sid: str, channels: tuple[str, ...]) -> list[StatusReport]:
    key = _early_key(sid)
    # Atomic, and asked together with the other sends recorded at the same moment.
    items, _ = await redis_batch(ctx.redis).run(lambda pipe: pipe.lrange(key, 0, -1).delete(key),
                                                2)
    reports = []
    for item in items:
        status, code = json.loads(item)
        reports.append(StatusReport(sid, status, TWILIO_STATUSES.get(status), code, channels))
    return reports


# --- routes -------------------------------------------------------------------------------


def _json_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def verified_form(request: web.Request) -> Mapping[str, str]:
    """The webhook's form once its signature checks out; raises the HTTP error otherwise."""
    token = auth_token()
    if token is None:
        # Misconfiguration: refuse rather than accept anything unsigned.
        raise _json_error(web.HTTPServiceUnavailable,
                          "Twilio webhooks are not configured: TWILIO_AUTH_TOKEN is not set")
    if request.content_type != FORM_CONTENT_TYPE:
        raise _json_error(web.HTTPBadRequest, f"expected a {FORM_CONTENT_TYPE} body")
    body = await request.read()   # over client_max_size: 413 before anything is read into it
    try:
        form = decode_form(body)
    except ValueError as exc:
        raise _json_error(web.HTTPBadRequest, str(exc)) from None
    url = webhook_url(request.app[CONTEXT].config.public_url, request.path_qs)
    if not signature_valid(token, url, form, request.headers.get(SIGNATURE_HEADER)):
        log.warning("rejected a Twilio webhook on %s: bad or missing signature", request.path)
        raise _json_error(web.HTTPForbidden, f"invalid or missing {SIGNATURE_HEADER}")
    return form   # url-encoded, so every value is a str


async def messaging_webhook(request: web.Request) -> web.Response:
    form = await verified_form(request)
    try:
        message = parse(form, utcnow(), raw_size=request.content_length or 0)
    except PayloadError as exc:
        raise _json_error(web.HTTPBadRequest, str(exc)) from None
    # Answered once journalled; the inbox takes it in right after (inbox.intake). The
    # resident's acknowledgement is an outbox message sent by the delivery job, not TwiML.
    await request.app[INTAKE].accept(message)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def status_webhook(request: web.Request) -> web.Response:
    form = await verified_form(request)
    try:
        report = parse_status(form)
    except PayloadError as exc:
        raise _json_error(web.HTTPBadRequest, str(exc)) from None
    if report.delivery_status is None:
        return web.Response(status=200)
    ctx = request.app[CONTEXT]
    if not await apply_status(ctx, report):
        # Either the send job has not recorded the sid yet, or it is not ours. Keep the
        # report for the job; look once more in case it recorded the sid meanwhile.
        await _keep_early(ctx, report)
        if await apply_status(ctx, report):
            await _take_early(ctx, report.message_sid, report.channels)
        else:
            log.info("status %s for message %s not matched yet; kept %ss for its send job",
                     report.twilio_status, report.message_sid, EARLY_STATUS_TTL_S)
    return web.Response(status=200)


# --- the channels -------------------------------------------------------------------------


# Files go by MMS, which Twilio offers only to numbers in the United States and Canada (an
# SMS to any other number carries text alone); Twilio's MMS limit is 5 MB, and the types it
# passes on as they are: images and PDF.
MMS = FileCarriage(types=("image/jpeg", "image/png", "image/gif", "application/pdf"),
                   max_bytes=5 * 1024 * 1024, phone_prefixes=("+1",))
# WhatsApp through Twilio: images, audio, MP4 video and PDF documents, 16 MB at most.
WHATSAPP_FILES = FileCarriage(types=("image/jpeg", "image/png", "audio/*", "video/mp4",
                                     "application/pdf"), max_bytes=16 * 1024 * 1024)
SMS_TRAITS = ChannelTraits(name="sms", label="SMS", phone_address=True, vouches_phone=True,
                           files=MMS, dialogue=True, kept_by_provider=True)
# WhatsApp allows a business free-form messages only within 24 hours of the resident's last
# message; after that only an approved template (`channels.twilio.templates`).
WHATSAPP_TRAITS = ChannelTraits(name="whatsapp", label="WhatsApp", phone_address=True,
                                vouches_phone=True, dialogue=True, kept_by_provider=True,
                                free_text_window=timedelta(hours=24),
                                templates=WhatsAppTemplates(), files=WHATSAPP_FILES)


class TwilioMessagingChannel:
    """SMS or WhatsApp through Twilio Messaging. Both instances share the two webhooks."""

    def __init__(self, traits: ChannelTraits):
        self.traits = traits
        self.name = traits.name

    def check_config(self, config: Config) -> list[Problem]:
        """The messaging part of `channels.twilio` (shared by SMS and WhatsApp)."""
        if not config.channels.section("twilio"):
            return []
        try:
            messaging_settings(config.channels.section("twilio"))
        except ValueError as exc:
            return [problem_at(config, str(exc))]
        return []

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        # Twilio keeps every message until it is deleted: an erased resident's are deleted
        # there, and a deletion that failed is tried again on this round.
        if not config.channels.section("twilio"):
            return {}
        return {FORGET_JOB: FORGET_INTERVAL_S}

    async def forget(self, ctx: InboxContext, records: Mapping[str, str | None]
                     ) -> dict[str, str | None]:
        """Delete these messages at Twilio, with their files (`delete_records`)."""
        return await delete_records(list(records), lambda client, sid: client.messages(sid))

    def setup_routes(self, app: web.Application) -> None:
        if "twilio-messaging" in app.router.named_resources():
            return   # the other messaging channel already added the shared webhooks
        app.router.add_post(MESSAGING_PATH, messaging_webhook, name="twilio-messaging")
        app.router.add_post(STATUS_PATH, status_webhook, name="twilio-status")

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        return await fetch_media(url, max_bytes)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        message = as_text(message)   # neither SMS nor WhatsApp here sends choices or buttons
        refuse_unfit(self.traits, message)
        # Twilio fetches each file from us: a signed link, no session needed, soon expired.
        message = with_signed_links(message, ctx.config.public_url, media_links.PROVIDER_TTL_S)
        creds = credentials()
        if creds is None:
            # Worth retrying: an operator can set the variables while the job backs off.
            raise TransientSendError("Twilio is not configured: TWILIO_ACCOUNT_SID and "
                                     "TWILIO_AUTH_TOKEN must be set")
        try:
            settings = messaging_settings(ctx.config.channels.section("twilio"))
            requests = create_requests(settings, message,
                                       webhook_url(ctx.config.public_url, STATUS_PATH))
        except ValueError as exc:
            raise PermanentSendError(str(exc)) from None
        # SMS and WhatsApp go through one account: one budget.
        rate = SendRate("twilio", settings.send_rate)
        urgent = message.author_kind == "agent"
        accepted = list(message.accepted_parts)
        try:
            async with rest_client(creds) as client:
                if message.maybe_sent_since is not None and len(accepted) < len(requests):
                    await rate.slot(ctx.redis, urgent=urgent)
                    await self._reconcile(ctx, client, message, requests, accepted)
                await self._create_parts(ctx, client, rate, urgent, message, requests, accepted)
        except RateLimited as exc:
            if exc.by_provider:   # every worker holds back, not only this send
                await rate.pause(ctx.redis, exc.retry_after_s)
            raise
        return SendResult(external_id=accepted[0])

    async def _create_parts(self, ctx: InboxContext, client: Any, rate: SendRate, urgent: bool,
                            message: OutboundMessage, requests: list[dict[str, Any]],
                            accepted: list[str]) -> None:
        """Send the parts not yet accepted, one after another, each within the rate."""
        for part in range(len(accepted), len(requests)):
            await rate.slot(ctx.redis, urgent=urgent)
            try:
                created = await client.messages.create_async(**requests[part])
            except Exception as exc:
                error = classify_exception(exc)
                if error is None:
                    raise
                if accepted and isinstance(error, PermanentSendError):
                    raise PermanentSendError(f"only {part} of {len(requests)} parts were "
                                             f"sent: {error}", error.code) from exc
                # A retry resumes at this part: the earlier ones are recorded.
                raise error from exc
            await self._record_part(ctx, message, part, created.sid)
            accepted.append(created.sid)

    async def _reconcile(self, ctx: InboxContext, client: Any, message: OutboundMessage,
                         requests: list[dict[str, Any]], accepted: list[str]) -> None:
        """Take the parts an earlier attempt got Twilio to accept as sent (appending their
        sids to `accepted`), from Twilio's list of messages to the resident since the send
        began. Raises when Twilio cannot be asked (try again later: sending blind could
        repeat the message) or cannot tell (PermanentSendError: an agent decides)."""
        pending = requests[len(accepted):]
        since = message.maybe_sent_since
        sender = {"from_": pending[0]["from_"]} if "from_" in pending[0] else {}
        try:
            listed = [ListedMessage.of(m) for m in await client.messages.list_async(
                to=pending[0]["to"], date_sent_after=since - RECONCILE_CLOCK_SKEW,
                limit=RECONCILE_LIMIT, page_size=RECONCILE_PAGE_SIZE, **sender)]
        except Exception as exc:
            error = classify_exception(exc)
            if error is None:
                raise
            raise error from exc
        taken = await ChannelPort(ctx).parts_of_other_messages(message, [m.sid for m in listed])
        result = reconcile(pending, listed, since, taken)
        for copy in result.found:
            await self._record_part(ctx, message, len(accepted), copy.sid, copy)
            accepted.append(copy.sid)
        if result.found:
            log.info("message %s: Twilio already held %d of its parts; not sent again",
                     message.message_id, len(result.found))
        if result.doubt:
            log.warning("message %s: not sent again, Twilio's list is ambiguous",
                        message.message_id)
            raise PermanentSendError(f"not sent again: {result.doubt}. It may have reached the "
                                     "resident already; check with them before sending it again")

    async def _record_part(self, ctx: InboxContext, message: OutboundMessage, part: int,
                           sid: str, listed: ListedMessage | None = None) -> None:
        """Store the part's sid at once, so a later attempt resumes after it and status
        callbacks find the message (by its first part); then apply the first part's status
        if it came before it was stored, or as Twilio's list shows it."""
        port = ChannelPort(ctx)
        await port.record_part(message, part, sid)
        if part != 0:
            return
        reports = await _take_early(ctx, sid, (message.channel,))
        if listed is not None and listed.status:
            reports.append(StatusReport(sid, listed.status, TWILIO_STATUSES.get(listed.status),
                                        listed.error_code, (message.channel,)))
        for report in reports:
            if report.delivery_status == "failed":
                raise PermanentSendError(
                    error_reason(report.error_code,
                                 f"Twilio reported the message {report.twilio_status}"),
                    report.error_code)
            if report.delivery_status in ("delivered", "read"):
                await port.mark_delivery_status(message.message_id, report.delivery_status)


SMS_CHANNEL = TwilioMessagingChannel(SMS_TRAITS)
WHATSAPP_CHANNEL = TwilioMessagingChannel(WHATSAPP_TRAITS)
