"""Twilio Voice's TwiML builders, dial targets and the menu's state in its URLs: pure."""

from __future__ import annotations

import pytest

from channels.twilio.messaging import PayloadError
from channels.twilio.voice import LANGUAGE_PATH
from channels.twilio.voice_config import load_prompt_texts, voice_settings
from channels.twilio.voice_twiml import (
    MenuState,
    dial,
    dial_target,
    goodbye,
    language_menu,
    parse_state,
    reason_menu,
    voicemail,
    withheld,
)
from tests.channels.twilio.test_messaging import PUBLIC_URL
from tests.channels.twilio.test_voice import (
    AGENT_PHONE,
    AZ_PLAY,
    MONDAY_MORNING,
    URLS,
    only,
    spoken,
    twiml,
)


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



def test_the_menu_state_survives_its_round_trip_through_the_url(settings) -> None:
    state = MenuState(MONDAY_MORNING, "ru", 2, 17)
    assert parse_state(state.query(), settings) == state
    for query in ({}, {"t": "x"}, {"t": "1", "lang": "de"}, {"t": "1", "agent": "-1"}):
        with pytest.raises(PayloadError):
            parse_state(query, settings)
