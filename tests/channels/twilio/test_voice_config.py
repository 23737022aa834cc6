"""Twilio Voice's settings: config.yaml's channels.twilio.voice over the default prompts, and
unusable settings refused with the key named."""

from __future__ import annotations

import pytest

from channels.twilio.voice_config import VoiceConfigError, load_prompt_texts, voice_settings
from tests.channels.twilio.test_voice import AZ_PLAY


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
