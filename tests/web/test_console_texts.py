"""The console's e-mail texts (templates/console/email.yaml): every key in az, ru and en with
the same placeholders, and a catalogue missing one is refused when the page is built."""

from __future__ import annotations

import re

import pytest

from web import console


def test_every_text_exists_in_every_language_with_the_same_placeholders():
    texts = console.email_texts()
    assert set(texts) == {"az", "ru", "en"}
    keys = set(texts["en"])
    assert {"subject", "from", "to", "cc", "show_quoted", "show_original", "unreadable",
            "reply_subject", "signature", "no_signature"} <= keys
    for language in ("az", "ru"):
        assert set(texts[language]) == keys, language
        for key in keys:
            assert re.findall(r"\{\w+\}", texts[language][key]) == \
                re.findall(r"\{\w+\}", texts["en"][key]), (language, key)


def test_a_text_missing_in_a_language_is_refused(tmp_path, monkeypatch):
    broken = tmp_path / "email.yaml"
    broken.write_text('subject: {az: "Mövzu", en: "Subject"}\n', encoding="utf-8")
    monkeypatch.setattr(console, "EMAIL_TEXTS_FILE", broken)
    console.email_texts.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"'subject' lacks \['ru'\]"):
            console.email_texts()
    finally:
        console.email_texts.cache_clear()
