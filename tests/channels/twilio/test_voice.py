"""Twilio Voice: the TwiML builders and form parsing on captured payloads (pure), then whole
calls driven the way Twilio drives them, through the real app and database (SQLite and
PostgreSQL) and real Redis: each step posts the form Twilio would send, signed with the
twilio library, to the URL the previous TwiML named."""

from __future__ import annotations

import asyncio
import json
import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import create_app
from channels.twilio import voice as twilio_voice
from channels.twilio.messaging import PayloadError
from channels.twilio.voice import (
    DIAL_RESULT_PATH,
    LANGUAGE_PATH,
    LIVE_TRANSCRIPTION_PATH,
    MENU_PATH,
    RECORDING_PATH,
    STATUS_PATH,
    VOICE_PATH,
)
from channels.twilio.voice_config import (
    VoiceConfigError,
    VoiceSettings,
    load_prompt_texts,
    voice_settings,
)
from channels.twilio.voice_forms import (
    parse_call_end,
    parse_dial_result,
    parse_live_transcription,
    parse_recording,
)
from channels.twilio.voice_twiml import (
    MenuState,
    VoicemailUrls,
    dial,
    dial_target,
    goodbye,
    language_menu,
    parse_state,
    reason_menu,
    voicemail,
    withheld,
)
from inbox import calls, dispatch, sweeps
from inbox.auth import hash_password
from inbox.calls import CallOutcome
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.messages import Attachment
from inbox.storage.schema import conversations, events, messages
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    fixture,
    post,
    sign,
)

BAKU = ZoneInfo("Asia/Baku")
MONDAY_MORNING = datetime(2025, 7, 14, 10, 30, tzinfo=BAKU).astimezone(UTC)
SATURDAY = datetime(2025, 7, 19, 11, 0, tzinfo=BAKU).astimezone(UTC)
CALL_SID = "CA5b8e2f1c9d3a7e6b4f0c2d8a1e9b7f3c"
RECORDING_SID = "RE7d2c9e4b1a8f6e3d0c5b2a9f8e7d6c5b"
CALLER = "+994501234567"
AGENT_PHONE = "+994551234567"
AZ_PLAY = "https://media.example.gov.az/ivr/az"
TRANSCRIPTION_SID = "GT2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b"
URLS = VoicemailUrls(done=PUBLIC_URL + "/done", recording=PUBLIC_URL + RECORDING_PATH,
                     transcription=PUBLIC_URL + LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az")
# What an Azerbaijani caller says, as Twilio's final segments (SequenceId 2, 3, 4: the
# transcription's start is 1, its stop 5). Only all three together read as a registration.
SEGMENTS_AZ = ("Salam, mən Almaniyadan keçən ay qayıtmışam.",
               "Reintegrasiya proqramı üçün ilkin qeydiyyatdan keçmək istəyirəm.",
               "Zəhmət olmasa, mənə geri zəng edin.")
SEGMENTS_RU = ("Здравствуйте. У меня проблема с пособием,",
               "его не перечислили в этом месяце. Помогите, пожалуйста.")
SEGMENTS_EN = ("Hello, I returned from Germany last month",
               "and I would like to register for the reintegration programme.",
               "Please call me back.")


@pytest.fixture
def settings(config) -> VoiceSettings:
    return voice_settings(config.channels.section("twilio")["voice"], load_prompt_texts())


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


def spoken(element: ET.Element) -> list[tuple[str, str | None, str]]:
    """What a TwiML element says or plays, in order: (tag, language, text or URL)."""
    return [(child.tag, child.get("language"), child.text or "") for child in element
            if child.tag in ("Say", "Play")]


# --- settings and TwiML: pure --------------------------------------------------------------


def test_settings_merge_the_prompt_texts_with_the_config(settings) -> None:
    assert settings.languages == ("az", "ru", "en")
    assert (settings.ring_timeout_s, settings.voicemail_max_length_s) == (20, 120)
    assert settings.prompt("az", "reason_menu").play == AZ_PLAY + "/reason_menu.mp3"
    ru = settings.prompt("ru", "connecting")
    assert ru.play is None and ru.language == "ru-RU" and "оператором" in ru.say
    assert settings.prompt("en", "goodbye").say == \
        "Thank you for calling the contact centre. Goodbye."
    assert settings.language_for("2") == "ru"
    assert settings.language_for("4") is None and settings.language_for("") is None
    assert settings.transcription.engine == "google"
    assert [settings.language_code(lang) for lang in settings.languages] == \
        ["az-AZ", "ru-RU", "en-US"]
    assert settings.transcription.hints is None


def test_transcription_languages_engine_and_hints_come_from_the_config() -> None:
    settings = voice_settings({"languages": ["ru", "az"], "transcription": {
        "engine": "deepgram", "language_codes": {"ru": "ru"},
        "hints": ["DOST", "ASAN xidmət", "reintegrasiya"]}}, load_prompt_texts())
    assert settings.transcription.engine == "deepgram"
    assert dict(settings.transcription.language_codes) == {"ru": "ru", "az": "az-AZ"}
    assert settings.transcription.hints == "DOST,ASAN xidmət,reintegrasiya"


def test_without_recordings_azerbaijani_falls_back_to_text() -> None:
    settings = voice_settings({"languages": ["az"]}, load_prompt_texts())
    prompt = settings.prompt("az", "goodbye")
    assert prompt.play is None and prompt.say.startswith("Müraciətiniz üçün")
    assert prompt.language == "tr-TR"


@pytest.mark.parametrize(("raw", "key"), [
    ({"languages": ["az", "de"]}, "channels.twilio.voice.languages"),
    ({"languages": ["az", "az"]}, "channels.twilio.voice.languages"),
    ({"ring_timeout": "soon"}, "channels.twilio.voice.ring_timeout"),
    ({"voicemail_max_length": "3h"}, "channels.twilio.voice.voicemail_max_length"),
    ({"prompts": {"ru": {"greeting": "Привет"}}}, "channels.twilio.voice.prompts.ru.greeting"),
    ({"prompts": {"ru": {"goodbye": {"play": "ftp://x"}}}},
     "channels.twilio.voice.prompts.ru.goodbye.play"),
    ({"prompts": {"en": {"goodbye": {}}}}, "channels.twilio.voice.prompts.en.goodbye"),
    ({"menu_attempts": 0}, "channels.twilio.voice.menu_attempts"),
    ({"transcription": "google"}, "channels.twilio.voice.transcription"),
    ({"transcription": {"model": "x"}}, "channels.twilio.voice.transcription.model"),
    ({"transcription": {"engine": "whisper"}}, "channels.twilio.voice.transcription.engine"),
    ({"transcription": {"language_codes": ["az-AZ"]}},
     "channels.twilio.voice.transcription.language_codes"),
    ({"transcription": {"language_codes": {"de": "de-DE"}}},
     "channels.twilio.voice.transcription.language_codes.de"),
    ({"transcription": {"language_codes": {"az": "Azerbaijani"}}},
     "channels.twilio.voice.transcription.language_codes.az"),
    ({"transcription": {"language_codes": {"ru": 7}}},
     "channels.twilio.voice.transcription.language_codes.ru"),
    ({"transcription": {"hints": "DOST"}}, "channels.twilio.voice.transcription.hints"),
    ({"transcription": {"hints": ["DOST, ASAN"]}}, "channels.twilio.voice.transcription.hints"),
])
def test_unusable_voice_config_names_its_key(raw, key) -> None:
    with pytest.raises(VoiceConfigError, match=key.replace(".", r"\.")):
        voice_settings(raw, load_prompt_texts())


def test_the_language_menu_offers_each_language_in_its_own_words(settings) -> None:
    root = twiml(language_menu(settings, PUBLIC_URL + LANGUAGE_PATH + "?t=1"))
    [gather] = root
    assert gather.tag == "Gather"
    assert gather.attrib == {"action": PUBLIC_URL + LANGUAGE_PATH + "?t=1", "method": "POST",
                             "numDigits": "1", "timeout": "6", "actionOnEmptyResult": "true"}
    assert spoken(gather) == [
        ("Play", None, AZ_PLAY + "/language_menu.mp3"),
        ("Say", "ru-RU", "Для обслуживания на русском языке нажмите 2."),
        ("Say", "en-US", "For English, press 3."),
    ]


def test_the_reason_menu_speaks_the_chosen_language(settings) -> None:
    root = twiml(reason_menu(settings, "ru", "http://x/menu", invalid=True))
    say, gather = root
    assert (say.tag, say.get("language")) == ("Say", "ru-RU") and "недоступен" in say.text
    assert gather.get("action") == "http://x/menu"
    [(_, language, text)] = spoken(gather)
    assert language == "ru-RU" and text.startswith("Для первичной регистрации нажмите 1")


@pytest.mark.parametrize(("address", "tag", "value"), [
    ("+994 55 123 45 67", "Number", AGENT_PHONE),
    ("0551234567", "Number", AGENT_PHONE),
    ("sip:aysel@pbx.example.gov.az", "Sip", "sip:aysel@pbx.example.gov.az"),
    ("client:aysel.m", "Client", "aysel.m"),
])
def test_dial_rings_the_agents_number_sip_or_client(settings, address, tag, value) -> None:
    root = twiml(dial(settings, "en", dial_target(address), "http://x/dial-result?agent=7"))
    say, verb = root
    assert say.text == "Connecting you to an operator. Please hold."
    assert verb.tag == "Dial"
    assert verb.attrib == {"action": "http://x/dial-result?agent=7", "method": "POST",
                           "timeout": "20", "answerOnBridge": "true"}
    [target] = verb
    assert (target.tag, target.text) == (tag, value)


@pytest.mark.parametrize("address", ["12", "sip:nohost", "client:", "client:a b", "mailto:x@y"])
def test_unusable_voice_addresses_are_refused(address) -> None:
    with pytest.raises(ValueError, match="address"):
        dial_target(address)


@pytest.mark.parametrize(("language", "code"), [("az", "az-AZ"), ("ru", "ru-RU"),
                                              ("en", "en-US")])
def test_voicemail_is_transcribed_live_in_the_callers_language(settings, language,
                                                               code) -> None:
    root = twiml(voicemail(settings, language, True, URLS))
    assert [child.tag for child in root] == ["Start", spoken(root)[0][0], "Record",
                                             spoken(root)[1][0], "Hangup"]
    [transcription] = root[0]
    assert transcription.tag == "Transcription"
    assert transcription.attrib == {
        "name": "voicemail", "track": "inbound_track", "statusCallbackUrl": URLS.transcription,
        "statusCallbackMethod": "POST", "partialResults": "false", "languageCode": code,
        "transcriptionEngine": "google", "enableAutomaticPunctuation": "true"}


def test_voicemail_records_the_message_without_recording_transcription(settings) -> None:
    root = twiml(voicemail(settings, "en", True, URLS))
    assert root[1].text.startswith("We are closed at the moment")
    # <Record transcribe> understands English only: the live transcription does every language.
    assert root[2].attrib == {
        "action": URLS.done, "method": "POST", "maxLength": "120", "timeout": "10",
        "finishOnKey": "#", "playBeep": "true", "recordingStatusCallback": URLS.recording,
        "recordingStatusCallbackMethod": "POST", "recordingStatusCallbackEvent": "completed"}
    busy = twiml(voicemail(settings, "az", False, URLS))
    assert busy[1].tag == "Play" and busy[1].text == AZ_PLAY + "/voicemail_unavailable.mp3"
    hinted = voice_settings({"transcription": {"hints": ["DOST", "FİN"]}}, load_prompt_texts())
    assert only(twiml(voicemail(hinted, "az", True, URLS)), "Transcription").get("hints") == \
        "DOST,FİN"


def test_the_goodbye_after_a_voicemail_stops_its_transcription(settings) -> None:
    root = twiml(goodbye(settings, "ru", stop_transcription=True))
    assert [child.tag for child in root] == ["Stop", "Say", "Hangup"]
    assert root[0][0].attrib == {"name": "voicemail"}
    assert [child.tag for child in twiml(goodbye(settings, "ru"))] == ["Say", "Hangup"]


def test_withheld_numbers_hear_why_in_every_language(settings) -> None:
    root = twiml(withheld(settings))
    assert [child.tag for child in root] == ["Play", "Say", "Say", "Hangup"]


# --- parsing: pure -------------------------------------------------------------------------


def test_the_menu_state_survives_its_round_trip_through_the_url(settings) -> None:
    state = MenuState(MONDAY_MORNING, "ru", 2, 17)
    assert parse_state(state.query(), settings) == state
    for query in ({}, {"t": "x"}, {"t": "1", "lang": "de"}, {"t": "1", "agent": "-1"}):
        with pytest.raises(PayloadError):
            parse_state(query, settings)


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


def live(*events: tuple[int, str, str | None]) -> calls.LiveTranscript:
    transcript = calls.LiveTranscript()
    for sequence, kind, text in events:
        transcript = transcript.with_event(
            calls.TranscriptionEvent(CALL_SID, TRANSCRIPTION_SID, sequence, kind, text), "az")
    return transcript


def test_the_live_transcript_is_its_final_segments_in_sequence_order() -> None:
    a, b, c = SEGMENTS_AZ
    assert live((1, "started", None), (3, "content", b), (2, "content", a)).text is None
    ended = live((3, "content", b), (11, "content", c), (2, "content", a), (3, "content", b),
                 (12, "stopped", None))
    assert ended.text == f"{a} {b} {c}"          # 11 after 3: numbers, not strings
    assert ended == calls.LiveTranscript.of({calls.LIVE_KEY: ended.as_json()})
    assert ended.with_event(calls.TranscriptionEvent(CALL_SID, TRANSCRIPTION_SID, 3, "content",
                                                     b), "az") == ended   # a retry
    assert live((1, "started", None), (2, "stopped", None)).text == calls.VOICEMAIL_NO_TRANSCRIPT
    failed = live((2, "content", a), (3, "error", None), (4, "stopped", None))
    assert (failed.ended, failed.text) == ("error", calls.VOICEMAIL_NO_TRANSCRIPT)


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


# --- whole calls through the real app and database -----------------------------------------


@pytest.fixture
async def client(environment, config, monkeypatch, aiohttp_client):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    return await aiohttp_client(create_app(config))


def at(monkeypatch, moment: datetime) -> None:
    """The channel's clock: business hours are decided against it."""
    monkeypatch.setattr(twilio_voice, "utcnow", lambda: moment)


async def step(client, url: str, name: str, **changes: str) -> ET.Element | None:
    """Post a captured form (with changes) the way Twilio would, signed, to `url`; the
    answer's TwiML, or None when it has none."""
    response = await post(client, url, fixture(name, **changes))
    assert response.status == 200, await response.text()
    text = await response.text()
    return twiml(text) if text else None


def only(root: ET.Element, tag: str) -> ET.Element:
    [element] = root.iter(tag)
    return element


async def agent(ctx, voice_address: str | None = AGENT_PHONE,
                queues: tuple[str, ...] = ("migration-registration",)) -> int:
    async with ctx.store.transaction() as tx:
        return await tx.users.save("aysel@example.gov.az", name="Aysel", role="agent",
                                  queues=list(queues), languages=["az", "ru", "en"],
                                  capacity={"chat": 3}, password_hash=hash_password("x" * 8),
                                  presence="online", voice_address=voice_address)


async def table(ctx, table_) -> list[dict]:
    async with ctx.store.read() as tx:
        rows = await tx.conn.execute(select(table_).order_by(table_.c.id))
        return [dict(row._mapping) for row in rows]


async def call_events(ctx) -> list[tuple[str, dict]]:
    """(type, data without call_id) of every event that belongs to the call."""
    found = []
    for row in await table(ctx, events):
        data = dict(row["data"] or {})
        if data.pop("call_id", None) == CALL_SID:
            found.append((row["type"], data))
    return found


async def choose(client, language: str, reason: str | None) -> ET.Element:
    """Incoming call, then the language; then the reason when given. The last TwiML."""
    root = await step(client, PUBLIC_URL + VOICE_PATH, "voice_incoming.txt")
    root = await step(client, only(root, "Gather").get("action"), "voice_gather.txt",
                      Digits=language)
    if reason is not None:
        root = await step(client, only(root, "Gather").get("action"), "voice_gather.txt",
                          Digits=reason)
    return root


async def say(client, url: str, sequence: int, text: str, **changes: str) -> None:
    """One final segment of the caller's words, as Twilio reports it to the TwiML's URL."""
    data = json.dumps({"transcript": text, "confidence": 0.91}, ensure_ascii=False)
    await step(client, url, "voice_transcription_content.txt", SequenceId=str(sequence),
               TranscriptionData=data, **changes)


def live_url(root: ET.Element) -> str:
    """The voicemail TwiML's <Start><Transcription statusCallbackUrl>."""
    start = only(root, "Start")
    [transcription] = start
    assert transcription.tag == "Transcription"
    return transcription.get("statusCallbackUrl")


async def voicemail_message(ctx) -> dict:
    call_item, voicemail_ = await table(ctx, messages)
    assert call_item["external_id"] == CALL_SID and voicemail_["external_id"] == RECORDING_SID
    return voicemail_


async def typed(ctx, type_: str) -> list[dict]:
    return [e["data"] for e in await table(ctx, events) if e["type"] == type_]


async def test_a_call_after_hours_leaves_a_voicemail_with_its_transcript(client, ctx,
                                                                        monkeypatch) -> None:
    at(monkeypatch, SATURDAY)
    root = await choose(client, "3", "1")      # English; initial registration
    assert spoken(root)[0][2].startswith("We are closed at the moment")
    record = only(root, "Record")
    assert record.get("transcribe") is None and record.get("transcribeCallback") is None
    url = live_url(root)
    assert only(root, "Transcription").get("languageCode") == "en-US"
    assert await call_events(ctx) == [
        ("call_started", {"message_id": 1}),
        ("ivr_choice", {"language": "en", "reason": "registration",
                        "category": "registration"}),
        ("missed", {"reason": "closed"}),
    ]
    callbacks = [
        (url, "voice_transcription_started.txt", {}),
        (record.get("recordingStatusCallback"), "voice_recording.txt", {}),
        *((url, "voice_transcription_content.txt",
           {"SequenceId": str(n), "LanguageCode": "en-US",
            "TranscriptionData": json.dumps({"transcript": text, "confidence": 0.9})})
          for n, text in enumerate(SEGMENTS_EN, start=2)),
        (record.get("action"), "voice_gather.txt", {}),
        (url, "voice_transcription_stopped.txt", {}),
        (PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt", {}),
    ]
    answers = [await step(client, url_, name, **changes) for url_, name, changes in callbacks]
    done = answers[-3]
    assert [child.tag for child in done] == ["Stop", "Say", "Hangup"]
    assert spoken(done) == [("Say", "en-US", "Thank you for calling the contact centre. Goodbye.")]

    [conversation] = await table(ctx, conversations)
    assert (conversation["channel"], conversation["category"], conversation["queue"],
            conversation["language"], conversation["status"]) == \
        ("voice", "registration", "migration-registration", "en", "waiting")
    assert conversation["category_confidence"] == 1.0
    assert conversation["category_source"] == "hint"
    call_item, voicemail_ = await table(ctx, messages)
    assert (call_item["external_id"], call_item["body"]) == (CALL_SID, calls.CALL_TEXT)
    assert voicemail_["external_id"] == RECORDING_SID and voicemail_["channel"] == "voice"
    assert voicemail_["body"] == " ".join(SEGMENTS_EN)
    [audio] = voicemail_["attachments"]
    assert (audio["content_type"], audio["filename"]) == ("audio/wav", f"{RECORDING_SID}.wav")
    # Twilio's URL, kept for the media job that fetches the audio with the credentials.
    assert fixture("voice_recording.txt")["RecordingUrl"] in (audio.get("source_url"),
                                                             audio["url"])
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(conversation["contact_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
    assert contact["phone"] == identity["address"] == CALLER
    assert await call_events(ctx) == [
        ("call_started", {"message_id": call_item["id"]}),
        ("ivr_choice", {"language": "en", "reason": "registration",
                        "category": "registration"}),
        ("missed", {"reason": "closed"}),
        ("call_ended", {"duration_s": 47, "status": "completed"}),
        ("callback_requested", {"reason": "closed", "queue": "migration-registration"}),
    ]
    types = [e["type"] for e in await table(ctx, events)]
    assert types.count("voicemail_transcribed") == 1 and types.count("routed") == 1
    # The caller's own choice decided the category: the words do not reclassify it.
    assert types.count("classified") == 1

    # Twilio retries every callback: nothing is stored twice.
    before = (await table(ctx, messages), await table(ctx, events))
    await step(client, PUBLIC_URL + VOICE_PATH, "voice_incoming.txt")
    for url_, name, changes in callbacks:
        await step(client, url_, name, **changes)
    await choose(client, "3", "1")
    assert (await table(ctx, messages), await table(ctx, events)) == before


async def test_an_azerbaijani_voicemail_is_transcribed_live_and_classified_from_its_words(
        client, ctx, monkeypatch, caplog) -> None:
    for logger in ("channels", "inbox", "routing"):
        caplog.set_level(logging.DEBUG, logger=logger)
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")      # Azerbaijani; an operator: no category
    transcription = only(root, "Transcription")
    assert transcription.get("languageCode") == "az-AZ"
    assert transcription.get("transcriptionEngine") == "google"
    url = live_url(root)
    assert url.startswith(PUBLIC_URL + LIVE_TRANSCRIPTION_PATH + "?") and "lang=az" in url
    record = only(root, "Record")
    [conversation] = await table(ctx, conversations)
    assert (conversation["queue"], conversation["category_source"]) == ("triage", "empty")

    await step(client, url, "voice_transcription_started.txt")
    await step(client, record.get("recordingStatusCallback"), "voice_recording.txt")
    # Twilio's reports come out of order, and one twice (a retry).
    for sequence in (3, 2, 4, 3):
        await say(client, url, sequence, SEGMENTS_AZ[sequence - 2])
    assert (await voicemail_message(ctx))["body"] == calls.VOICEMAIL_PENDING   # still speaking
    done = await step(client, record.get("action"), "voice_gather.txt")
    assert [child.tag for child in done] == ["Stop", "Play", "Hangup"]
    await step(client, url, "voice_transcription_stopped.txt")
    await step(client, PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt")

    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["body"] == " ".join(SEGMENTS_AZ)
    [conversation] = await table(ctx, conversations)
    assert (conversation["category"], conversation["category_source"], conversation["queue"],
            conversation["language"], conversation["status"]) == \
        ("registration", "model", "migration-registration", "az", "waiting")
    assert conversation["category_confidence"] >= 0.6
    assert await typed(ctx, "voicemail_transcribed") == [
        {"message_id": voicemail_["id"], "transcribed": True}]
    first, again = await typed(ctx, "classified")
    assert (first["category"], first["source"]) == ("inquiry", "empty")     # the call's "📞"
    assert (again["category"], again["source"], again["language"]) == \
        ("registration", "model", "az")
    assert (again["message_id"], again["reason"]) == (voicemail_["id"], "voicemail transcript")
    routed = await typed(ctx, "routed")
    assert [r["queue"] for r in routed] == ["triage", "migration-registration"]
    assert routed[1]["reason"].startswith("voicemail transcript: rule ")
    # The call ended after that: its callback task waits in the queue the words chose.
    assert ("callback_requested", {"reason": "closed", "queue": "migration-registration"}) in \
        await call_events(ctx)

    # Every report again, in another order: nothing changes.
    before = (await table(ctx, messages), await table(ctx, events),
              await table(ctx, conversations))
    await step(client, url, "voice_transcription_stopped.txt")
    for sequence in (4, 2, 3):
        await say(client, url, sequence, SEGMENTS_AZ[sequence - 2])
    await step(client, url, "voice_transcription_started.txt")
    await step(client, record.get("recordingStatusCallback"), "voice_recording.txt")
    assert (await table(ctx, messages), await table(ctx, events),
            await table(ctx, conversations)) == before
    # Logs name the call, never the caller's number or words.
    assert CALL_SID in caplog.text
    for secret in (CALLER, CALLER[1:], *SEGMENTS_AZ, "Almaniyadan"):
        assert secret not in caplog.text


async def test_the_live_transcript_may_end_before_the_recording_is_ready(client, ctx,
                                                                        monkeypatch) -> None:
    at(monkeypatch, SATURDAY)
    root = await choose(client, "2", "0")      # Russian; an operator
    assert only(root, "Transcription").get("languageCode") == "ru-RU"
    url = live_url(root)
    for sequence, text in ((3, SEGMENTS_RU[1]), (2, SEGMENTS_RU[0])):
        await say(client, url, sequence, text, LanguageCode="ru-RU")
    await step(client, url, "voice_transcription_stopped.txt", SequenceId="4")
    assert [m["external_id"] for m in await table(ctx, messages)] == [CALL_SID]
    assert (await typed(ctx, "voicemail_transcribed")) == []

    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["body"] == " ".join(SEGMENTS_RU)
    assert len(voicemail_["attachments"]) == 1
    assert await typed(ctx, "voicemail_transcribed") == [
        {"message_id": voicemail_["id"], "transcribed": True}]
    [conversation] = await table(ctx, conversations)
    assert (conversation["category"], conversation["category_source"],
            conversation["language"]) == ("support", "model", "ru")
    assert conversation["queue"] == "call-centre-142"
    assert [c["message_id"] for c in await typed(ctx, "classified") if "message_id" in c] == \
        [voicemail_["id"]]


async def test_reports_arriving_all_at_once_lose_no_words(client, ctx, monkeypatch) -> None:
    """Twilio does not wait for one report before sending the next: the segments, the stop
    and the recording's callback race, and the voicemail still ends with every word."""
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")
    url = live_url(root)
    await asyncio.gather(
        step(client, only(root, "Record").get("recordingStatusCallback"), "voice_recording.txt"),
        *(say(client, url, sequence, text) for sequence, text in enumerate(SEGMENTS_AZ, 2)),
        step(client, url, "voice_transcription_stopped.txt"),
        say(client, url, 3, SEGMENTS_AZ[1]))
    assert (await voicemail_message(ctx))["body"] == " ".join(SEGMENTS_AZ)
    assert len(await typed(ctx, "voicemail_transcribed")) == 1
    [conversation] = await table(ctx, conversations)
    assert (conversation["category"], conversation["queue"]) == \
        ("registration", "migration-registration")


@pytest.mark.parametrize("ending", ["error", "silence"])
async def test_a_failed_or_silent_transcription_leaves_the_no_transcript_text(
        client, ctx, monkeypatch, ending) -> None:
    at(monkeypatch, SATURDAY)
    root = await choose(client, "2", "0")      # Russian; an operator
    url = live_url(root)
    await step(client, url, "voice_transcription_started.txt")
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    if ending == "error":
        await step(client, url, "voice_transcription_error.txt")
        await say(client, url, 3, SEGMENTS_RU[0])       # nothing after an error counts
    await step(client, url, "voice_transcription_stopped.txt")
    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["body"] == calls.VOICEMAIL_NO_TRANSCRIPT
    assert len(voicemail_["attachments"]) == 1
    assert await typed(ctx, "voicemail_transcribed") == [
        {"message_id": voicemail_["id"], "transcribed": False}]
    [conversation] = await table(ctx, conversations)
    assert (conversation["category_source"], conversation["queue"]) == ("empty", "triage")
    assert len(await typed(ctx, "classified")) == 1


# --- a transcription whose stop never comes; a voicemail routing meets before its words -----


async def overdue(ctx) -> None:
    """The voicemail was stored longer ago than a transcription's stop is waited for."""
    voicemail_ = await voicemail_message(ctx)
    async with ctx.store.transaction() as tx:
        await tx.messages.update(voicemail_["id"], created_at=voicemail_["created_at"]
                                - calls.TRANSCRIPT_WAIT - timedelta(minutes=1))


async def published(pubsub) -> list[str]:
    """The types of the live events published so far."""
    kinds = []
    while (event := await pubsub.get_message(timeout=1)) is not None:
        kinds.append(json.loads(event["data"])["type"])
    return kinds


async def test_the_sweep_ends_a_transcription_whose_stop_never_came(client, ctx, monkeypatch,
                                                                   caplog) -> None:
    """Twilio gives a status callback up after three failed deliveries: the segments kept
    become the voicemail's text as if the stop had come, classified and announced alike."""
    for logger in ("channels", "inbox", "routing"):
        caplog.set_level(logging.DEBUG, logger=logger)
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")      # Azerbaijani; an operator: no category
    url = live_url(root)
    await step(client, url, "voice_transcription_started.txt")
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    for sequence, text in enumerate(SEGMENTS_AZ, start=2):
        await say(client, url, sequence, text)
    # The stop is lost. Not yet overdue: the sweep leaves the voicemail waiting.
    assert (await sweeps._sweep())["voicemails_finalised"] == 0
    assert (await voicemail_message(ctx))["body"] == calls.VOICEMAIL_PENDING

    await overdue(ctx)
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    await pubsub.get_message(timeout=1)
    assert (await sweeps._sweep())["voicemails_finalised"] == 1
    kinds = await published(pubsub)
    await pubsub.aclose()
    assert "conversation.updated" in kinds and kinds.count("queue.updated") == 2   # moved

    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["body"] == " ".join(SEGMENTS_AZ)
    assert await typed(ctx, "voicemail_transcribed") == [
        {"message_id": voicemail_["id"], "transcribed": True}]
    [conversation] = await table(ctx, conversations)
    assert (conversation["category"], conversation["category_source"],
            conversation["queue"]) == ("registration", "model", "migration-registration")
    _, again = await typed(ctx, "classified")
    assert (again["message_id"], again["reason"]) == (voicemail_["id"], "voicemail transcript")
    assert [r["queue"] for r in await typed(ctx, "routed")] == ["triage",
                                                               "migration-registration"]

    # The stop after all, a retried segment, another sweep: nothing changes.
    before = (await table(ctx, messages), await table(ctx, events),
              await table(ctx, conversations))
    await step(client, url, "voice_transcription_stopped.txt")
    await say(client, url, 3, SEGMENTS_AZ[1])
    assert (await sweeps._sweep())["voicemails_finalised"] == 0
    assert (await table(ctx, messages), await table(ctx, events),
            await table(ctx, conversations)) == before
    assert CALL_SID in caplog.text
    for secret in (CALLER, CALLER[1:], *SEGMENTS_AZ):
        assert secret not in caplog.text


async def test_an_overdue_transcription_without_segments_leaves_the_no_transcript_text(
        client, ctx, monkeypatch) -> None:
    at(monkeypatch, SATURDAY)
    root = await choose(client, "2", "0")      # Russian; an operator
    await step(client, live_url(root), "voice_transcription_started.txt")
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    await overdue(ctx)
    assert await calls.finish_overdue_transcripts(ctx) == [CALL_SID]
    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["body"] == calls.VOICEMAIL_NO_TRANSCRIPT
    assert await typed(ctx, "voicemail_transcribed") == [
        {"message_id": voicemail_["id"], "transcribed": False}]
    [conversation] = await table(ctx, conversations)
    assert (conversation["category_source"], conversation["queue"]) == ("empty", "triage")
    assert len(await typed(ctx, "classified")) == 1
    assert await calls.finish_overdue_transcripts(ctx) == []


@pytest.mark.parametrize("ended_by", ["stop", "sweep"])
async def test_a_segment_that_comes_after_the_end_still_takes_its_place(client, ctx, monkeypatch,
                                                                       ended_by) -> None:
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")
    url = live_url(root)
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    await say(client, url, 2, SEGMENTS_AZ[0])
    await say(client, url, 4, SEGMENTS_AZ[2])
    if ended_by == "stop":
        await step(client, url, "voice_transcription_stopped.txt")
    else:
        await overdue(ctx)
        assert await calls.finish_overdue_transcripts(ctx) == [CALL_SID]
    assert (await voicemail_message(ctx))["body"] == f"{SEGMENTS_AZ[0]} {SEGMENTS_AZ[2]}"
    await say(client, url, 3, SEGMENTS_AZ[1])       # Twilio's retry of a failed delivery
    assert (await voicemail_message(ctx))["body"] == " ".join(SEGMENTS_AZ)
    assert len(await typed(ctx, "voicemail_transcribed")) == 1
    [conversation] = await table(ctx, conversations)
    assert (conversation["category"], conversation["queue"]) == \
        ("registration", "migration-registration")


async def test_the_sweep_and_a_late_stop_at_once_write_the_text_once(client, ctx,
                                                                    monkeypatch) -> None:
    """Both take the call's conversation lock: whichever comes second finds the
    transcription ended and changes nothing."""
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")
    url = live_url(root)
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    for sequence, text in enumerate(SEGMENTS_AZ, start=2):
        await say(client, url, sequence, text)
    await overdue(ctx)
    finished, _ = await asyncio.gather(calls.finish_overdue_transcripts(ctx),
                                       step(client, url, "voice_transcription_stopped.txt"))
    assert finished in ([], [CALL_SID])
    assert (await voicemail_message(ctx))["body"] == " ".join(SEGMENTS_AZ)
    assert len(await typed(ctx, "voicemail_transcribed")) == 1
    assert [c["source"] for c in await typed(ctx, "classified")] == ["empty", "model"]
    assert [r["queue"] for r in await typed(ctx, "routed")] == ["triage",
                                                               "migration-registration"]


async def test_a_voicemail_that_opens_a_conversation_is_not_classified_on_its_placeholder(
        client, ctx, monkeypatch) -> None:
    """The call's conversation was resolved before the recording's callback: the voicemail
    opens a new one while its transcript is pending. Routing has nothing to read in the
    placeholder, so even a vague transcript classifies the conversation once it comes."""
    at(monkeypatch, SATURDAY)
    root = await choose(client, "1", "0")
    url = live_url(root)
    [call_conversation] = await table(ctx, conversations)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(call_conversation["id"], status="resolved",
                                     resolved_at=SATURDAY)
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    _, conversation = await table(ctx, conversations)
    voicemail_ = await voicemail_message(ctx)
    assert voicemail_["conversation_id"] == conversation["id"]
    assert (conversation["category_source"], conversation["queue"]) == ("empty", "triage")

    await say(client, url, 2, SEGMENTS_AZ[2])      # "Please call me back."
    await step(client, url, "voice_transcription_stopped.txt")
    assert (await voicemail_message(ctx))["body"] == SEGMENTS_AZ[2]
    _, conversation = await table(ctx, conversations)
    assert conversation["category_source"] == "model"
    classified = [e["data"] for e in await table(ctx, events)
                  if e["type"] == "classified" and e["conversation_id"] == conversation["id"]]
    assert [c["source"] for c in classified] == ["empty", "model"]
    assert (classified[1]["message_id"], classified[1]["reason"]) == \
        (voicemail_["id"], "voicemail transcript")


@pytest.mark.parametrize("transcribed", [True, False])
async def test_a_call_left_unrouted_by_a_crash_is_routed_on_its_voicemails_transcript(
        client, ctx, monkeypatch, transcribed) -> None:
    """A crash between storing the call and routing it: the sweep routes the conversation
    later, on the voicemail's transcript if it has come, not on the call's item."""
    at(monkeypatch, SATURDAY)
    route = dispatch.route_conversation

    async def crashed(*args, **kwargs) -> None:
        pass

    monkeypatch.setattr(dispatch, "route_conversation", crashed)
    root = await choose(client, "1", "0")      # Azerbaijani; an operator: no category
    monkeypatch.setattr(dispatch, "route_conversation", route)
    url = live_url(root)
    await step(client, only(root, "Record").get("recordingStatusCallback"),
               "voice_recording.txt")
    if transcribed:
        for sequence, text in enumerate(SEGMENTS_AZ, start=2):
            await say(client, url, sequence, text)
        await step(client, url, "voice_transcription_stopped.txt")
    [conversation] = await table(ctx, conversations)
    assert conversation["routed_at"] is None and await typed(ctx, "classified") == []

    assert await dispatch.route_unrouted(ctx, older_than_s=0) == [conversation["id"]]
    [conversation] = await table(ctx, conversations)
    [classified] = await typed(ctx, "classified")
    if transcribed:
        assert (conversation["category"], conversation["category_source"],
                conversation["queue"]) == ("registration", "model", "migration-registration")
        assert classified["language"] == "az"
    else:   # the call's item and a placeholder: nothing to read
        assert (conversation["category_source"], conversation["queue"]) == ("empty", "triage")


async def test_in_business_hours_an_online_agent_is_rung_and_no_answer_means_voicemail(
        client, ctx, monkeypatch) -> None:
    agent_id = await agent(ctx)
    at(monkeypatch, MONDAY_MORNING)
    root = await choose(client, "2", "1")       # Russian; initial registration
    assert spoken(root) == [("Say", "ru-RU",
                             "Соединяем вас с оператором. Пожалуйста, оставайтесь на линии.")]
    verb = only(root, "Dial")
    assert only(verb, "Number").text == AGENT_PHONE
    assert verb.get("timeout") == "20"
    assert verb.get("action").startswith(PUBLIC_URL + DIAL_RESULT_PATH + "?")
    assert f"agent={agent_id}" in verb.get("action") and "lang=ru" in verb.get("action")

    root = await step(client, verb.get("action"), "voice_dial_no_answer.txt")
    assert spoken(root)[0] == ("Say", "ru-RU", "Все операторы сейчас заняты. После сигнала "
                               "назовите своё имя и суть обращения, и мы вам перезвоним.")
    assert only(root, "Transcription").get("languageCode") == "ru-RU"
    assert "lang=ru" in live_url(root) and "agent=" not in live_url(root)
    record = only(root, "Record")
    await step(client, record.get("recordingStatusCallback"), "voice_recording.txt")
    await step(client, PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt")
    assert [(t, d) for t, d in await call_events(ctx) if t != "call_started"] == [
        ("ivr_choice", {"language": "ru", "reason": "registration",
                        "category": "registration"}),
        ("ringing", {"agent_id": agent_id}),
        ("missed", {"reason": "no_answer", "agent_id": agent_id}),
        ("call_ended", {"duration_s": 47, "status": "completed"}),
        ("callback_requested", {"reason": "no_answer", "queue": "migration-registration"}),
    ]
    _, voicemail_ = await table(ctx, messages)
    assert voicemail_["body"] == calls.VOICEMAIL_PENDING


async def test_an_answered_call_makes_the_conversation_the_agents(client, ctx,
                                                                  monkeypatch) -> None:
    agent_id = await agent(ctx, voice_address="sip:aysel@pbx.example.gov.az")
    at(monkeypatch, MONDAY_MORNING)
    verb = only(await choose(client, "1", "1"), "Dial")
    assert only(verb, "Sip").text == "sip:aysel@pbx.example.gov.az"
    root = await step(client, verb.get("action"), "voice_dial_completed.txt")
    assert [child.tag for child in root] == ["Play", "Hangup"]
    await step(client, PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt",
               CallDuration="130")
    await step(client, verb.get("action"), "voice_dial_completed.txt")    # a retry
    [conversation] = await table(ctx, conversations)
    assert (conversation["status"], conversation["assignee_id"]) == ("open", agent_id)
    assert conversation["first_response_at"] == MONDAY_MORNING - timedelta(seconds=95)
    assert [t for t, _ in await call_events(ctx)] == [
        "call_started", "ivr_choice", "ringing", "connected", "call_ended"]
    assert ("connected", {"agent_id": agent_id}) in await call_events(ctx)


async def test_nobody_with_a_voice_address_means_voicemail(client, ctx, monkeypatch) -> None:
    await agent(ctx, voice_address=None)
    at(monkeypatch, MONDAY_MORNING)
    root = await choose(client, "3", "1")
    assert only(root, "Record") is not None
    assert ("missed", {"reason": "no_agent"}) in await call_events(ctx)


async def test_hanging_up_in_the_menu_leaves_a_callback_task(client, ctx, monkeypatch) -> None:
    at(monkeypatch, MONDAY_MORNING)
    await choose(client, "2", None)             # chose Russian, then hung up
    assert await table(ctx, conversations) == []
    for _ in range(2):
        await step(client, PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt",
                   CallDuration="12")
    [conversation] = await table(ctx, conversations)
    assert (conversation["status"], conversation["queue"], conversation["channel"]) == \
        ("waiting", "triage", "voice")
    [item] = await table(ctx, messages)
    assert item["external_id"] == CALL_SID
    assert await call_events(ctx) == [
        ("call_started", {"message_id": item["id"]}),
        ("call_ended", {"duration_s": 12, "status": "completed"}),
        ("missed", {"reason": calls.HUNG_UP_IN_MENU}),
        ("callback_requested", {"reason": calls.HUNG_UP_IN_MENU, "queue": "triage"}),
    ]
    started = next(e for e in await table(ctx, events) if e["type"] == "call_started")
    assert started["created_at"] == MONDAY_MORNING - timedelta(seconds=12)


@pytest.mark.parametrize(("name", "reason"), [("voice_status_canceled.txt", "canceled"),
                                              ("voice_status_busy.txt", "busy"),
                                              ("voice_status_no_answer.txt", "no_answer")])
async def test_a_call_that_never_got_through_is_a_callback_task(client, ctx, name,
                                                                reason) -> None:
    await step(client, PUBLIC_URL + STATUS_PATH, name)
    assert [e for e in await call_events(ctx) if e[0] == "callback_requested"] == [
        ("callback_requested", {"reason": reason, "queue": "triage"})]
    [ended] = [e for e in await call_events(ctx) if e[0] == "call_ended"]
    assert ended[1]["status"] == reason


async def test_an_operator_choice_rings_the_triage_queue(client, ctx, monkeypatch) -> None:
    agent_id = await agent(ctx, voice_address="client:aysel", queues=("triage",))
    at(monkeypatch, MONDAY_MORNING)
    verb = only(await choose(client, "3", "0"), "Dial")
    assert only(verb, "Client").text == "aysel" and f"agent={agent_id}" in verb.get("action")
    [conversation] = await table(ctx, conversations)
    assert conversation["queue"] == "triage"


async def test_a_wrong_key_repeats_the_menu_and_stores_nothing(client, ctx) -> None:
    root = await choose(client, "7", None)
    assert "attempt=1" in only(root, "Gather").get("action")
    root = await step(client, only(root, "Gather").get("action"), "voice_gather.txt",
                      Digits="1")
    root = await step(client, only(root, "Gather").get("action"), "voice_gather.txt",
                      Digits="9")
    assert root[0].tag == "Play" and root[0].text == AZ_PLAY + "/invalid.mp3"
    assert await table(ctx, messages) == []


async def test_a_withheld_number_is_told_and_nothing_is_stored(client, ctx) -> None:
    root = await step(client, PUBLIC_URL + VOICE_PATH, "voice_incoming.txt", From="anonymous",
                      Caller="anonymous")
    assert root[-1].tag == "Hangup" and only(root, "Play").text == AZ_PLAY + "/withheld.mp3"
    await step(client, PUBLIC_URL + STATUS_PATH, "voice_status_completed.txt", From="anonymous")
    assert await table(ctx, messages) == []


ROUTES = [(VOICE_PATH, "voice_incoming.txt"), (LANGUAGE_PATH + "?t=1", "voice_gather.txt"),
          (MENU_PATH + "?t=1&lang=az", "voice_gather.txt"),
          (DIAL_RESULT_PATH + "?t=1&lang=az&agent=1", "voice_dial_completed.txt"),
          (RECORDING_PATH, "voice_recording.txt"),
          (LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az", "voice_transcription_content.txt"),
          (LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az", "voice_transcription_stopped.txt"),
          (STATUS_PATH, "voice_status_completed.txt")]


@pytest.mark.parametrize(("path", "name"), ROUTES)
async def test_unsigned_or_wrongly_signed_requests_are_403(client, ctx, path, name) -> None:
    form = fixture(name)
    for signature in (None, sign(PUBLIC_URL + path, form, token="other"),
                      sign(PUBLIC_URL + path + "&x=1", form)):
        response = await post(client, PUBLIC_URL + path, form, signature=signature)
        assert response.status == 403
        assert "X-Twilio-Signature" in (await response.json())["error"]
    assert await table(ctx, messages) == [] and await table(ctx, events) == []


@pytest.mark.parametrize(("path", "name", "changes", "error"), [
    (VOICE_PATH, "voice_incoming.txt", {"CallSid": ""}, "CallSid is missing"),
    (VOICE_PATH, "voice_incoming.txt", {"From": "+99412"}, "valid phone number"),
    (LANGUAGE_PATH, "voice_gather.txt", {}, "t is missing"),
    (MENU_PATH + "?t=1", "voice_gather.txt", {}, "language"),
    (MENU_PATH + "?t=1&lang=az", "voice_gather.txt", {"CallSid": "CA' or 1=1"}, "call sid"),
    (DIAL_RESULT_PATH + "?t=1&lang=az", "voice_dial_completed.txt", {}, "agent"),
    (RECORDING_PATH, "voice_recording.txt", {"RecordingSid": "RE1"}, "recording sid"),
    (RECORDING_PATH, "voice_recording.txt", {"RecordingUrl": ""}, "RecordingUrl"),
    (LIVE_TRANSCRIPTION_PATH, "voice_transcription_content.txt", {}, "t is missing"),
    (LIVE_TRANSCRIPTION_PATH + "?t=1", "voice_transcription_content.txt", {}, "language"),
    (LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az", "voice_transcription_content.txt",
     {"TranscriptionData": "{not json"}, "TranscriptionData"),
    (LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az", "voice_transcription_stopped.txt",
     {"TranscriptionSid": "GT' or 1=1"}, "transcription sid"),
    (STATUS_PATH, "voice_status_completed.txt", {"CallDuration": "long"}, "CallDuration"),
])
async def test_malformed_requests_are_400_json_and_store_nothing(client, ctx, path, name,
                                                                 changes, error) -> None:
    response = await post(client, PUBLIC_URL + path, fixture(name, **changes))
    assert response.status == 400
    assert error in (await response.json())["error"]
    assert await table(ctx, messages) == [] and await table(ctx, events) == []


async def test_a_recording_for_an_unknown_call_is_404_and_stores_nothing(client, ctx) -> None:
    response = await post(client, PUBLIC_URL + RECORDING_PATH, fixture("voice_recording.txt"))
    assert response.status == 404
    assert CALL_SID in (await response.json())["error"]
    assert await table(ctx, messages) == []


async def test_a_transcription_report_for_an_unknown_call_is_404_and_stores_nothing(
        client, ctx) -> None:
    response = await post(client, PUBLIC_URL + LIVE_TRANSCRIPTION_PATH + "?t=1&lang=az",
                          fixture("voice_transcription_content.txt"))
    assert response.status == 404
    assert CALL_SID in (await response.json())["error"]
    assert await table(ctx, messages) == [] and await table(ctx, events) == []
