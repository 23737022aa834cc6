"""Twilio Voice's settings: config.yaml's `channels.twilio.voice` over the default prompt
texts in templates/voice/prompts.yaml, checked with errors that name the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from settings.loader import parse_seconds

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "templates" / "voice" / "prompts.yaml"
PROMPT_NAMES = ("language_menu", "reason_menu", "invalid", "connecting", "voicemail_closed",
                "voicemail_unavailable", "goodbye", "withheld")

TRANSCRIPTION_ENGINES = ("google", "deepgram")
DEFAULT_LANGUAGE_CODES = {"az": "az-AZ", "ru": "ru-RU", "en": "en-US"}   # Google knows az-AZ
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")            # BCP-47, as Twilio takes
TRANSCRIPTION_KEYS = ("engine", "language_codes", "hints")
MAX_HINTS, MAX_HINT_CHARS = 500, 100     # Twilio's limits on <Transcription hints>


class VoiceConfigError(ValueError):
    """`channels.twilio.voice` cannot be used; the message names the key."""



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
