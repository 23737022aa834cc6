"""Twilio Voice: whole calls driven the way Twilio drives them, through the real app and
database (SQLite and PostgreSQL) and real Redis: each step posts the form Twilio would send,
signed with the twilio library, to the URL the previous TwiML named. The pure parts have
their own modules (test_voice_config, test_voice_twiml, test_voice_forms)."""

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
from channels.twilio.voice import (
    DIAL_RESULT_PATH,
    LANGUAGE_PATH,
    LIVE_TRANSCRIPTION_PATH,
    MENU_PATH,
    RECORDING_PATH,
    STATUS_PATH,
    VOICE_PATH,
)
from channels.twilio.voice_twiml import (
    VoicemailUrls,
)
from inbox import calls, dispatch, sweeps
from inbox.auth import hash_password
from inbox.live import EVENTS_CHANNEL, channel_name
from inbox.storage.schema import conversations, events, messages
from tests.channels.twilio.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    fixture,
    post,
    sign,
)
from tests.unrouted import unroute

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


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


def spoken(element: ET.Element) -> list[tuple[str, str | None, str]]:
    """What a TwiML element says or plays, in order: (tag, language, text or URL)."""
    return [(child.tag, child.get("language"), child.text or "") for child in element
            if child.tag in ("Say", "Play")]




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
    [call] = await table(ctx, messages)
    assert await call_events(ctx) == [
        ("call_started", {"message_id": call["id"]}),
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
    assert (await sweeps._sweep(ctx))["voicemails_finalised"] == 0
    assert (await voicemail_message(ctx))["body"] == calls.VOICEMAIL_PENDING

    await overdue(ctx)
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(channel_name(ctx.redis, EVENTS_CHANNEL))
    await pubsub.get_message(timeout=1)
    assert (await sweeps._sweep(ctx))["voicemails_finalised"] == 1
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
    assert (await sweeps._sweep(ctx))["voicemails_finalised"] == 0
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
    root = await choose(client, "1", "0")      # Azerbaijani; an operator: no category
    [unrouted] = await table(ctx, conversations)
    await unroute(ctx, unrouted["id"])
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
