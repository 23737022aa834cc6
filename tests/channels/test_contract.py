"""The channel contract: what every registered channel declares, how its config problems keep
their line, the registry's check of channel names in routing rules, and structured content
degrading to text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels import registry
from channels.base import Channel, as_text, problem_at
from channels.registry import CHANNELS, channel_book, config_problems, scheduled_jobs
from inbox.channel_traits import ChannelTraits, UnknownChannel
from inbox.messages import OutboundMessage
from inbox.sweeps import SWEEP_JOB
from settings import Problem, load_config_text
from tests.conftest import TEST_CONFIG
from worker import periodic_jobs

BASE = TEST_CONFIG.read_text(encoding="utf-8")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def outbound(body: str, **content) -> OutboundMessage:
    return OutboundMessage(message_id=1, conversation_id=1, channel="sms", address="+994501234567",
                           body=body, language="az", created_at=NOW, **content)


def line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


# --- what the channels declare ----------------------------------------------------------------

def test_every_registered_channel_keeps_the_contract():
    for name, channel in CHANNELS.items():
        assert isinstance(channel.traits, ChannelTraits)
        assert channel.name == channel.traits.name == name
        for method in ("setup_routes", "check_config", "scheduled_jobs", "fetch_media", "send"):
            assert callable(getattr(channel, method)), (name, method)


@pytest.mark.parametrize(("channel", "kind", "acknowledged", "heard", "phone"), [
    ("webchat", "chat", True, False, False),
    ("sms", "chat", True, False, True),
    ("whatsapp", "chat", True, False, True),
    ("voice", "chat", False, True, True),
    ("email", "email", True, False, False),
])  # fmt: skip
def test_the_traits_the_inbox_and_console_read(channel, kind, acknowledged, heard, phone):
    traits = channel_book()[channel]
    assert (traits.capacity_kind, traits.acknowledged, traits.heard, traits.phone_address,
            traits.vouches_phone) == (kind, acknowledged, heard, phone, phone)


def test_telegram_vouches_only_for_the_phone_its_user_shares_of_themselves():
    # The address is a chat id, not a phone; the phone a message carries is the user's own
    # shared contact (`channels.telegram.parse`), so it may join contacts.
    traits = channel_book()["telegram"]
    assert (traits.capacity_kind, traits.acknowledged, traits.phone_address,
            traits.vouches_phone) == ("chat", True, False, True)


def test_only_whatsapp_has_a_free_text_window_and_templates():
    book = channel_book()
    whatsapp = book["whatsapp"]
    assert whatsapp.free_text_window == timedelta(hours=24)
    assert whatsapp.templates is not None
    assert whatsapp.free_text_allowed(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not whatsapp.free_text_allowed(NOW - timedelta(hours=24), NOW)
    assert not whatsapp.free_text_allowed(None, NOW)
    for name in ("webchat", "sms", "voice"):
        assert book[name].free_text_window is None and book[name].templates is None
        assert book[name].free_text_allowed(None, NOW)


def test_only_email_replies_are_composed_as_mail():
    book = channel_book()
    composer = book["email"].composer
    assert composer is not None
    assert composer.reply_subject("RE: Ответ: Pensiya [DOST-7]", 7) == "Re: Pensiya [DOST-7]"
    assert [name for name in book if book[name].composer is not None] == ["email"]


def test_an_unknown_channel_is_named():
    with pytest.raises(UnknownChannel, match="'fax'"):
        channel_book()["fax"]


def test_the_console_view_of_the_channels():
    assert channel_book().view() == [
        {"name": "webchat", "label": "Web chat", "capacity_kind": "chat", "templates": False,
         "phone_address": False, "heard": False, "subject": False, "files": True,
         "typing": True},
        {"name": "sms", "label": "SMS", "capacity_kind": "chat", "templates": False,
         "phone_address": True, "heard": False, "subject": False, "files": True,
         "typing": False},
        {"name": "whatsapp", "label": "WhatsApp", "capacity_kind": "chat", "templates": True,
         "phone_address": True, "heard": False, "subject": False, "files": True,
         "typing": False},
        {"name": "voice", "label": "Voice call", "capacity_kind": "chat", "templates": False,
         "phone_address": True, "heard": True, "subject": False, "files": False,
         "typing": False},
        {"name": "email", "label": "E-mail", "capacity_kind": "email", "templates": False,
         "phone_address": False, "heard": False, "subject": True, "files": True,
         "typing": False},
        {"name": "telegram", "label": "Telegram", "capacity_kind": "chat", "templates": False,
         "phone_address": False, "heard": False, "subject": False, "files": True,
         "typing": True}]


MB = 1024 * 1024


@pytest.mark.parametrize(("channel", "address", "content_type", "size", "refusal"), [
    ("sms", "+12025550143", "image/jpeg", 2 * MB, None),
    ("sms", "+994501234567", "image/jpeg", 2 * MB, ("files_not_to_this_number", {})),
    ("sms", "+12025550143", "image/jpeg", 6 * MB, ("file_too_large_for_channel", {"max_mb": 5})),
    ("sms", "+12025550143", "audio/ogg", MB, ("file_type_not_carried", {"type": "audio/ogg"})),
    ("whatsapp", "+994501234567", "application/pdf", 15 * MB, None),
    ("whatsapp", "+994501234567", "image/gif", MB, ("file_type_not_carried",
                                                     {"type": "image/gif"})),
    ("telegram", "512345678", "image/heic", 40 * MB, None),
    ("email", "ivan.petrov@mail.ru", "video/mp4", 9 * MB, None),
    ("webchat", "sess-1", "application/pdf", MB, None),
    ("voice", "+994501234567", "application/pdf", MB, ("channel_carries_no_files",
                                                        {"channel": "Voice call"})),
])
def test_what_files_each_channel_carries(channel, address, content_type, size, refusal):
    found = channel_book()[channel].file_refusal(address, content_type, size)
    assert (None if found is None else (found.code, found.values)) == refusal


def test_whatsapp_templates_are_named_with_named_variables():
    config = load_config_text(BASE, env={})
    catalogue = channel_book()["whatsapp"].templates
    template = catalogue.approved(config)["reply_waiting"]
    assert (template.name, template.variables) == ("reply_waiting", ("name", "conversation"))
    send = catalogue.prepare(config, "reply_waiting", {"name": "Günel", "conversation": "42"})
    assert "Günel" in send.body and "42" in send.body and "{{" not in send.body
    with pytest.raises(ValueError, match="needs conversation"):
        catalogue.prepare(config, "reply_waiting", {"name": "Günel"})


# --- config checks keep file and line ---------------------------------------------------------

def test_a_channels_problem_names_the_line_of_its_key():
    config = load_config_text(BASE, env={})
    path = "channels.twilio.voice.ring_timeout"
    assert problem_at(config, f"{path}: must be from 5s to 120s") == Problem(
        path, line_of(BASE, "ring_timeout:"), "must be from 5s to 120s")
    # A key the file does not have is placed at the nearest one it has.
    assert problem_at(config, "channels.twilio.voice.menu_attempts: expected 1 to 5").line == \
        line_of(BASE, "    voice:")


def test_a_routing_rule_names_a_registered_channel():
    text = BASE.replace("    - {if: {category: inquiry}, queue: call-centre-142}",
                        "    - {if: {category: inquiry, channel: fax}, queue: call-centre-142}")
    config = load_config_text(text, env={})
    [problem] = config_problems(config)
    assert problem.path.endswith(".if.channel") and problem.path.startswith("routing.rules[")
    assert problem.line == line_of(text, "channel: fax")
    assert problem.message == ("'fax' is not one of webchat, sms, whatsapp, voice, email, "
                               "telegram")
    assert config_problems(load_config_text(BASE, env={})) == []


# --- scheduled jobs -----------------------------------------------------------------------------

class PollingChannel:
    """A channel that asks the worker for a periodic job, as e-mail's mailbox poll will."""

    traits = ChannelTraits(name="polling", label="Polling")
    name = traits.name

    def setup_routes(self, app) -> None:
        pass

    def check_config(self, config) -> list[Problem]:
        return []

    def scheduled_jobs(self, config) -> dict[str, int]:
        return {"tests.channels.test_contract.poll": 30}

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        raise NotImplementedError

    async def send(self, ctx, message):
        raise NotImplementedError


def test_the_worker_schedules_the_jobs_channels_declare(monkeypatch):
    channel: Channel = PollingChannel()
    monkeypatch.setitem(registry.CHANNELS, channel.name, channel)
    config = load_config_text(BASE, env={})   # no mailboxes: e-mail polls nothing
    assert scheduled_jobs(config) == {"tests.channels.test_contract.poll": 30,
                                      "channels.webchat.uploads.sweep_uploads": 3600,
                                      # Twilio keeps messages: erased ones are deleted there.
                                      "channels.provider_records.forget_job": 300}
    jobs = periodic_jobs(config)
    assert jobs["tests.channels.test_contract.poll"] == 30
    assert jobs[SWEEP_JOB] == 1   # beside the worker's own (`outbox.sweep_interval`)


# --- structured content degrades to text --------------------------------------------------------

def test_choices_become_a_numbered_list_after_the_body():
    message = as_text(outbound("Hansı xidmət?", choices=("Pensiya", "Qeydiyyat")))
    assert message.body == "Hansı xidmət?\n\n1. Pensiya\n2. Qeydiyyat"
    assert message.choices == () and message.buttons == ()


def test_buttons_become_the_words_a_resident_may_write():
    message = as_text(outbound("Müraciətiniz həll olundu?", buttons=("Bəli", "Xeyr")))
    assert message.body == "Müraciətiniz həll olundu?\n\n• Bəli\n• Xeyr"


def test_a_plain_message_is_left_as_it_is():
    message = outbound("Salam")
    assert as_text(message) == message
