"""Texts a resident reads, rendered from templates/replies/<name>.<language>.txt.

Every reply exists in az, ru and en; a language the deployment does not know falls back to
Azerbaijani, the state language.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

REPLY_LANGUAGES = ("az", "ru", "en")
FALLBACK_LANGUAGE = "az"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=False,             # plain text for SMS, chat and mail bodies
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def reply_language(language: str | None) -> str:
    return language if language in REPLY_LANGUAGES else FALLBACK_LANGUAGE


def preferred_language(accept_language: str | None) -> str | None:
    """The reply language a browser's Accept-Language ranks highest ("ru-RU,ru;q=0.9,en;q=0.8"
    is ru), or None when it names none of them."""
    best, best_q = None, 0.0
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if language in REPLY_LANGUAGES and q > best_q:
            best, best_q = language, q
    return best


def render_reply(template_name: str, language: str | None, **variables: object) -> str:
    path = f"replies/{template_name}.{reply_language(language)}.txt"
    template = _environment().get_template(path)
    return template.render(**variables).strip()


def reply_names() -> set[str]:
    return {path.name.split(".")[0] for path in (TEMPLATES_DIR / "replies").glob("*.txt")}
