"""The registry {name: channel}. Adding a channel means one file and one line here."""

from __future__ import annotations

from channels.base import Channel
from channels.email.channel import EMAIL_CHANNEL
from channels.telegram.channel import TELEGRAM_CHANNEL
from channels.twilio.messaging import SMS_CHANNEL, WHATSAPP_CHANNEL
from channels.twilio.voice import VOICE_CHANNEL
from channels.webchat.channel import WEBCHAT_CHANNEL
from inbox.channel_traits import ChannelBook
from settings import Config, Problem

CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        WEBCHAT_CHANNEL,
        SMS_CHANNEL,
        WHATSAPP_CHANNEL,
        VOICE_CHANNEL,
        EMAIL_CHANNEL,
        TELEGRAM_CHANNEL,
    )
}


def channel_for(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise LookupError(f"no channel named {name!r} is registered") from None


def channel_book() -> ChannelBook:
    """What the inbox needs to know of every registered channel (handed to it at start-up)."""
    return ChannelBook(channel.traits for channel in CHANNELS.values())


def scheduled_jobs(config: Config) -> dict[str, int]:
    """The periodic jobs the channels ask the worker for: {dotted name: interval s}."""
    return {job: interval for channel in CHANNELS.values()
            for job, interval in channel.scheduled_jobs(config).items()}


def config_problems(config: Config) -> list[Problem]:
    """What is wrong in the channels' own settings, each naming its key and line: every
    channel's check (channels sharing a section report its problems once), and the channel
    names routing rules use."""
    problems = [problem for channel in CHANNELS.values()
                for problem in channel.check_config(config)]
    for i, rule in enumerate(config.routing.rules if config.routing else ()):
        if rule.channel is not None and rule.channel not in CHANNELS:
            path = f"routing.rules[{i}].if.channel"
            problems.append(Problem(path, config.line(path),
                                    f"{rule.channel!r} is not one of {', '.join(CHANNELS)}"))
    return list(dict.fromkeys(problems))
