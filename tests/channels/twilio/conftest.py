"""Fixtures shared by the Twilio channel's tests."""

from __future__ import annotations

import pytest

from channels.twilio.voice_config import VoiceSettings, load_prompt_texts, voice_settings


@pytest.fixture
def settings(config) -> VoiceSettings:
    """The voice settings of the test config (tests/fixtures/config.yaml)."""
    return voice_settings(config.channels.section("twilio")["voice"], load_prompt_texts())
