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
    /voice/transcription   transcribeCallback of <Record transcribe="true">: kept only for
                           calls whose TwiML was written before live transcription
    /voice/status          the number's call status callback: the call ended (configure it
                           in Twilio as the number's "call status changes" URL)

What the menu has learnt so far (language, when the call started, how many tries, the agent
rung) travels in the query of those URLs: Twilio signs the URL it calls, so the state comes
back as we wrote it, and nothing is stored while the caller is still choosing. Parsing and
the TwiML builders (the twilio library's `VoiceResponse`) are pure functions; the routes
verify, parse, call `inbox.calls`, and answer. Logs name CallSids, never phone numbers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from channels.base import PermanentSendError, SendResult, problem_at
from channels.twilio.common import fetch_media, webhook_url
from channels.twilio.messaging import PayloadError, normalise_phone, verified_form
from inbox import calls
from inbox.channel_traits import ChannelTraits
from inbox.context import InboxContext
from inbox.messages import Attachment, OutboundMessage
from inbox.storage import utcnow
from settings import Config, Problem
from settings.loader import parse_seconds
from web.appkeys import CONTEXT
from web.http import bad_request, parse_json

log = logging.getLogger(__name__)

VOICE_PATH = "/webhooks/twilio/voice"
LANGUAGE_PATH = VOICE_PATH + "/language"
MENU_PATH = VOICE_PATH + "/menu"
DIAL_RESULT_PATH = VOICE_PATH + "/dial-result"
VOICEMAIL_DONE_PATH = VOICE_PATH + "/voicemail-done"
RECORDING_PATH = VOICE_PATH + "/recording"
LIVE_TRANSCRIPTION_PATH = VOICE_PATH + "/live-transcription"
TRANSCRIPTION_PATH = VOICE_PATH + "/transcription"
STATUS_PATH = VOICE_PATH + "/status"

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "templates" / "voice" / "prompts.yaml"
PROMPT_NAMES = ("language_menu", "reason_menu", "invalid", "connecting", "voicemail_closed",
                "voicemail_unavailable", "goodbye", "withheld")

# The reason menu: key -> (the reason, the category hint it gives with full confidence).
# An operator call says nothing of its subject: routing sends it to triage, as any
# conversation whose category a person has to judge.
REASONS: dict[str, tuple[str, str | None]] = {
    "1": ("registration", "registration"),
    "2": ("support", "support"),
    "3": ("information", "inquiry"),
    "0": ("operator", None),
}

# Numbers Twilio shows for a caller who withheld theirs.
WITHHELD = frozenset({"anonymous", "restricted", "unknown", "unavailable", "+266696687",
                      "+7378742833", "+2562533", "+8656696", "+86282452253"})
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
TRANSCRIPTION_SID = re.compile(r"GT[0-9a-fA-F]{32}")
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})
CLIENT_IDENTITY = re.compile(r"[A-Za-z0-9_.@-]{1,121}")
SIP_URI = re.compile(r"sips?:[^@\s]+@[^@\s]+")
MAX_CALL_SECONDS = 4 * 3600    # Twilio ends any call after four hours

# Voicemail is transcribed while the caller speaks, by Twilio's Real-Time Transcription in the
# language they chose in the menu. <Record transcribe="true"> understands English only, so it
# is not used at all, English included: one mechanism, one webhook, one code path for every
# language, and no two transcripts of one English voicemail racing to become its text.
TRANSCRIPTION_NAME = "voicemail"     # names the transcription so voicemail-done can stop it
TRANSCRIPTION_ENGINES = ("google", "deepgram")
DEFAULT_LANGUAGE_CODES = {"az": "az-AZ", "ru": "ru-RU", "en": "en-US"}   # Google knows az-AZ
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")            # BCP-47, as Twilio takes
TRANSCRIPTION_KEYS = ("engine", "language_codes", "hints")
TRANSCRIPTION_EVENTS = {"transcription-started": "started", "transcription-content": "content",
                        "transcription-stopped": "stopped", "transcription-error": "error"}
MAX_HINTS, MAX_HINT_CHARS = 500, 100     # Twilio's limits on <Transcription hints>


class VoiceConfigError(ValueError):
    """`channels.twilio.voice` cannot be used; the message names the key."""


# --- settings: config.yaml's channels.twilio.voice over templates/voice/prompts.yaml -------


@dataclass(frozen=True)
class Prompt:
    """One thing the menu says: a recording to <Play>, else text to <Say> in `language`."""

    say: str | None = None
    play: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class TranscriptionSettings:
    """How a voicemail is transcribed: the engine, and the language code for each language
    of the menu (the caller's choice decides which)."""

    engine: str = "google"
    language_codes: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_LANGUAGE_CODES))
    hints: str | None = None          # comma-separated phrases the recogniser should expect


@dataclass(frozen=True)
class VoiceSettings:
    languages: tuple[str, ...]                       # the language menu's order: 1, 2, 3
    prompts: Mapping[str, Mapping[str, Prompt]]      # language -> prompt name -> prompt
    ring_timeout_s: int = 20
    voicemail_max_length_s: int = 120
    gather_timeout_s: int = 6
    menu_attempts: int = 3
    transcription: TranscriptionSettings = field(default_factory=TranscriptionSettings)

    def prompt(self, language: str, name: str) -> Prompt:
        return self.prompts[language][name]

    def language_code(self, language: str) -> str:
        """The transcription's language code for a language of the menu."""
        return self.transcription.language_codes[language]

    def language_for(self, digits: str) -> str | None:
        if digits.isdecimal() and 1 <= int(digits) <= len(self.languages):
            return self.languages[int(digits) - 1]
        return None


def load_prompt_texts(path: Path = PROMPTS_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _seconds(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    try:
        value = parse_seconds(raw.get(key, default))
    except ValueError as exc:
        raise VoiceConfigError(f"channels.twilio.voice.{key}: {exc}") from None
    if not low <= value <= high:
        raise VoiceConfigError(f"channels.twilio.voice.{key}: must be from {low}s to {high}s")
    return value


def _prompt(spec: Any, fallback: Prompt, key: str) -> Prompt:
    if isinstance(spec, str):
        return replace(fallback, say=spec, play=None)
    if not isinstance(spec, Mapping) or not (spec.get("say") or spec.get("play")):
        raise VoiceConfigError(f"{key}: expected text, {{say: TEXT}} or {{play: URL}}")
    if spec.get("play"):
        if not str(spec["play"]).startswith(("https://", "http://")):
            raise VoiceConfigError(f"{key}.play: expected an http(s) URL")
        return replace(fallback, play=str(spec["play"]))
    return replace(fallback, say=str(spec["say"]), play=None)


def voice_settings(raw: Mapping[str, Any] | None, texts: Mapping[str, Any]) -> VoiceSettings:
    """The voice part of config `channels.twilio` over the default prompt texts; raises
    VoiceConfigError naming the key when it is unusable."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise VoiceConfigError("channels.twilio.voice: expected a mapping")
    languages = tuple(raw.get("languages") or ("az", "ru", "en"))
    unknown = [lang for lang in languages if lang not in texts]
    if unknown or not 1 <= len(languages) <= 9 or len(set(languages)) != len(languages):
        raise VoiceConfigError(f"channels.twilio.voice.languages: expected distinct languages "
                               f"among {', '.join(texts)}, got {list(languages)}")
    overrides = raw.get("prompts") or {}
    if not isinstance(overrides, Mapping):
        raise VoiceConfigError("channels.twilio.voice.prompts: expected a mapping per language")
    prompts: dict[str, dict[str, Prompt]] = {}
    for language in languages:
        base = texts[language]
        mine = overrides.get(language) or {}
        key = f"channels.twilio.voice.prompts.{language}"
        if not isinstance(mine, Mapping):
            raise VoiceConfigError(f"{key}: expected a mapping of prompt names")
        for name in mine:
            if name not in (*PROMPT_NAMES, "play_base", "say_language"):
                raise VoiceConfigError(f"{key}.{name}: unknown prompt; known: "
                                       f"{', '.join(PROMPT_NAMES)}, play_base, say_language")
        say_language = mine.get("say_language", base.get("say_language"))
        play_base = str(mine.get("play_base") or "").rstrip("/")
        prompts[language] = {}
        for name in PROMPT_NAMES:
            prompt = Prompt(say=base["prompts"][name], language=say_language)
            if play_base:
                prompt = replace(prompt, play=f"{play_base}/{name}.mp3")
            if name in mine:
                prompt = _prompt(mine[name], prompt, f"{key}.{name}")
            prompts[language][name] = prompt
    return VoiceSettings(
        languages=languages, prompts=prompts,
        ring_timeout_s=_seconds(raw, "ring_timeout", 20, 5, 600),
        voicemail_max_length_s=_seconds(raw, "voicemail_max_length", 120, 5, 3600),
        gather_timeout_s=_seconds(raw, "menu_timeout", 6, 1, 60),
        menu_attempts=_attempts(raw),
        transcription=_transcription(raw.get("transcription"), languages))


def _attempts(raw: Mapping[str, Any]) -> int:
    value = raw.get("menu_attempts", 3)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise VoiceConfigError("channels.twilio.voice.menu_attempts: expected 1 to 5")
    return value


def _transcription(raw: Any, languages: tuple[str, ...]) -> TranscriptionSettings:
    """`channels.twilio.voice.transcription`: engine, language_codes per menu language (over
    the defaults az-AZ, ru-RU, en-US), hints."""
    key = "channels.twilio.voice.transcription"
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise VoiceConfigError(f"{key}: expected a mapping with {', '.join(TRANSCRIPTION_KEYS)}")
    for name in raw:
        if name not in TRANSCRIPTION_KEYS:
            raise VoiceConfigError(f"{key}.{name}: unknown setting; known: "
                                   f"{', '.join(TRANSCRIPTION_KEYS)}")
    engine = raw.get("engine", "google")
    if engine not in TRANSCRIPTION_ENGINES:
        raise VoiceConfigError(f"{key}.engine: expected one of {', '.join(TRANSCRIPTION_ENGINES)}"
                               f", got {engine!r}")
    given = raw.get("language_codes") or {}
    if not isinstance(given, Mapping):
        raise VoiceConfigError(f"{key}.language_codes: expected a mapping of language to code, "
                               f"like {{az: az-AZ}}")
    codes: dict[str, str] = {}
    for language in given:
        if language not in languages:
            raise VoiceConfigError(f"{key}.language_codes.{language}: not a language of the "
                                   f"menu ({', '.join(languages)})")
    for language in languages:
        code = given.get(language, DEFAULT_LANGUAGE_CODES.get(language))
        if code is None:
            raise VoiceConfigError(f"{key}.language_codes.{language}: missing; the language "
                                   f"code Twilio transcribes {language} callers in")
        if not isinstance(code, str) or not LANGUAGE_CODE.fullmatch(code):
            raise VoiceConfigError(f"{key}.language_codes.{language}: expected a BCP-47 code "
                                   f"like az-AZ, got {code!r}")
        codes[language] = code
    return TranscriptionSettings(engine, codes, _hints(raw.get("hints"), f"{key}.hints"))


def _hints(raw: Any, key: str) -> str | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_HINTS:
        raise VoiceConfigError(f"{key}: expected a list of at most {MAX_HINTS} phrases")
    for hint in raw:
        if not isinstance(hint, str) or not hint.strip() or "," in hint \
                or len(hint) > MAX_HINT_CHARS:
            raise VoiceConfigError(f"{key}: {hint!r} is not a phrase of 1 to {MAX_HINT_CHARS} "
                                   f"characters without commas")
    return ",".join(hint.strip() for hint in raw)


# --- dial targets: an agent's voice address -----------------------------------------------


@dataclass(frozen=True)
class DialTarget:
    kind: str      # number, sip, client
    value: str     # E.164, the SIP URI, or the Voice SDK client identity


def dial_target(address: str) -> DialTarget:
    """Where <Dial> rings an agent: an E.164 number, `sip:user@host`, or `client:identity`
    (a browser or app with the Twilio Voice SDK); ValueError for anything else."""
    address = address.strip()
    if address.startswith(("sip:", "sips:")):
        if not SIP_URI.fullmatch(address):
            raise ValueError("a SIP voice address looks like sip:agent@pbx.example.gov.az")
        return DialTarget("sip", address)
    if address.startswith("client:"):
        identity = address[len("client:"):]
        if not CLIENT_IDENTITY.fullmatch(identity):
            raise ValueError("a client voice address looks like client:agent-name")
        return DialTarget("client", identity)
    try:
        return DialTarget("number", normalise_phone(address))
    except PayloadError:
        raise ValueError("a voice address is a phone number (+994...), sip:user@host or "
                         "client:identity") from None


# --- TwiML: pure builders -----------------------------------------------------------------


def _speak(verb: Any, prompt: Prompt, **values: Any) -> None:
    if prompt.play:
        verb.play(prompt.play)
    else:
        verb.say(prompt.say.format(**values), language=prompt.language)


def language_menu(settings: VoiceSettings, action: str) -> str:
    """Each language offers itself in its own words; no key at all counts as a try."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST",
                             timeout=settings.gather_timeout_s, action_on_empty_result=True)
    for digit, language in enumerate(settings.languages, start=1):
        _speak(gather, settings.prompt(language, "language_menu"), digit=digit)
    return str(response)


def reason_menu(settings: VoiceSettings, language: str, action: str, *,
                invalid: bool = False) -> str:
    response = VoiceResponse()
    if invalid:
        _speak(response, settings.prompt(language, "invalid"))
    gather = response.gather(num_digits=1, action=action, method="POST",
                             timeout=settings.gather_timeout_s, action_on_empty_result=True)
    _speak(gather, settings.prompt(language, "reason_menu"))
    return str(response)


def dial(settings: VoiceSettings, language: str, target: DialTarget, action: str) -> str:
    """Ring the agent; the action hears how it went (answered, no-answer, busy, ...).
    answerOnBridge keeps the caller hearing ringing, not silence, until the agent answers."""
    response = VoiceResponse()
    _speak(response, settings.prompt(language, "connecting"))
    verb = response.dial(timeout=settings.ring_timeout_s, action=action, method="POST",
                         answer_on_bridge=True)
    {"number": verb.number, "sip": verb.sip, "client": verb.client}[target.kind](target.value)
    return str(response)


@dataclass(frozen=True)
class VoicemailUrls:
    done: str             # <Record action>: the caller finished
    recording: str        # recordingStatusCallback: the audio is ready
    transcription: str    # <Transcription statusCallbackUrl>: the caller's words as they come


def voicemail(settings: VoiceSettings, language: str, closed: bool, urls: VoicemailUrls) -> str:
    """Live transcription of the caller in their language, why nobody answers, then the
    recording (the message's audio); '#' ends the message. Only the caller's side (the inbound
    track) is transcribed, so the prompt is not; only final results are sent."""
    response = VoiceResponse()
    transcription = settings.transcription
    response.start().transcription(
        name=TRANSCRIPTION_NAME, track="inbound_track", status_callback_url=urls.transcription,
        status_callback_method="POST", partial_results=False,
        language_code=settings.language_code(language),
        transcription_engine=transcription.engine, enable_automatic_punctuation=True,
        hints=transcription.hints)
    _speak(response, settings.prompt(language, "voicemail_closed" if closed
                                     else "voicemail_unavailable"))
    response.record(action=urls.done, method="POST", max_length=settings.voicemail_max_length_s,
                    timeout=10, finish_on_key="#", play_beep=True,
                    recording_status_callback=urls.recording,
                    recording_status_callback_method="POST",
                    recording_status_callback_event="completed")
    # Reached only when nothing was recorded (silence): Twilio then skips the action. Hanging
    # up ends the transcription too.
    _speak(response, settings.prompt(language, "goodbye"))
    response.hangup()
    return str(response)


def goodbye(settings: VoiceSettings, language: str, *, stop_transcription: bool = False) -> str:
    """Goodbye and hang up; after a voicemail, the transcription stops first, so it ends with
    the message and Twilio reports it stopped without waiting for the call to end."""
    response = VoiceResponse()
    if stop_transcription:
        response.stop().transcription(name=TRANSCRIPTION_NAME)
    _speak(response, settings.prompt(language, "goodbye"))
    response.hangup()
    return str(response)


def withheld(settings: VoiceSettings) -> str:
    """A caller without a number cannot be called back or recognised: said in every
    language, then the call ends. Nothing is stored."""
    response = VoiceResponse()
    for language in settings.languages:
        _speak(response, settings.prompt(language, "withheld"))
    response.hangup()
    return str(response)


# --- the menu's state, carried in the URLs that TwiML names -------------------------------


@dataclass(frozen=True)
class MenuState:
    started_at: datetime
    language: str | None = None
    attempt: int = 0
    agent_id: int | None = None

    def query(self) -> dict[str, str]:
        query = {"t": str(int(self.started_at.timestamp())), "attempt": str(self.attempt)}
        if self.language:
            query["lang"] = self.language
        if self.agent_id is not None:
            query["agent"] = str(self.agent_id)
        return query


def parse_state(query: Mapping[str, str], settings: VoiceSettings) -> MenuState:
    """The state from an action URL's query; PayloadError when it is not one we wrote."""
    def number(key: str, default: str | None = None) -> int | None:
        raw = query.get(key, default)
        if raw is None:
            return None
        if not raw.isdecimal() or len(raw) > 12:
            raise PayloadError(f"query parameter {key} must be a whole number")
        return int(raw)

    started = number("t")
    if started is None:
        raise PayloadError("query parameter t is missing")
    language = query.get("lang")
    if language is not None and language not in settings.languages:
        raise PayloadError(f"query parameter lang must be one of {', '.join(settings.languages)}")
    return MenuState(datetime.fromtimestamp(started, UTC), language, number("attempt", "0"),
                     number("agent"))


def action_url(public_url: str, path: str, state: MenuState | None = None) -> str:
    return webhook_url(public_url, path + ("?" + urlencode(state.query()) if state else ""))


# --- inbound forms: pure parsing ----------------------------------------------------------


def _field(form: Mapping[str, str], key: str) -> str:
    value = (form.get(key) or "").strip()
    if not value:
        raise PayloadError(f"{key} is missing")
    return value


def call_sid(form: Mapping[str, str], key: str = "CallSid") -> str:
    sid = _field(form, key)
    if not CALL_SID.fullmatch(sid):
        raise PayloadError(f"{key} is not a Twilio call sid")
    return sid


def caller(form: Mapping[str, str]) -> str | None:
    """The caller's E.164 number; None when withheld; PayloadError when it is not a number."""
    raw = _field(form, "From")
    if raw.lower() in WITHHELD:
        return None
    return normalise_phone(raw)


def digits(form: Mapping[str, str]) -> str:
    """The key pressed ("" for none); the finishing '#' is not part of the choice."""
    return (form.get("Digits") or "").strip().rstrip("#")


def _whole_seconds(form: Mapping[str, str], key: str) -> int:
    raw = (form.get(key) or "0").strip()
    if not raw.isdecimal() or int(raw) > MAX_CALL_SECONDS:
        raise PayloadError(f"{key} must be a whole number of seconds")
    return int(raw)


@dataclass(frozen=True)
class DialResult:
    call_sid: str
    status: str
    duration_s: int

    @property
    def connected(self) -> bool:
        return self.status in ("completed", "answered")


def parse_dial_result(form: Mapping[str, str]) -> DialResult:
    status = _field(form, "DialCallStatus").lower()
    if status not in DIAL_STATUSES:
        raise PayloadError(f"DialCallStatus {status!r} is not one Twilio sends")
    if (form.get("DialBridged") or "").lower() == "false":
        status = "no-answer" if status in ("completed", "answered") else status
    return DialResult(call_sid(form), status, _whole_seconds(form, "DialCallDuration"))


def recording_attachment(form: Mapping[str, str]) -> Attachment:
    """The recording at Twilio's RecordingUrl (fetched with the account's credentials, like
    message media); the bare URL serves WAV, so that is its type."""
    url = _field(form, "RecordingUrl")
    if not url.startswith("https://"):
        raise PayloadError("RecordingUrl is not an https URL")
    sid = _field(form, "RecordingSid")
    return Attachment(content_type="audio/wav", filename=f"{sid}.wav", url=url)


def _recording_sid(form: Mapping[str, str]) -> str:
    sid = _field(form, "RecordingSid")
    if not RECORDING_SID.fullmatch(sid):
        raise PayloadError("RecordingSid is not a Twilio recording sid")
    return sid


@dataclass(frozen=True)
class RecordingReport:
    status: str                 # completed, absent (nothing said), failed
    voicemail: calls.Voicemail


def parse_recording(form: Mapping[str, str]) -> RecordingReport:
    sid = _recording_sid(form)
    return RecordingReport(_field(form, "RecordingStatus").lower(),
                           calls.Voicemail(call_sid(form), sid, recording_attachment(form)))


def parse_transcription(form: Mapping[str, str]) -> calls.Voicemail:
    sid = _recording_sid(form)
    status = _field(form, "TranscriptionStatus").lower()
    if status not in ("completed", "failed"):
        raise PayloadError(f"TranscriptionStatus {status!r} is not one Twilio sends")
    return calls.Voicemail(call_sid(form), sid, recording_attachment(form),
                           transcript=calls.transcript_text(status, form.get("TranscriptionText")))


def parse_live_transcription(form: Mapping[str, str]) -> calls.TranscriptionEvent:
    """One status callback of the voicemail's real-time transcription. Only a final result of
    the caller's own track carries text; any other event counts as seen, with none. The text
    never reaches an error message or a log."""
    sid = call_sid(form)
    transcription_sid = _field(form, "TranscriptionSid")
    if not TRANSCRIPTION_SID.fullmatch(transcription_sid):
        raise PayloadError("TranscriptionSid is not a Twilio transcription sid")
    event = _field(form, "TranscriptionEvent").lower()
    kind = TRANSCRIPTION_EVENTS.get(event)
    if kind is None:
        raise PayloadError(f"TranscriptionEvent {event!r} is not one Twilio sends")
    # A segment's place and identity; a start, stop or error is taken even without one.
    sequence = _field(form, "SequenceId") if kind == "content" else \
        (form.get("SequenceId") or "0").strip()
    if not sequence.isdecimal() or len(sequence) > 9:
        raise PayloadError("SequenceId must be a whole number")
    text = None
    if kind == "content":
        final = _field(form, "Final").lower()
        if final not in ("true", "false"):
            raise PayloadError("Final must be true or false")
        if final == "true" and (form.get("Track") or "inbound_track") == "inbound_track":
            text = _transcript(form)
    return calls.TranscriptionEvent(sid, transcription_sid, int(sequence), kind, text)


def _transcript(form: Mapping[str, str]) -> str:
    """The text of TranscriptionData, a JSON object like {"transcript": ..., "confidence": ...}."""
    try:
        data = parse_json(_field(form, "TranscriptionData"))
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("transcript", ""), str):
        raise PayloadError("TranscriptionData is not a JSON object with a transcript")
    return data.get("transcript", "").strip()


def parse_call_end(form: Mapping[str, str], ended_at: datetime) -> calls.CallEnd | None:
    """The end of a call from its status callback; None for a status on the way (ringing,
    in-progress), which changes nothing."""
    status = _field(form, "CallStatus").lower()
    sid = call_sid(form)
    if status not in FINAL_CALL_STATUSES:
        return None
    return calls.CallEnd(sid, caller(form), status, _whole_seconds(form, "CallDuration"),
                         ended_at)


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
    try:
        call_sid(step.form)
        state = step.state()
    except PayloadError as exc:
        raise _bad(exc) from None
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
        await calls.note_connected(step.ctx, result.call_sid, state.agent_id, connected_at)
        return _twiml(goodbye(step.settings, state.language))
    await calls.note_missed(step.ctx, result.call_sid, result.status, state.agent_id)
    log.info("call %s: agent %s did not answer (%s); voicemail", result.call_sid,
             state.agent_id, result.status)
    return _voicemail(step, state, closed=False)


async def voicemail_done(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        call_sid(step.form)
        state = step.state()
    except PayloadError as exc:
        raise _bad(exc) from None
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
        log.info("call %s: recording %s", report.voicemail.call_sid, report.status)
        return web.Response(status=200)
    if await calls.record_voicemail(step.ctx, report.voicemail) is None:
        raise _unknown_call(report.voicemail.call_sid)
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
        log.warning("call %s: the voicemail's transcription failed (error %s)", event.call_sid,
                    code if code.isdecimal() else "without a code")
    if await calls.record_transcription_event(step.ctx, event, state.language) is None:
        raise _unknown_call(event.call_sid)
    return web.Response(status=200)


async def transcription_ready(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        voicemail_ = parse_transcription(step.form)
    except PayloadError as exc:
        raise _bad(exc) from None
    if await calls.record_transcript(step.ctx, voicemail_) is None:
        raise _unknown_call(voicemail_.call_sid)
    return web.Response(status=200)


async def call_status(request: web.Request) -> web.Response:
    step = await _step(request)
    try:
        end = parse_call_end(step.form, utcnow())
    except PayloadError as exc:
        raise _bad(exc) from None
    if end is not None and not await calls.end_call(step.ctx, end):
        log.info("call %s from a withheld number ended in the menu; nothing to record",
                 end.call_sid)
    return web.Response(status=200)


# --- the channel --------------------------------------------------------------------------


class TwilioVoiceChannel:
    """Phone calls through Twilio Programmable Voice."""

    # A caller hears the IVR, not a written acknowledgement; a voicemail's words were heard.
    traits = ChannelTraits(name=calls.CHANNEL, label="Voice call", acknowledged=False,
                           heard=True, phone_address=True, vouches_phone=True)
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

    def scheduled_jobs(self) -> dict[str, int]:
        return {}

    def setup_routes(self, app: web.Application) -> None:
        twilio = app[CONTEXT].config.channels.section("twilio") or {}
        app[VOICE_SETTINGS] = voice_settings(twilio.get("voice"), load_prompt_texts())
        for path, handler in ((VOICE_PATH, incoming_call), (LANGUAGE_PATH, language_chosen),
                              (MENU_PATH, reason_chosen), (DIAL_RESULT_PATH, dial_result),
                              (VOICEMAIL_DONE_PATH, voicemail_done),
                              (RECORDING_PATH, recording_ready),
                              (LIVE_TRANSCRIPTION_PATH, live_transcription),
                              (TRANSCRIPTION_PATH, transcription_ready),
                              (STATUS_PATH, call_status)):
            app.router.add_post(path, handler)

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """A voicemail's audio, fetched like message media (the media job calls this)."""
        return await fetch_media(url, max_bytes)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        raise PermanentSendError("a phone call cannot carry a written reply: call the resident "
                                 "back, or write to them by SMS")


VOICE_CHANNEL = TwilioVoiceChannel()
