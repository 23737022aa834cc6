"""config.yaml: loading, `${VAR}` interpolation, and validation that names each bad key with its
dotted path and line; then the operators' commands that read it (`config check`, `serve`,
`user add`) run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import time
from ipaddress import ip_network
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.auth import verify_password
from inbox.storage.db import make_engine
from inbox.storage.schema import users
from routing import classify
from settings import ConfigError, Imap, Problem, Rate, WebchatLimits, load_config, load_config_text
from tests.conftest import ROOT, TEST_CONFIG

BASE = TEST_CONFIG.read_text(encoding="utf-8")
BAD_CONFIG = ROOT / "tests" / "fixtures" / "bad_config.yaml"
# The queues the contract and the rest of the suite rely on; a deployment may add more.
REQUIRED_QUEUES = ("migration-registration", "migration-support", "dost-baku-1", "dost-baku-2",
                   "call-centre-142", "triage")
QUEUE_IDS = load_config(TEST_CONFIG, env={}).queue_ids
CALL_CENTRE = QUEUE_IDS.index("call-centre-142")
MAILBOX = """    mailboxes:
      - id: dost-baku-1
        address: "baku1@dost.example.gov.az"
        queue: dost-baku-1
        imap: {host: imap.example.gov.az, port: 993, security: tls, user: baku1,
               password: "${IMAP_PASSWORD:-secret}", folders: [INBOX]}
        smtp: {host: smtp.example.gov.az, port: 587, starttls: true, user: baku1,
               password: "${SMTP_PASSWORD:-secret}"}
"""


def edited(old: str, new: str, text: str = BASE, queue: str | None = None) -> str:
    """`text` with `old` (which must occur once, within `queue`'s entry if given) made `new`."""
    start, end = 0, len(text)
    if queue is not None:
        start = text.index(f"  - id: {queue}\n")
        end = min(i for i in (text.find("\n  - id: ", start + 1), text.find("\n\n", start))
                  if i != -1)
    assert text.count(old, start, end) == 1, f"{old!r} must occur once in the test config"
    return text[:start] + text[start:end].replace(old, new) + text[end:]


def line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


def problems(text: str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as exc:
        load_config_text(text, "deploy.yaml", env={} if env is None else env)
    return exc.value.problems


def rule_index(queue: str, **condition: str) -> int:
    rules = load_config(TEST_CONFIG, env={}).routing.rules
    [index] = [i for i, r in enumerate(rules) if r.queue == queue
               and all(getattr(r, k) == v for k, v in condition.items())]
    return index


# --- the files that ship ----------------------------------------------------------------------

@pytest.mark.parametrize("path", [ROOT / "config.yaml", TEST_CONFIG], ids=["shipped", "tests"])
def test_the_shipped_and_test_configs_load(path):
    config = load_config(path, env={})
    assert set(REQUIRED_QUEUES) <= set(config.queue_ids)
    assert config.queue_ids == QUEUE_IDS        # the test deployment mirrors the shipped one
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.timezone == "Asia/Baku"
    assert (config.business_hours.open, config.business_hours.close) == (time(9), time(18))
    assert config.business_hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert config.routing.default_queue == "call-centre-142"
    assert config.routing.triage_queue == "triage"
    assert config.routing.min_confidence == 0.6
    assert config.queue("dost-baku-1").kind == "mailbox"
    assert config.queue("dost-baku-1").email == "baku1@dost.example.gov.az"
    assert config.queue("call-centre-142").offer_timeout_s == 90
    assert config.channels.webchat.allowed_origins == ("https://reintegration.gov.az",
                                                       "https://e-sosial.az")
    assert config.limits.max_body_bytes == 1_048_576
    assert config.source == str(path)


@pytest.mark.parametrize("text", [
    "Salam, reintegration.gov.az saytında qeydiyyat formu açılmır",
    "reintegration.gov.az qeydiyyat formu işləmir, şikayət edirəm",
])
def test_the_shipped_keywords_leave_a_complaint_about_the_portal_to_support(text):
    # Naming the portal's registration form is no registration request: the resident who
    # cannot open it needs support, and a keyword must not overrule the model there.
    keywords = load_config(ROOT / "config.yaml", env={}).routing.category_keywords
    assert classify(text, rules=keywords).category == "support"


def test_the_test_config_has_short_outbox_leases():
    assert load_config(TEST_CONFIG, env={}).outbox.lease_s == 6


def test_load_config_reads_CC_CONFIG():
    assert load_config(env={"CC_CONFIG": str(TEST_CONFIG)}).source == str(TEST_CONFIG)


# --- validation -------------------------------------------------------------------------------

def test_unknown_keys_are_named_by_dotted_path_and_line():
    text = edited("timezone: Asia/Baku\n", "timezone: Asia/Baku\ntime_zone: Asia/Baku\n")
    text = edited('  close: "18:00"\n', '  close: "18:00"\n  colour: blue\n', text)
    text = edited("sla: {first_response: 30m, resolution: 2d}",
                  "sla: {first_response: 30m, resolution: 2d, breach_alert: 20m}", text,
                  queue="call-centre-142")
    text = edited("{if: {category: inquiry}, queue: call-centre-142}",
                  "{if: {categroy: inquiry}, queue: call-centre-142}", text)
    rule = rule_index("call-centre-142", category="inquiry")
    assert problems(text) == [
        Problem("time_zone", line_of(text, "time_zone:"), "unknown key"),
        Problem("business_hours.colour", line_of(text, "colour: blue"), "unknown key"),
        Problem(f"queues[{CALL_CENTRE}].sla.breach_alert",
                line_of(text, "breach_alert"), "unknown key"),
        Problem(f"routing.rules[{rule}].if.categroy", line_of(text, "categroy"), "unknown key"),
    ]


@pytest.mark.parametrize("old, new, path, message", [
    ("    max_message_chars: 4000", '    max_message_chars: "a lot"',
     "channels.webchat.max_message_chars", "expected int, got str 'a lot'"),
    ("  max_body_bytes: 1048576", "  max_body_bytes: true",
     "limits.max_body_bytes", "expected int, got bool True"),
    ("  min_confidence: 0.6", "  min_confidence: high",
     "routing.min_confidence", "expected float, got str 'high'"),
    ("  min_confidence: 0.6", "  min_confidence: 1.5",
     "routing.min_confidence", "must be between 0 and 1"),
    ("  days: [mon, tue, wed, thu, fri]", "  days: mon-fri",
     "business_hours.days", "expected list, got str 'mon-fri'"),
    ("  days: [mon, tue, wed, thu, fri]", "  days: [mon, tue, wed, thu, cümə]",
     "business_hours.days", "'cümə' is not one of mon, tue, wed, thu, fri, sat, sun"),
    ('    allowed_origins: ["https://reintegration.gov.az", "https://e-sosial.az"]',
     '    allowed_origins: ["https://reintegration.gov.az", 443]',
     "channels.webchat.allowed_origins", "expected a list of strings"),
    ("timezone: Asia/Baku", "timezone: Asia/Bakı", "timezone", "unknown time zone 'Asia/Bakı'"),
    ("    kind: operators\n    languages: [az, ru, en]\n    strategy: round_robin",
     "    kind: call-centre\n    languages: [az, ru, en]\n    strategy: round_robin",
     "queues[1].kind", "'call-centre' is not one of operators, mailbox"),
], ids=["int", "bool-for-int", "float", "range", "list", "choice", "list-of-strings",
        "zone", "queue-kind"])
def test_a_wrong_type_or_value_is_named_with_its_line(old, new, path, message):
    text = edited(old, new)
    assert problems(text) == [Problem(path, line_of(text, new.splitlines()[0]), message)]


@pytest.mark.parametrize("old, new, path, unknown", [
    ("{if: {category: registration}, queue: migration-registration}",
     "{if: {category: registration}, queue: migration-registrations}",
     f"routing.rules[{rule_index('migration-registration')}].queue", "migration-registrations"),
    ("{if: {queue_hint: dost-baku-1}, queue: dost-baku-1}",
     "{if: {queue_hint: dost-baku-1}, queue: dost-baku-3}",
     f"routing.rules[{rule_index('dost-baku-1')}].queue", "dost-baku-3"),
    ("{if: {queue_hint: dost-baku-1}, queue: dost-baku-1}",
     "{if: {queue_hint: dost-baku-3}, queue: dost-baku-1}",
     f"routing.rules[{rule_index('dost-baku-1')}].if.queue_hint", "dost-baku-3"),
    ("  default_queue: call-centre-142", "  default_queue: call-center-142",
     "routing.default_queue", "call-center-142"),
    ("  triage_queue: triage", "  triage_queue: triaj", "routing.triage_queue", "triaj"),
    ('    email: "baku1@dost.example.gov.az"',
     '    email: "baku1@dost.example.gov.az"\n    escalation_queue: supervisors',
     f"queues[{QUEUE_IDS.index('dost-baku-1')}].escalation_queue", "supervisors"),
    ("    mailboxes: []\n", MAILBOX.replace("queue: dost-baku-1", "queue: dost-baku-3"),
     "channels.email.mailboxes[0].queue", "dost-baku-3"),
], ids=["rule", "hint-rule", "queue-hint", "default", "triage", "escalation", "mailbox"])
def test_an_unknown_queue_is_reported_where_it_is_named(old, new, path, unknown):
    text = edited(old, new)
    [line] = [n for n, line in enumerate(text.splitlines(), 1)
              if unknown in line and line not in BASE.splitlines()]
    assert problems(text) == [Problem(path, line, f"unknown queue {unknown!r}")]


def test_unknown_queues_are_reported_with_the_other_problems():
    text = edited("  default_queue: call-centre-142", "  default_queue: call-center-142")
    text = edited('  close: "18:00"\n', '  close: "18:00"\n  colour: blue\n', text)
    assert [p.path for p in problems(text)] == ["business_hours.colour", "routing.default_queue"]


def test_a_mailbox_on_a_known_queue_loads():
    config = load_config_text(edited("    mailboxes: []\n", MAILBOX), env={})
    [mailbox] = config.channels.email.mailboxes
    assert (mailbox.id, mailbox.queue, mailbox.imap.password) == ("dost-baku-1",
                                                                    "dost-baku-1", "secret")


def test_a_mailboxs_imap_settings_are_typed_with_their_defaults():
    config = load_config_text(edited("    mailboxes: []\n", MAILBOX), env={})
    [mailbox] = config.channels.email.mailboxes
    assert mailbox.imap == Imap(host="imap.example.gov.az", user="baku1", password="secret",
                                port=993, security="tls", folders=("INBOX",), after="flag",
                                flag="\\Seen", move_to=None, timeout_s=30)
    assert mailbox.poll_interval_s == 30
    email = config.channels.email
    assert (email.max_attempts, email.reread_window_s, email.fetch_batch) == (3, 14 * 86400, 100)
    starttls = MAILBOX.replace("port: 993, security: tls", "security: starttls")
    assert load_config_text(edited("    mailboxes: []\n", starttls), env={}) \
        .channels.email.mailboxes[0].imap.port == 143


def test_bad_imap_settings_are_reported_with_their_keys():
    bad = MAILBOX.replace("security: tls", "security: ssl").replace(
        "folders: [INBOX]}", "folders: [INBOX], after: move, flag: \"two words\"}\n"
                             "        poll_interval: 0s")
    second = MAILBOX.replace("baku1@", "baku1b@").split("\n", 1)[1]   # the entry alone
    text = edited("    mailboxes: []\n", bad + second)
    found = {(p.path, p.message) for p in problems(text)}
    assert found == {
        ("channels.email.mailboxes[0].imap.security", "'ssl' is not one of tls, starttls, none"),
        ("channels.email.mailboxes[0].imap.after",
         "`after: move` needs `move_to`, the folder to move to"),
        ("channels.email.mailboxes[0].imap.flag", "not an IMAP flag or keyword: 'two words'"),
        ("channels.email.mailboxes[0].poll_interval", "must be a positive number, got 0"),
        ("channels.email.mailboxes[1].id", "duplicate mailbox id 'dost-baku-1'"),
    }


def test_a_duplicate_queue_id_is_reported_on_the_second():
    text = edited("\nrouting:\n", '  - id: triage\n    name: "Triage again"\n    kind: operators\n'
                                  "    sla: {first_response: 1h, resolution: 5d}\n\nrouting:\n")
    assert problems(text) == [Problem(f"queues[{len(QUEUE_IDS)}].id",
                                      line_of(text, "Triage again") - 1,
                                      "duplicate queue id 'triage'")]


DURATION_HELP = "(use e.g. 30s, 5m, 2h, 1d or 1h30m)"


@pytest.mark.parametrize("old, new, queue, path", [
    ("    offer_timeout: 90s", "    offer_timeout: 2x", "call-centre-142",
     f"queues[{CALL_CENTRE}].offer_timeout"),
    ("sla: {first_response: 30m, resolution: 2d}", "sla: {first_response: 2x, resolution: 2d}",
     "call-centre-142", f"queues[{CALL_CENTRE}].sla.first_response"),
    ("    poll_interval: 30s", "    poll_interval: 2x", None, "channels.email.poll_interval"),
    ("  lease: 6s", "  lease: 2x", None, "outbox.lease"),
    ("  max_lag: 1s", "  max_lag: 2x", None, "intake.max_lag"),
], ids=["offer-timeout", "sla", "poll-interval", "lease", "intake-lag"])
def test_a_bad_duration_is_reported(old, new, queue, path):
    text = edited(old, new, queue=queue)
    assert problems(text) == [Problem(path, line_of(text, new.strip()),
                                      f"not a duration: '2x' {DURATION_HELP}")]


@pytest.mark.parametrize("old, new, path, message", [
    ('  open: "09:00"', '  open: "25:00"', "business_hours.open",
     "not a time of day: '25:00' (use HH:MM)"),
    ('  close: "18:00"', '  close: "18:61"', "business_hours.close",
     "not a time of day: '18:61' (use HH:MM)"),
    ('  open: "09:00"', '  open: "9.30"', "business_hours.open",
     "not a time of day: '9.30' (use HH:MM)"),
    ('  close: "18:00"', '  close: "08:00"', "business_hours.close", "must be later than open"),
])
def test_a_bad_time_of_day_is_reported(old, new, path, message):
    text = edited(old, new)
    assert problems(text) == [Problem(path, line_of(text, new.strip()), message)]


def test_an_unknown_holiday_calendar_is_reported():
    text = edited("  holidays: AZ ", "  holidays: XX ")
    assert [(p.path, p.line) for p in problems(text)] == [
        ("business_hours.holidays", line_of(text, "holidays: XX"))]


def test_a_repeated_key_is_reported():
    text = edited("timezone: Asia/Baku\n", "timezone: Asia/Baku\ntimezone: Europe/Moscow\n")
    assert [(p.path, p.line) for p in problems(text)] == [
        ("timezone", line_of(text, "Europe/Moscow"))]


def test_every_problem_is_reported_at_once_in_line_order():
    text = edited('  open: "09:00"', '  open: "25:00"')
    text = edited("    offer_timeout: 90s", "    offer_timeout: 2x", text)
    text = edited("    max_message_chars: 4000", "    max_message_chars: many", text)
    found = problems(text)
    assert [p.path for p in found] == [
        "business_hours.open", f"queues[{CALL_CENTRE}].offer_timeout",
        "channels.webchat.max_message_chars"]
    assert [p.line for p in found] == sorted(p.line for p in found)


# --- interpolation ----------------------------------------------------------------------------

def test_defaults_apply_when_variables_are_unset_or_empty():
    for env in ({}, {"PUBLIC_URL": "", "TWILIO_SMS_FROM": ""}):
        config = load_config_text(BASE, env=env)
        assert config.public_url == "http://127.0.0.1:8080"
        assert config.channels.section("twilio")["sms_from"] == "+994125550142"


def test_variables_replace_defaults_and_never_change_structure():
    config = load_config_text(BASE, env={"PUBLIC_URL": "https://cc.migration.gov.az/",
                                         "TWILIO_SMS_FROM": "[+994125550199, {a: b}]"})
    assert config.public_url == "https://cc.migration.gov.az"         # trailing / dropped
    assert config.channels.section("twilio")["sms_from"] == "[+994125550199, {a: b}]"


def test_a_variable_inside_a_longer_value():
    text = edited("${TWILIO_WHATSAPP_FROM:-whatsapp:+994125550142}",
                  "whatsapp:${WHATSAPP_NUMBER}")
    config = load_config_text(text, env={"WHATSAPP_NUMBER": "+994125550142"})
    assert config.channels.section("twilio")["whatsapp_from"] == "whatsapp:+994125550142"


def test_a_missing_variable_without_default_is_reported_with_path_and_line():
    text = edited("${TWILIO_SMS_FROM:-+994125550142}", "${TWILIO_SMS_FROM}")
    text = edited("    mailboxes: []\n", MAILBOX.replace("${IMAP_PASSWORD:-secret}",
                                                      "${IMAP_PASSWORD}"), text)
    assert problems(text) == [
        Problem("channels.twilio.sms_from", line_of(text, "${TWILIO_SMS_FROM}"),
                "environment variable TWILIO_SMS_FROM is not set and has no default"),
        Problem("channels.email.mailboxes[0].imap.password", line_of(text, "${IMAP_PASSWORD}"),
                "environment variable IMAP_PASSWORD is not set and has no default"),
    ]
    config = load_config_text(text, env={"TWILIO_SMS_FROM": "+994125550142",
                                         "IMAP_PASSWORD": "Novruz-2025"})
    assert config.channels.email.mailboxes[0].imap.password == "Novruz-2025"


def test_a_number_may_come_from_the_environment():
    text = edited("  max_body_bytes: 1048576", "  max_body_bytes: ${MAX_BODY_BYTES:-1048576}")
    text = edited("  min_confidence: 0.6", "  min_confidence: ${MIN_CONFIDENCE:-0.6}", text)
    config = load_config_text(text, env={"MAX_BODY_BYTES": "262144"})
    assert (config.limits.max_body_bytes, config.routing.min_confidence) == (262144, 0.6)


# --- unreadable files -------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, message", [
    ("timezone: Asia/Baku", "timezone: Asia: Baku", "mapping values are not allowed here"),
    ('  open: "09:00"', '\topen: "09:00"', None),
], ids=["colon", "tab"])
def test_a_yaml_syntax_error_reports_its_line(old, new, message):
    text = edited(old, new)
    [problem] = problems(text)
    assert (problem.path, problem.line) == ("(syntax)", line_of(text, new.strip()))
    if message is not None:
        assert problem.message == message


def test_an_empty_or_missing_file(tmp_path):
    assert problems("# nothing yet\n") == [Problem("(top)", 1, "the file is empty")]
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "config.yaml", env={})
    assert exc.value.problems == [Problem("(file)", None, "No such file or directory")]
    assert exc.value.format() == f"{tmp_path / 'config.yaml'}:?: (file): No such file or directory"


# --- the command line -------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path, redis_url) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CC_CONFIG", "PUBLIC_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", REDIS_URL=redis_url,
               SECRET_KEY="test-secret-key", PYTHONUNBUFFERED="1")
    return env


def run_app(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def bad_config_report(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        f"{path}:{line_of(text, 'open:')}: business_hours.open: "
        "not a time of day: '25:00' (use HH:MM)",
        f"{path}:{line_of(text, 'colour:')}: business_hours.colour: unknown key",
        f"{path}:{line_of(text, 'offer_timeout:')}: queues[0].offer_timeout: "
        f"not a duration: '2x' {DURATION_HELP}",
    ]


def test_config_check_passes_a_good_file(cli_env):
    result = run_app(cli_env, "config", "check", str(TEST_CONFIG))
    config = load_config(TEST_CONFIG, env={})
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (f"{TEST_CONFIG}: ok ({len(config.queues)} queues, "
                             f"{len(config.routing.rules)} routing rules)\n")


def test_config_check_names_every_error_with_file_and_line(cli_env):
    result = run_app(cli_env, "config", "check", str(BAD_CONFIG))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == bad_config_report(BAD_CONFIG)


def test_serve_refuses_to_start_on_a_bad_config(cli_env, tmp_path):
    cli_env["CC_CONFIG"] = str(BAD_CONFIG)
    result = run_app(cli_env, "serve", "--port", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    first, *report = result.stderr.splitlines()
    assert first.startswith("refusing to start")
    assert report == bad_config_report(BAD_CONFIG)
    assert not (tmp_path / "cli.db").exists()            # it stopped before touching anything


async def test_user_add_creates_an_agent_who_can_log_in(cli_env, tmp_path):
    cli_env["CC_CONFIG"] = str(TEST_CONFIG)
    result = run_app(cli_env, "user", "add", "Aysel.Kerimova@migration.gov.az",
                     "--name", "Aysel Kərimova", "--role", "agent",
                     "--queues", "migration-registration,triage", "--languages", "az,ru,en",
                     "--password-stdin", stdin="Qarabağ-2020\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "user 1 <Aysel.Kerimova@migration.gov.az> saved as agent\n"
    engine = make_engine(cli_env["DATABASE_URL"], pool=False)
    async with engine.connect() as conn:
        [user] = (await conn.execute(select(users))).mappings().all()
    await engine.dispose()
    assert (user["email"], user["name"], user["role"], user["queues"], user["languages"],
            user["active"]) == ("aysel.kerimova@migration.gov.az", "Aysel Kərimova", "agent",
                                ["migration-registration", "triage"], ["az", "ru", "en"], True)
    assert verify_password(user["password_hash"], "Qarabağ-2020")
    assert not verify_password(user["password_hash"], "Qarabag-2020")


def test_an_unquoted_time_of_day_still_means_that_time():
    config = load_config_text(edited('  close: "18:00"\n', "  close: 18:00\n"), env={})
    assert config.business_hours.close.hour == 18 and config.business_hours.close.minute == 0


def test_sizes_and_limits_must_be_positive():
    text = edited("    max_message_chars: 4000", "    max_message_chars: -5")
    [problem] = problems(text)
    assert problem.path == "channels.webchat.max_message_chars"
    assert problem.message == "must be a positive number, got -5"


def test_intake_timings_load_and_default():
    config = load_config_text(edited("  max_lag: 1s\n  recover_after: 60s",
                                     "  max_lag: 3s\n  recover_after: 5m"), env={})
    assert (config.intake.max_lag_s, config.intake.recover_after_s) == (3, 300)
    config = load_config_text(edited("intake:\n  max_lag: 1s\n  recover_after: 60s\n", ""),
                              env={})
    assert (config.intake.max_lag_s, config.intake.recover_after_s) == (1, 60)


def test_trusted_proxies_are_addresses_or_networks():
    assert load_config_text(BASE, env={}).trusted_proxies == ()
    text = BASE + "\ntrusted_proxies: [10.0.0.1, 172.16.0.0/12, \"::1\"]\n"
    assert load_config_text(text, env={}).trusted_proxies == (
        ip_network("10.0.0.1/32"), ip_network("172.16.0.0/12"), ip_network("::1/128"))
    [problem] = problems(BASE + "\ntrusted_proxies: [10.0.0.1, the-load-balancer]\n")
    assert problem.path == "trusted_proxies"
    assert problem.message == ("not an IP address or network: 'the-load-balancer' does not "
                               "appear to be an IPv4 or IPv6 network")


def test_config_check_and_serve_report_the_channels_own_settings(cli_env, tmp_path):
    """`channels.twilio` is checked by the Twilio channels themselves; a mistake there is
    reported, with its line, before anything starts, not found by the first caller or the
    first send."""
    text = TEST_CONFIG.read_text(encoding="utf-8").replace(
        "      voicemail_max_length: 2m\n",
        "      voicemail_max_length: 2m\n      transcription: {engine: whisper}\n").replace(
        "        content_sid: HX0123456789abcdef0123456789abcdef\n", "")
    path = tmp_path / "twilio.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_app(cli_env, "config", "check", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}:{line_of(text, 'reply_waiting:')}: "
        "channels.twilio.whatsapp_templates.reply_waiting: needs content_sid",
        f"{path}:{line_of(text, 'transcription: {engine: whisper}')}: "
        "channels.twilio.voice.transcription.engine: expected one of google, deepgram, "
        "got 'whisper'"]
    cli_env["CC_CONFIG"] = str(path)
    served = run_app(cli_env, "serve", "--port", "0")
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert served.stderr.splitlines()[1:] == result.stderr.splitlines()
    assert not (tmp_path / "cli.db").exists()


def test_webchat_limits_load_and_default():
    limits = load_config(TEST_CONFIG, env={}).channels.webchat.limits
    assert limits == WebchatLimits(messages_per_session=Rate(20, 60),
                                   messages_per_address=Rate(300, 60),
                                   conversations_per_address=Rate(60, 3600),
                                   sockets_per_address=100)
    config = load_config_text(edited("      messages_per_session: {count: 20, per: 1m}\n",
                                     "      messages_per_session: {count: 5, per: 90s}\n"),
                              env={})
    assert config.channels.webchat.limits.messages_per_session == Rate(5, 90)
    block = BASE[BASE.index("    limits:\n"):BASE.index("  email:\n")]
    config = load_config_text(edited(block, ""), env={})
    assert config.channels.webchat.limits == WebchatLimits()


def test_webchat_limit_mistakes_are_named_with_key_and_line():
    text = edited("      messages_per_session: {count: 20, per: 1m}\n"
                  "      messages_per_address: {count: 300, per: 1m}\n"
                  "      conversations_per_address: {count: 60, per: 1h}\n"
                  "      sockets_per_address: 100       # chat windows open at once\n",
                  "      messages_per_session: {count: 0, per: 1m}\n"
                  "      messages_per_address: {count: 300, per: soon}\n"
                  "      conversations_per_address: {count: 60, per: 1h, burst: 5}\n"
                  "      sockets_per_address: many\n"
                  "      sockets_per_session: 3\n")
    path = "channels.webchat"
    assert problems(text) == [
        Problem(f"{path}.limits.messages_per_session.count",
                line_of(text, "{count: 0, per: 1m}"), "must be a positive number, got 0"),
        Problem(f"{path}.limits.messages_per_address.per", line_of(text, "per: soon"),
                "not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1d or 1h30m)"),
        Problem(f"{path}.limits.conversations_per_address.burst", line_of(text, "burst: 5"),
                "unknown key"),
        Problem(f"{path}.limits.sockets_per_address", line_of(text, "sockets_per_address: many"),
                "expected int, got str 'many'"),
        Problem(f"{path}.limits.sockets_per_session", line_of(text, "sockets_per_session: 3"),
                "unknown key"),
    ]


def test_the_shipped_mailbox_example_loads_once_uncommented():
    text = (ROOT / "config.yaml").read_text()
    start = text.index("    # mailboxes:\n")
    end = text.index("\n\n", start)
    example = "\n".join(line.replace("    # ", "    ", 1)
                        for line in text[start:end].splitlines())
    text = text.replace("    mailboxes: []\n", "").replace(text[start:end], example)
    config = load_config_text(text, env={"DOST_BAKU1_IMAP_PASSWORD": "one",
                                         "DOST_BAKU2_IMAP_PASSWORD": "two"})
    assert [(m.id, m.queue, m.imap.password, m.imap.security)
            for m in config.channels.email.mailboxes] == [
        ("dost-baku-1", "dost-baku-1", "one", "tls"), ("dost-baku-2", "dost-baku-2", "two", "tls")]
    assert [q.email for q in config.queues if q.id.startswith("dost-baku")] == \
        [m.address for m in config.channels.email.mailboxes]


def test_tags_load_with_a_label_in_every_language():
    config = load_config(TEST_CONFIG, env={})
    ready = config.tag("documents-ready")
    assert ready is not None and ready.wrap_up
    assert (ready.label("ru"), ready.label("en")) == ("Документы готовы", "Documents ready")
    assert config.tag("pension").wrap_up is False and config.tag("no-such-tag") is None


@pytest.mark.parametrize("old, new, path, message", [
    ('{id: pension, label: {az: "Pensiya", ru: "Пенсия", en: "Pension"}}',
     '{id: pension, label: {az: "Pensiya", en: "Pension"}}',
     "tags[0].label", "missing required key 'ru'"),
    ("{id: pension,", "{id: Pension Cases,", "tags[0].id",
     "'Pension Cases' is not an id: lower-case letters, digits and '-', at most 64"),
    ("{id: citizenship,", "{id: pension,", "tags[1].id", "duplicate tag id 'pension'"),
    ("{id: misrouted, wrap_up: true,", "{id: misrouted, wrap_up: yes please,",
     "tags[3].wrap_up", "expected bool, got str 'yes please'"),
])
def test_a_bad_tag_is_reported_with_its_path(old, new, path, message):
    [problem] = problems(edited(old, new))
    assert (problem.path, problem.message) == (path, message)


def test_a_queue_cannot_require_a_wrap_up_code_no_tag_is():
    text = edited("    offer_timeout: 90s", "    offer_timeout: 90s\n    wrap_up_required: true",
                  queue="call-centre-142")
    assert load_config_text(text, env={}).queue("call-centre-142").wrap_up_required
    text = text.replace("wrap_up: true, ", "")
    assert (f"queues[{CALL_CENTRE}].wrap_up_required",
            "requires a wrap-up code, but no tag is one (tags: wrap_up: true)") in [
        (problem.path, problem.message) for problem in problems(text)]



@pytest.mark.parametrize("path", [ROOT / "config.yaml", TEST_CONFIG], ids=["shipped", "tests"])
def test_every_queue_is_named_in_every_language_agents_read(path):
    for queue in load_config(path, env={}).queues:
        assert set(queue.names) == {"az", "ru", "en"} and queue.name == queue.names["az"]
        assert all(name.strip() for name in queue.names.values()), queue.id
    queue = load_config(path, env={}).queue("call-centre-142")
    assert (queue.label("az"), queue.label("ru"), queue.label("en")) == (
        "142 Çağrı Mərkəzi", "Колл-центр 142", "142 Call Centre")


def test_a_queue_named_by_one_text_reads_it_in_every_language():
    text = edited('name: {az: "142 Çağrı Mərkəzi", ru: "Колл-центр 142", en: "142 Call Centre"}',
                  'name: "142"', queue="call-centre-142")
    queue = load_config_text(text, env={}).queue("call-centre-142")
    assert queue.name == "142" and dict(queue.names) == {"az": "142", "ru": "142", "en": "142"}


def test_a_queue_name_without_a_language_is_reported_with_its_path():
    text = edited('ru: "Колл-центр 142", ', "", queue="call-centre-142")
    assert (f"queues[{CALL_CENTRE}].name", "missing required key 'ru'") in [
        (problem.path, problem.message) for problem in problems(text)]

# --- outcomes and the survey -----------------------------------------------------------------

def test_dost_centres_notifications_and_the_survey_load_typed() -> None:
    config = load_config(TEST_CONFIG, env={})
    assert config.dost_centre("baku-1").text("en") == {
        "centre": "Baku DOST Centre No. 1",
        "address": "206 Sharifzade street, Yasamal district, Baku",
        "hours": "Mon–Fri 09:00–18:00"}
    assert config.notifications.whatsapp_templates["pickup"] == "outcome_pickup"
    assert (config.survey.enabled, config.survey.expiry_s) == (True, 86400)


@pytest.mark.parametrize("old, new, path, message", [
    ("  expiry: 24h", "  expiry: 0s", "survey.expiry", "must be more than 0 seconds"),
    ("  expiry: 24h", "  expiry: soon", "survey.expiry",
     "not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1d or 1h30m)"),
    ("  channels: [webchat, telegram, whatsapp, sms, email]\n",
     "  channels: [webchat, voice]\n", "survey.channels",
     "'voice' is not one of webchat, telegram, whatsapp, sms, email"),
    ("    pickup: outcome_pickup", "    pickup: outcome_ready",
     "notifications.whatsapp_templates.pickup",
     "unknown template 'outcome_ready' (not one of channels.twilio.whatsapp_templates)"),
    ("    approved: outcome_approved", "    granted: outcome_approved",
     "notifications.whatsapp_templates.granted",
     "'granted' is not one of approved, rejected, pickup, more_info"),
    ("  - id: sumqayit", "  - id: baku-2", "dost_centres[2].id", "duplicate centre id 'baku-2'"),
], ids=["expiry-zero", "expiry-text", "survey-channel", "template", "kind", "centre-id"])
def test_outcome_and_survey_settings_are_checked(old, new, path, message) -> None:
    text = edited(old, new)
    found = problems(text)
    assert [(p.path, p.message) for p in found] == [(path, message)]
    assert found[0].line is not None
