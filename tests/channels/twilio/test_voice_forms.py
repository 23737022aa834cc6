"""Twilio Voice's webhook forms parsed into the inbox's neutral call record, on captured
payloads: pure."""

from __future__ import annotations

import pytest

from channels.twilio.messaging import PayloadError
from channels.twilio.voice_forms import (
    parse_call_end,
    parse_dial_result,
    parse_live_transcription,
    parse_recording,
)
from inbox import calls
from inbox.calls import CallOutcome
from inbox.messages import Attachment
from tests.channels.twilio.test_messaging import ACCOUNT_SID, fixture
from tests.channels.twilio.test_voice import (
    CALL_SID,
    CALLER,
    MONDAY_MORNING,
    RECORDING_SID,
    SEGMENTS_AZ,
    TRANSCRIPTION_SID,
)


def test_dial_results_are_parsed() -> None:
    answered = parse_dial_result(fixture("voice_dial_completed.txt"))
    assert (answered.call_id, answered.outcome, answered.duration_s) == \
        (CALL_SID, CallOutcome.COMPLETED, 95)
    assert answered.connected
    missed = parse_dial_result(fixture("voice_dial_no_answer.txt"))
    assert (missed.outcome, missed.duration_s, missed.connected) == \
        (CallOutcome.NO_ANSWER, 0, False)
    unbridged = parse_dial_result(fixture("voice_dial_completed.txt", DialBridged="false"))
    assert (unbridged.outcome, unbridged.connected) == (CallOutcome.NO_ANSWER, False)


def test_recordings_are_parsed() -> None:
    report = parse_recording(fixture("voice_recording.txt"))
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
    assert report.status == "completed"
    assert report.voicemail == calls.Voicemail(
        CALL_SID, RECORDING_SID,
        Attachment(content_type="audio/wav", filename=f"{RECORDING_SID}.wav", url=url))


def test_call_ends_are_parsed_and_progress_is_ignored() -> None:
    end = parse_call_end(fixture("voice_status_completed.txt"), MONDAY_MORNING)
    assert end == calls.CallEnd(CALL_SID, CALLER, CallOutcome.COMPLETED, 47, MONDAY_MORNING)
    assert parse_call_end(fixture("voice_status_canceled.txt"), MONDAY_MORNING).outcome == \
        CallOutcome.CANCELED
    assert parse_call_end(fixture("voice_status_busy.txt"), MONDAY_MORNING).outcome == \
        CallOutcome.BUSY
    assert parse_call_end(fixture("voice_status_no_answer.txt"), MONDAY_MORNING).outcome == \
        CallOutcome.NO_ANSWER
    assert parse_call_end(fixture("voice_status_completed.txt", CallStatus="in-progress"),
                          MONDAY_MORNING) is None
    withheld_end = parse_call_end(fixture("voice_status_busy.txt", From="anonymous"),
                                  MONDAY_MORNING)
    assert withheld_end.caller is None


def test_live_transcription_reports_are_parsed() -> None:
    started = parse_live_transcription(fixture("voice_transcription_started.txt"))
    assert started == calls.TranscriptionEvent(CALL_SID, TRANSCRIPTION_SID, 1, "started")
    content = parse_live_transcription(fixture("voice_transcription_content.txt"))
    assert content == calls.TranscriptionEvent(CALL_SID, TRANSCRIPTION_SID, 2, "content",
                                               SEGMENTS_AZ[0])
    # Only a final result of the caller's own track carries words.
    for changes in ({"Final": "false"}, {"Track": "outbound_track"}):
        other = parse_live_transcription(fixture("voice_transcription_content.txt", **changes))
        assert (other.kind, other.text) == ("content", None)
    stopped = parse_live_transcription(fixture("voice_transcription_stopped.txt"))
    assert (stopped.kind, stopped.sequence_id, stopped.text) == ("stopped", 5, None)
    error = parse_live_transcription(fixture("voice_transcription_error.txt"))
    assert (error.kind, error.sequence_id) == ("error", 2)
    unnumbered = parse_live_transcription(fixture("voice_transcription_stopped.txt",
                                                  SequenceId=""))
    assert (unnumbered.kind, unnumbered.sequence_id) == ("stopped", 0)



@pytest.mark.parametrize(("parser", "name", "changes", "error"), [
    (parse_dial_result, "voice_dial_completed.txt", {"DialCallStatus": "exploded"},
     "DialCallStatus"),
    (parse_dial_result, "voice_dial_completed.txt", {"CallSid": "CA123"}, "call sid"),
    (parse_dial_result, "voice_dial_completed.txt", {"DialCallDuration": "-3"}, "seconds"),
    (parse_recording, "voice_recording.txt", {"RecordingSid": ""}, "RecordingSid is missing"),
    (parse_recording, "voice_recording.txt", {"RecordingUrl": "http://evil.test/r"}, "https"),
    (parse_live_transcription, "voice_transcription_content.txt", {"TranscriptionSid": "GT1"},
     "transcription sid"),
    (parse_live_transcription, "voice_transcription_content.txt", {"SequenceId": "-1"},
     "SequenceId"),
    (parse_live_transcription, "voice_transcription_content.txt", {"SequenceId": ""},
     "SequenceId is missing"),
    (parse_live_transcription, "voice_transcription_content.txt",
     {"TranscriptionEvent": "transcription-paused"}, "TranscriptionEvent"),
    (parse_live_transcription, "voice_transcription_content.txt", {"Final": "maybe"}, "Final"),
    (parse_live_transcription, "voice_transcription_content.txt",
     {"TranscriptionData": "Salam"}, "TranscriptionData"),
    (parse_live_transcription, "voice_transcription_content.txt",
     {"TranscriptionData": '{"transcript": 7}'}, "TranscriptionData"),
    (parse_live_transcription, "voice_transcription_stopped.txt", {"CallSid": "CA1"},
     "call sid"),
])
def test_malformed_forms_are_refused(parser, name, changes, error) -> None:
    with pytest.raises(PayloadError, match=error):
        parser(fixture(name, **changes))
