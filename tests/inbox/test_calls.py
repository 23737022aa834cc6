"""The inbox's call record, pure parts: a voicemail's live transcript and why a call was
missed. Whole calls, through a channel, are tested with it (tests/channels/twilio/test_voice.py)."""

from __future__ import annotations

from inbox import calls
from inbox.calls import CallOutcome

CALL_ID, TRANSCRIPTION_ID = "call-1", "transcription-1"
SEGMENTS = ("Salam, mən Almaniyadan keçən ay qayıtmışam.",
            "Reintegrasiya proqramı üçün ilkin qeydiyyatdan keçmək istəyirəm.",
            "Zəhmət olmasa, mənə geri zəng edin.")


def live(*events: tuple[int, str, str | None]) -> calls.LiveTranscript:
    transcript = calls.LiveTranscript()
    for sequence, kind, text in events:
        transcript = transcript.with_event(
            calls.TranscriptionEvent(CALL_ID, TRANSCRIPTION_ID, sequence, kind, text), "az")
    return transcript


def test_the_live_transcript_is_its_final_segments_in_sequence_order() -> None:
    a, b, c = SEGMENTS
    assert live((1, "started", None), (3, "content", b), (2, "content", a)).text is None
    ended = live((3, "content", b), (11, "content", c), (2, "content", a), (3, "content", b),
                 (12, "stopped", None))
    assert ended.text == f"{a} {b} {c}"          # 11 after 3: numbers, not strings
    assert ended == calls.LiveTranscript.of({calls.LIVE_KEY: ended.as_json()})
    assert ended.with_event(calls.TranscriptionEvent(CALL_ID, TRANSCRIPTION_ID, 3, "content",
                                                     b), "az") == ended   # a retry
    assert live((1, "started", None), (2, "stopped", None)).text == calls.VOICEMAIL_NO_TRANSCRIPT
    failed = live((2, "content", a), (3, "error", None), (4, "stopped", None))
    assert (failed.ended, failed.text) == ("error", calls.VOICEMAIL_NO_TRANSCRIPT)


def test_a_missed_call_says_why_in_neutral_words() -> None:
    assert calls.missed_reason(CallOutcome.COMPLETED, chose=True) == calls.NO_AGENT
    assert calls.missed_reason(CallOutcome.COMPLETED, chose=False) == calls.HUNG_UP_IN_MENU
    for outcome in (CallOutcome.NO_ANSWER, CallOutcome.BUSY, CallOutcome.CANCELED,
                    CallOutcome.FAILED):
        assert calls.missed_reason(outcome, chose=True) == outcome
    assert CallOutcome.NO_ANSWER == "no_answer"
