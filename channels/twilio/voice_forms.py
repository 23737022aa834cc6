"""Twilio Voice's webhook forms: pure parsing into the inbox's neutral call record (Twilio's
call and dial statuses become `CallOutcome`s, its sids the call's and recording's ids), and
the reports of the voicemail's Real-Time Transcription."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from channels.twilio.messaging import PayloadError, normalise_phone
from inbox import calls
from inbox.calls import CallOutcome
from inbox.messages import Attachment
from web.http import parse_json

# Numbers Twilio shows for a caller who withheld theirs.
WITHHELD = frozenset({"anonymous", "restricted", "unknown", "unavailable", "+266696687",
                      "+7378742833", "+2562533", "+8656696", "+86282452253"})
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
TRANSCRIPTION_SID = re.compile(r"GT[0-9a-fA-F]{32}")
# A call's final CallStatus, and a <Dial>'s DialCallStatus, in the inbox's words; "answered"
# is what a dial to a SIP or client address reports when the agent picked up.
CALL_OUTCOMES = {"completed": CallOutcome.COMPLETED, "busy": CallOutcome.BUSY,
                 "no-answer": CallOutcome.NO_ANSWER, "canceled": CallOutcome.CANCELED,
                 "failed": CallOutcome.FAILED}
DIAL_OUTCOMES = {**CALL_OUTCOMES, "answered": CallOutcome.COMPLETED}
MAX_CALL_SECONDS = 4 * 3600    # Twilio ends any call after four hours
TRANSCRIPTION_EVENTS = {"transcription-started": "started", "transcription-content": "content",
                        "transcription-stopped": "stopped", "transcription-error": "error"}


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
    call_id: str
    outcome: CallOutcome
    duration_s: int

    @property
    def connected(self) -> bool:
        return self.outcome == CallOutcome.COMPLETED


def parse_dial_result(form: Mapping[str, str]) -> DialResult:
    status = _field(form, "DialCallStatus").lower()
    outcome = DIAL_OUTCOMES.get(status)
    if outcome is None:
        raise PayloadError(f"DialCallStatus {status!r} is not one Twilio sends")
    if (form.get("DialBridged") or "").lower() == "false" and outcome == CallOutcome.COMPLETED:
        outcome = CallOutcome.NO_ANSWER   # nobody was put through
    return DialResult(call_sid(form), outcome, _whole_seconds(form, "DialCallDuration"))


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
    outcome = CALL_OUTCOMES.get(status)
    if outcome is None:
        return None
    return calls.CallEnd(sid, caller(form), outcome, _whole_seconds(form, "CallDuration"),
                         ended_at)
