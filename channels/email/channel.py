"""The e-mail channel: the DOST centres' shared mailboxes.

Mail comes in by the worker's poll of each mailbox (IMAP) and leaves over SMTP from the
mailbox it reached; there are no webhooks. An agent holds many more mails than live chats
at once, so e-mail is its own kind of capacity.
"""

from __future__ import annotations

from aiohttp import web

from channels.base import MediaError, SendResult, problem_at
from channels.email import smtp
from channels.email.compose import COMPOSER
from inbox.channel_traits import ChannelTraits
from inbox.context import InboxContext
from inbox.messages import OutboundMessage
from settings import Config, Problem

CHANNEL = "email"


class MailChannel:
    traits = ChannelTraits(name=CHANNEL, label="E-mail", capacity_kind="email",
                           composer=COMPOSER, threaded=True)
    name = traits.name

    def check_config(self, config: Config) -> list[Problem]:
        return [problem_at(config, problem) for problem in smtp.config_problems(config)]

    def scheduled_jobs(self) -> dict[str, int]:
        return {}

    def setup_routes(self, app: web.Application) -> None:
        """None: mail is fetched by the worker, not pushed to the app."""

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        raise MediaError("a mail's attachments are stored when the mail is read, not fetched",
                         transient=False)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        """Over SMTP from the conversation's mailbox, in the thread (`channels.email.smtp`)."""
        return await smtp.send(ctx, message)


EMAIL_CHANNEL = MailChannel()
