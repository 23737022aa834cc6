"""Twilio Voice's TwiML: pure builders of what the caller hears (the twilio library's
`VoiceResponse`), where <Dial> rings an agent, and the menu's state carried in the URLs that
TwiML names.

Voicemail is transcribed while the caller speaks, by Twilio's Real-Time Transcription in the
language they chose in the menu; <Record> itself is never asked to transcribe (that
understands English only): one mechanism, one webhook, one code path for every language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from channels.twilio.common import webhook_url
from channels.twilio.messaging import PayloadError, normalise_phone
from channels.twilio.voice_config import Prompt, VoiceSettings

CLIENT_IDENTITY = re.compile(r"[A-Za-z0-9_.@-]{1,121}")
SIP_URI = re.compile(r"sips?:[^@\s]+@[^@\s]+")
TRANSCRIPTION_NAME = "voicemail"     # names the transcription so voicemail-done can stop it


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


def stored_voice_address(address: str) -> str:
    """A voice address as an account keeps it: a number as E.164, the others as given;
    ValueError (saying what one looks like) for anything <Dial> cannot ring."""
    target = dial_target(address)
    return target.value if target.kind == "number" else address.strip()


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
