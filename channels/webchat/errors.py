"""The web chat's error frames, in the resident's language, from one catalogue:
templates/chat/errors.yaml, every code in az, ru and en."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from inbox.replies import TEMPLATES_DIR, reply_language

CATALOGUE_FILE = TEMPLATES_DIR / "chat" / "errors.yaml"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    return yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))


def error_text(code: str, language: str | None, **values: Any) -> str:
    """The text of error `code` in `language` (Azerbaijani for one the chat does not speak)."""
    return catalogue()[code][reply_language(language)].format(**values)


class FrameError(ValueError):
    """A frame the chat refuses: a catalogue code and the values its text names. Its str is
    the English text (for logs and tests); the resident gets `text(language)`."""

    def __init__(self, code: str, **values: Any):
        self.code = code
        self.values = values
        super().__init__(error_text(code, "en", **values))

    def text(self, language: str | None) -> str:
        return error_text(self.code, language, **self.values)


def error_frame(code: str, language: str | None, **values: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": error_text(code, language, **values)}
