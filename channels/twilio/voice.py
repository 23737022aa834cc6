"""Twilio Voice: the phone menu, connecting callers to agents, voicemail, and call records.

`POST /webhooks/twilio/voice` answers an incoming call with TwiML; every later step is a URL
that TwiML names, signed by Twilio like every webhook (`verified_form`, as for messaging):

    /voice                 incoming call -> language menu (1 az, 2 ru, 3 en)
    /voice/language        Digits -> reason menu (1 registration, 2 support, 3 information,
                           0 operator) in that language
    /voice/menu            Digits -> the call is recorded in the inbox and routed by the
                           choice; then <Dial> the agent, or voicemail
    /voice/dial-result     DialCallStatus: connected, or voicemail
    /voice/voicemail-done  the caller finished the message: the transcription stops; goodbye
    /voice/recording       recordingStatusCallback: the voicemail message with its audio
    /voice/live-transcription
                           the voicemail's <Start><Transcription> statusCallbackUrl: the
                           caller's words, in the language they chose, segment by segment
    /voice/status          the number's call status callback: the call ended (configure it
                           in Twilio as the number's "call status changes" URL)

What the menu has learnt so far (language, when the call started, how many tries, the agent
rung) travels in the query of those URLs: Twilio signs the URL it calls, so the state comes
back as we wrote it, and nothing is stored while the caller is still choosing. Parsing and
the TwiML builders are pure functions (`voice_forms`, `voice_twiml`; the settings in
`voice_config`); the routes here verify, parse, call `inbox.calls` with the call's neutral
record, and answer. Logs name CallSids, never phone numbers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from aiohttp import web

from channels.base import PermanentSendError, SendResult, problem_at
from channels.twilio.common import delete_records, fetch_media
from channels.twilio.messaging import PayloadError, verified_form
from channels.twilio.voice_config import (
    VoiceConfigError,
    VoiceSettings,
    load_prompt_texts,
    voice_settings,
)
from channels.twilio.voice_forms import (
    RECORDING_SID,
    call_sid,
    caller,
    digits,
    parse_call_end,
    parse_dial_result,
    parse_live_transcription,
    parse_recording,
)
from channels.twilio.voice_twiml import (
    MenuState,
    VoicemailUrls,
    action_url,
    dial,
    dial_target,
    goodbye,
    language_menu,
    parse_state,
    reason_menu,
    voicemail,
    withheld,
)
from inbox import calls
from inbox.channel_traits import ChannelTraits
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.messages import OutboundMessage
from settings import Config, Problem
from web.appkeys import CONTEXT
from web.http import bad_request

log = logging.getLogger(__name__)

VOICE_PATH = "/webhooks/twilio/voice"
LANGUAGE_PATH = VOICE_PATH + "/language"
MENU_PATH = VOICE_PATH + "/menu"
DIAL_RESULT_PATH = VOICE_PATH + "/dial-result"
VOICEMAIL_DONE_PATH = VOICE_PATH + "/voicemail-done"
RECORDING_PATH = VOICE_PATH + "/recording"
LIVE_TRANSCRIPTION_PATH = VOICE_PATH + "/live-transcription"
STATUS_PATH = VOICE_PATH + "/status"

# The reason menu: key -> (the reason, the category hint it gives with full confidence).
# An operator call says nothing of its subject: routing sends it to triage, as any
# conversation whose category a person has to judge.
REASONS: dict[str, tuple[str, str | None]] = {
    "1": ("registration", "registration"),
    "2": ("support", "support"),
    "3": ("information", "inquiry"),
    "0": ("operator", None),
}


# --- routes -------------------------------------------------------------------------------


VOICE_SETTINGS = web.AppKey("voice_settings", VoiceSettings)


def _twiml(xml: str) -> web.Response:
    return web.Response(text=xml, content_type="text/xml")


@dataclass(frozen=True)
class Step:
    """A verified, parsed voice webhook: its form, settings and context."""

    form: Mapping[str, str]
    settings: VoiceSettings
    ctx: InboxContext
    query: Mapping[str, str] = field(default_factory=dict)

    def url(self, path: str, state: MenuState | None = None) -> str:
        return action_url(self.ctx.config.public_url, path, state)

    def state(self) -> MenuState:
        return parse_state(self.query, self.settings)

    def call_state(self) -> MenuState:
        """The menu state of a step that needs nothing else of the form than its call:
        a missing CallSid or a damaged state is the caller's 400."""
        try:
            call_sid(self.form)
            return self.state()
        except PayloadError as exc:
            raise _bad(exc) from None


async def _step(request: web.Request) -> Step:
    form = await verified_form(request)
    return Step(form, request.app[VOICE_SETTINGS], request.app[CONTEXT], request.query)


def _bad(exc: PayloadError) -> web.HTTPBadRequest:
    return bad_request(str(exc))


async def incoming_call(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        sid, number = call_sid(step.form), caller(step.form)
    except PayloadError as exc:
        raise _bad(exc) from None
    if number is None:
        log.info("call %s from a withheld number refused", sid)
        return _twiml(withheld(step.settings))
    state = MenuState(started_at=utcnow().replace(microsecond=0))
    log.info("call %s: language menu", sid)
    return _twiml(language_menu(step.settings, step.url(LANGUAGE_PATH, state)))


async def language_chosen(request: web.Request) -> web.Response:
    step = await _step(request)
    state = step.call_state()
    language = step.settings.language_for(digits(step.form))
    if language is None:
        if state.attempt + 1 < step.settings.menu_attempts:
            again = replace(state, attempt=state.attempt + 1)
            return _twiml(language_menu(step.settings, step.url(LANGUAGE_PATH, again)))
        language = step.settings.languages[0]
    chosen = replace(state, language=language, attempt=0)
    return _twiml(reason_menu(step.settings, language, step.url(MENU_PATH, chosen)))


def _voicemail(step: Step, state: MenuState, closed: bool) -> web.Response:
    # The transcription's URL carries the menu's state like the others: the caller's language
    # comes back signed with every segment.
    menu = replace(state, agent_id=None, attempt=0)
    urls = VoicemailUrls(done=step.url(VOICEMAIL_DONE_PATH, menu),
                         recording=step.url(RECORDING_PATH),
                         transcription=step.url(LIVE_TRANSCRIPTION_PATH, menu))
    return _twiml(voicemail(step.settings, state.language, closed, urls))


async def reason_chosen(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        sid, number, state = call_sid(step.form), caller(step.form), step.state()
        if state.language is None or number is None:
            raise PayloadError("the menu's language or the caller is missing")
    except PayloadError as exc:
        raise _bad(exc) from None
    choice = REASONS.get(digits(step.form))
    if choice is None:
        if state.attempt + 1 < step.settings.menu_attempts:
            again = replace(state, attempt=state.attempt + 1)
            return _twiml(reason_menu(step.settings, state.language,
                                      step.url(MENU_PATH, again), invalid=True))
        choice = REASONS["0"]   # no choice after every try: an operator decides
    reason, category = choice
    item = await calls.record_call(step.ctx, calls.CallRecord(
        sid, number, state.started_at, state.language, reason, category))
    plan = await calls.ring_plan(step.ctx, item.conversation_id, utcnow())
    if plan.agent_id is None:
        await calls.note_missed(step.ctx, sid, plan.reason)
        log.info("call %s (%s): voicemail, %s", sid, reason, plan.reason)
        return _voicemail(step, state, closed=plan.reason == calls.CLOSED)
    await calls.note_ringing(step.ctx, sid, plan.agent_id)
    log.info("call %s (%s): ringing agent %s", sid, reason, plan.agent_id)
    rung = replace(state, attempt=0, agent_id=plan.agent_id)
    return _twiml(dial(step.settings, state.language, dial_target(plan.address),
                       step.url(DIAL_RESULT_PATH, rung)))


async def dial_result(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        result, state = parse_dial_result(step.form), step.state()
        if state.language is None or state.agent_id is None:
            raise PayloadError("the menu's language or the agent is missing")
    except PayloadError as exc:
        raise _bad(exc) from None
    if result.connected:
        connected_at = utcnow() - timedelta(seconds=result.duration_s)
        await calls.note_connected(step.ctx, result.call_id, state.agent_id, connected_at)
        return _twiml(goodbye(step.settings, state.language))
    await calls.note_missed(step.ctx, result.call_id, result.outcome, state.agent_id)
    log.info("call %s: agent %s did not answer (%s); voicemail", result.call_id,
             state.agent_id, result.outcome)
    return _voicemail(step, state, closed=False)


async def voicemail_done(request: web.Request) -> web.Response:
    step = await _step(request)
    state = step.call_state()
    return _twiml(goodbye(step.settings, state.language or step.settings.languages[0],
                          stop_transcription=True))


def _unknown_call(sid: str) -> web.HTTPNotFound:
    # Not 2xx: the call should have been recorded at the menu, and Twilio may try again.
    return web.HTTPNotFound(text=json.dumps({"error": f"no call {sid} is recorded"}),
                            content_type="application/json")


async def recording_ready(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        report = parse_recording(step.form)
    except PayloadError as exc:
        raise _bad(exc) from None
    if report.status != "completed":
        log.info("call %s: recording %s", report.voicemail.call_id, report.status)
        return web.Response(status=200)
    if await calls.record_voicemail(step.ctx, report.voicemail) is None:
        raise _unknown_call(report.voicemail.call_id)
    return web.Response(status=200)


async def live_transcription(request: web.Request) -> web.Response:
    """The voicemail's transcription reports: its segments are kept with the call until it
    stops, then become the voicemail's text (`inbox.calls.record_transcription_event`)."""
    step = await _step(request)
    try:
        event = parse_live_transcription(step.form)
        state = step.state()
        if state.language is None:
            raise PayloadError("the menu's language is missing")
    except PayloadError as exc:
        raise _bad(exc) from None
    if event.kind == "error":
        code = (step.form.get("TranscriptionErrorCode") or "").strip()
        log.warning("call %s: the voicemail's transcription failed (error %s)", event.call_id,
                    code if code.isdecimal() else "without a code")
    if await calls.record_transcription_event(step.ctx, event, state.language) is None:
        raise _unknown_call(event.call_id)
    return web.Response(status=200)


async def call_status(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        end = parse_call_end(step.form, utcnow())
    except PayloadError as exc:
        raise _bad(exc) from None
    if end is not None and not await calls.end_call(step.ctx, end):
        log.info("call %s from a withheld number ended in the menu; nothing to record",
                 end.call_id)
    return web.Response(status=200)


# --- the channel --------------------------------------------------------------------------


class TwilioVoiceChannel:
    """Phone calls through Twilio Programmable Voice."""

    # A caller hears the IVR, not a written acknowledgement; a voicemail's words were heard.
    # Twilio keeps the call's record and the voicemail's recording until they are deleted.
    traits = ChannelTraits(name=calls.CHANNEL, label="Voice call", acknowledged=False,
                           heard=True, phone_address=True, vouches_phone=True,
                           kept_by_provider=True)
    name = traits.name

    def check_config(self, config: Config) -> list[Problem]:
        twilio = config.channels.section("twilio")
        if not twilio:
            return []
        try:
            voice_settings(twilio.get("voice"), load_prompt_texts())
        except VoiceConfigError as exc:
            return [problem_at(config, str(exc))]
        return []

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        # The messaging channels declare the deletion's round for the whole account.
        return {}

    async def forget(self, ctx: InboxContext, records: Mapping[str, str | None]
                     ) -> dict[str, str | None]:
        """Delete a call's record (its message's id, a CallSid) or a voicemail's recording
        (a RecordingSid) at Twilio."""
        return await delete_records(list(records), _call_record)

    def setup_routes(self, app: web.Application) -> None:
        twilio = app[CONTEXT].config.channels.section("twilio") or {}
        app[VOICE_SETTINGS] = voice_settings(twilio.get("voice"), load_prompt_texts())
        for path, handler in ((VOICE_PATH, incoming_call), (LANGUAGE_PATH, language_chosen),
                              (MENU_PATH, reason_chosen), (DIAL_RESULT_PATH, dial_result),
                              (VOICEMAIL_DONE_PATH, voicemail_done),
                              (RECORDING_PATH, recording_ready),
                              (LIVE_TRANSCRIPTION_PATH, live_transcription),
                              (STATUS_PATH, call_status)):
            app.router.add_post(path, handler)

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """A voicemail's audio, fetched like message media (the media job calls this)."""
        return await fetch_media(url, max_bytes)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        raise PermanentSendError("a phone call cannot carry a written reply: call the resident "
                                 "back, or write to them by SMS")


def _call_record(client, sid: str):
    """The resource a voice message's id names: a voicemail's recording, else its call."""
    return client.recordings(sid) if RECORDING_SID.fullmatch(sid) else client.calls(sid)


VOICE_CHANNEL = TwilioVoiceChannel()
