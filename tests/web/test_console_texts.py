"""The console's catalogue (templates/console/texts.yaml): every key in az, ru and en with the
same placeholders; every key the pages and their scripts look up is in it, and every key in
it is looked up somewhere; every error code the API can answer with has its text, and the
console's script translates each. A catalogue missing a language is refused at start-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inbox import canned, erasure, texts
from inbox.replies import REPLY_LANGUAGES
from web import console
from web.http import STATUS_CODES

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "templates" / "console").glob("*.html"))
# Every staff page's script (the resident's chat has its own catalogue: templates/chat/).
SCRIPTS = sorted(path for path in (ROOT / "static").glob("*.js") if path.name != "chat.js")
# Where the API's errors get their codes: keyword `code="…"` (the helpers take it by keyword
# only, so a code cannot hide in a positional argument), and the account checks' `Problem`s.
ERROR_SOURCES = [*sorted((ROOT / "web").glob("*.py")),
                 *(ROOT / "inbox" / name for name in ("actions.py", "administration.py",
                                                       "canned.py", "erasure.py", "outcomes.py",
                                                       "users.py"))]
ROLES = ("agent", "supervisor", "admin")
# Lookups whose key is made from a value: the prefix and every value it can take.
DYNAMIC_FAMILIES = {"language.": REPLY_LANGUAGES, "role.": ROLES,
                    "event.contact_erased_": (*erasure.REASONS, erasure.RETENTION)}

LITERAL_LOOKUP = re.compile(r"""(?<![\w.$])t\(\s*["']([^"']+)["']\s*[,)]""")
PREFIX_LOOKUP = re.compile(r"""(?<![\w.$])t\(\s*["']([^"']+)["']\s*[~+]""")
ANY_LOOKUP = re.compile(r"""(?<![\w.$])(?<!function )t\(\s*(.)""")
ERROR_CODE = re.compile(r"""\bcode="([a-z_]+)"|\bProblem\(\s*"([a-z_]+)\"""")
SCRIPT_ERROR_TEXT = re.compile(r"""\b([a-z_]+): t\("error\.([a-z_]+)"\)""")


def _sources() -> list[Path]:
    return [*PAGES, *SCRIPTS]


def _lookups() -> tuple[set[str], set[str]]:
    """The keys looked up literally, and the prefixes looked up with a value appended."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        literal |= set(LITERAL_LOOKUP.findall(text))
        prefixes |= set(PREFIX_LOOKUP.findall(text))
    return literal, prefixes


def _server_error_codes() -> set[str]:
    codes = set(STATUS_CODES.values())
    for path in ERROR_SOURCES:
        codes |= {code for pair in ERROR_CODE.findall(path.read_text(encoding="utf-8"))
                  for code in pair if code}
    return codes


def test_every_key_exists_in_every_language_with_the_same_placeholders():
    catalogue = console.console_texts()
    assert set(catalogue) == set(REPLY_LANGUAGES)
    keys = set(catalogue["en"])
    assert len(keys) > 300
    for language in REPLY_LANGUAGES:
        assert set(catalogue[language]) == keys, language
        for key in keys:
            assert texts.placeholders(catalogue[language][key]) == \
                texts.placeholders(catalogue["en"][key]), (language, key)


def test_the_catalogue_is_written_in_each_language_not_copied_from_english():
    """Real translations: Azerbaijani with its own letters, Russian in Cyrillic."""
    catalogue = console.console_texts()
    assert catalogue["az"]["status.resolved"] == "Həll edildi"
    assert catalogue["az"]["filter.queue"] == "Növbə"
    assert catalogue["az"]["console.conversation"] == "Söhbət"
    az_letters = set("əğıöüçşƏĞIÖÜÇŞİ")
    assert sum(1 for text in catalogue["az"].values() if az_letters & set(text)) > 150
    cyrillic = re.compile("[а-яё]", re.IGNORECASE)
    assert sum(1 for text in catalogue["ru"].values() if cyrillic.search(text)) > 300


# Texts that are rightly the same as English: names, codes, and words both languages share.
SAME_AS_ENGLISH = {
    *((language, key) for language in ("az", "ru")
      for key in ("language.az", "language.ru", "language.en", "channel.sms", "channel.whatsapp",
                  "channel.telegram", "event.reason", "date.long", "date.day_month",
                  "notify.body_text")),
    ("az", "filter.status"), ("az", "size.bytes"), ("az", "size.kilobytes"),
    ("az", "size.megabytes"), ("az", "call.reason_operator"), ("az", "event.source_model"),
    ("az", "report.median"),
}


def test_no_text_is_left_in_english_in_another_language():
    catalogue = console.console_texts()
    copied = {(language, key) for language in ("az", "ru") for key, text in
              catalogue[language].items() if text == catalogue["en"][key]}
    assert sorted(copied - SAME_AS_ENGLISH) == []


def test_every_key_the_pages_and_scripts_look_up_is_in_the_catalogue():
    literal, prefixes = _lookups()
    assert {"nav.inbox", "status.resolved", "error.wrong_credentials", "board.waiting",
            "report.summary", "login.submit"} <= literal
    keys = set(console.console_texts()["en"])
    assert sorted(literal - keys) == []
    assert prefixes <= set(DYNAMIC_FAMILIES), f"a lookup by an unlisted prefix: {prefixes}"
    for prefix, values in DYNAMIC_FAMILIES.items():
        assert sorted(f"{prefix}{value}" for value in values
                      if f"{prefix}{value}" not in keys) == [], prefix


def test_no_lookup_takes_a_key_the_scan_cannot_read():
    """A key built at run time would escape the two tests above; only the definition of t()
    and lookups with a literal (or a listed prefix) are allowed."""
    for path in _sources():
        for match in ANY_LOOKUP.finditer(path.read_text(encoding="utf-8")):
            assert match.group(1) in "\"'", (path.name, match.group(0))


def test_every_key_in_the_catalogue_is_used():
    literal, prefixes = _lookups()
    used = literal | {f"{prefix}{value}" for prefix in prefixes
                      for value in DYNAMIC_FAMILIES[prefix]}
    assert sorted(set(console.console_texts()["en"]) - used) == []


def test_every_error_code_the_api_sends_has_its_text_and_the_console_translates_it():
    codes = _server_error_codes()
    assert {"wrong_credentials", "login_throttled", "outside_queues", "unknown_language",
            "free_text_window_closed", "not_found", "unavailable"} <= codes
    keys = set(console.console_texts()["en"])
    assert sorted(code for code in codes if f"error.{code}" not in keys) == []
    script = (ROOT / "static" / "console.js").read_text(encoding="utf-8")
    translated = dict(SCRIPT_ERROR_TEXT.findall(script))
    assert all(code == key for code, key in translated.items())
    assert sorted(codes - set(translated)) == []


def test_canned_responses_have_titles_and_texts_in_every_language():
    for key, entry in canned.shipped().items():
        for part in ("title", "body"):
            assert set(entry[part]) == set(REPLY_LANGUAGES), (key, part)


@pytest.mark.parametrize(("yaml_text", "problem"), [
    ('status.open: {az: "Açıq", en: "Open"}\n', r"'status.open' lacks \['ru'\]"),
    ('status.open: {az: "Açıq", ru: "", en: "Open"}\n', r"'status.open' lacks \['ru'\]"),
    ('toast.assigned_you: {az: "#{id} sizə", ru: "Обращение назначено", en: "#{id} to you"}\n',
     r"'toast.assigned_you' in ru names \[\], not \['id'\]"),
])
def test_a_catalogue_missing_a_text_is_refused(tmp_path, monkeypatch, yaml_text, problem):
    broken = tmp_path / "texts.yaml"
    broken.write_text(yaml_text, encoding="utf-8")
    monkeypatch.setattr(console, "TEXTS_FILE", broken)
    console.console_texts.cache_clear()
    try:
        with pytest.raises(ValueError, match=problem):
            console.console_texts()
    finally:
        console.console_texts.cache_clear()


@pytest.mark.parametrize(("yaml_text", "problem"), [
    ('    title: {az: "Salamlama", en: "Greeting"}\n'
     '    texts: {az: "Salam", ru: "Здравствуйте", en: "Hello"}\n',
     r"'greeting': title must be an object with exactly the keys az, ru, en"),
    ('    title: {az: "Salamlama", ru: "Приветствие", en: "Greeting"}\n'
     '    texts: {az: "Salam {name}", ru: "Здравствуйте", en: "Hello"}\n',
     r"'greeting': unknown variable \{name\}"),
])
def test_a_shipped_canned_response_missing_a_language_or_naming_no_variable_is_refused(
        tmp_path, monkeypatch, yaml_text, problem):
    broken = tmp_path / "canned.yaml"
    broken.write_text('name_fallback: {az: "vətəndaş", ru: "гражданин", en: "resident"}\n'
                      'responses:\n  - id: greeting\n' + yaml_text, encoding="utf-8")
    monkeypatch.setattr(canned, "CANNED_FILE", broken)
    caches = (canned._shipped_file, canned.name_fallback, canned.shipped)
    for cache in caches:
        cache.cache_clear()
    try:
        with pytest.raises(ValueError, match=problem):
            canned.shipped()
    finally:
        for cache in caches:
            cache.cache_clear()


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_every_page_compiles(page):
    # A block defined twice (two features each adding their scripts) fails only when the page
    # is first rendered: every page is compiled here, signed in or not.
    console._pages.get_template(f"console/{page.name}")
