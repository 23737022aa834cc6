"""The registry {name: channel}. Adding a channel means one file and one entry here."""

from __future__ import annotations

from collections.abc import Callable

from channels.base import Channel
from channels.twilio.messaging import SMS_CHANNEL, WHATSAPP_CHANNEL, messaging_settings
from channels.twilio.voice import VOICE_CHANNEL
from channels.twilio.voice_config import VoiceConfigError, load_prompt_texts, voice_settings
from channels.webchat import WebchatChannel
from settings import Config

CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        WebchatChannel(),
        SMS_CHANNEL,
        WHATSAPP_CHANNEL,
        VOICE_CHANNEL,
    )
}


def channel_for(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise LookupError(f"no channel named {name!r} is registered") from None


def _twilio_problems(config: Config) -> list[str]:
    twilio = config.channels.twilio
    if not twilio:
        return []
    problems = []
    try:
        messaging_settings(twilio)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        voice_settings(twilio.get("voice"), load_prompt_texts())
    except VoiceConfigError as exc:
        problems.append(str(exc))
    return problems


# settings/ keeps a channel's own section free-form (`channels.twilio`) and leaves checking it
# to the channel; `app.py config check` and `serve` report what these find.
CONFIG_CHECKS: tuple[Callable[[Config], list[str]], ...] = (_twilio_problems,)


def config_problems(config: Config) -> list[str]:
    """What is wrong in the channels' own settings, each naming its key."""
    return [problem for check in CONFIG_CHECKS for problem in check(config)]
