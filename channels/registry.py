"""The registry {name: channel}. Adding a channel means one file and one entry here."""

from __future__ import annotations

from channels.base import Channel
from channels.twilio_messaging import SMS_CHANNEL, WHATSAPP_CHANNEL
from channels.twilio_voice import VOICE_CHANNEL
from channels.webchat import WebchatChannel

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
