"""The e-mail channel: the DOST centres' shared mailboxes.

Mail comes in by the worker's poll of each mailbox (IMAP) and leaves over SMTP from the
mailbox it reached; there are no webhooks. An agent holds many more mails than live chats
at once, so e-mail is its own kind of capacity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from channels.base import MediaError, SendResult, problem_at
from channels.email import kept_sweep, server_copies, smtp
from channels.email.compose import COMPOSER
from channels.email.inbound import parse_attachment_url
from channels.email.mime import parse_mail
from inbox.channel_traits import ChannelTraits, FileCarriage
from inbox.context import InboxContext
from inbox.jobs import FORGET_INTERVAL_S, FORGET_JOB
from inbox.kept_mail import KeptMailGone, read_kept
from inbox.messages import OutboundMessage
from settings import Config, Problem

CHANNEL = "email"
# The mailboxes' poll (channels.email.imap), run every few seconds: each mailbox is polled
# when its own interval (or back-off) has passed.
POLL_JOB = "channels.email.imap.poll_mailboxes"
POLL_TICK_S = 5


def attachment_of_kept_mail(url: str, max_bytes: int) -> tuple[bytes, str]:
    try:
        path, span, index = parse_attachment_url(url)
        raw = read_kept(path, span)
    except (ValueError, KeptMailGone) as exc:
        raise MediaError(f"the mail this attachment came in cannot be read ({exc})",
                         transient=False) from exc
    parts = parse_mail(raw).attachments
    if index >= len(parts):
        raise MediaError("the mail has no such attachment", transient=False)
    part = parts[index]
    if len(part.data) > max_bytes:
        raise MediaError(f"the attachment is larger than {max_bytes} bytes", transient=False)
    return part.data, part.content_type


class MailChannel:
    traits = ChannelTraits(name=CHANNEL, label="E-mail", capacity_kind="email",
                           composer=COMPOSER, threaded=True,
                           files=FileCarriage(), kept_by_provider=True,
                           provider_locator=server_copies.locator)
    name = traits.name

    def check_config(self, config: Config) -> list[Problem]:
        return [problem_at(config, problem) for problem in smtp.config_problems(config)]

    def scheduled_jobs(self, config: Config) -> dict[str, int]:
        """When there are mailboxes: their poll (channels.email.imap), a short tick that polls
        each mailbox whose own interval has passed, the hourly sweep of kept raw mails no
        message names (channels.email.kept_sweep), and the deletion of erased residents'
        mails from the servers (channels.email.server_copies)."""
        email = config.channels.email
        if email is None or not email.mailboxes:
            return {}
        shortest = min(mailbox.poll_interval_s for mailbox in email.mailboxes)
        return {POLL_JOB: max(1, min(POLL_TICK_S, shortest)),
                kept_sweep.SWEEP_JOB: kept_sweep.SWEEP_INTERVAL_S,
                FORGET_JOB: FORGET_INTERVAL_S}

    def setup_routes(self, app: web.Application) -> None:
        """None: mail is fetched by the worker, not pushed to the app."""

    async def fetch_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """An attachment, read from the raw mail the poll kept (`inbound.attachment_url`)."""
        return await asyncio.to_thread(attachment_of_kept_mail, url, max_bytes)

    async def forget(self, ctx: InboxContext, records: Mapping[str, str | None]
                     ) -> dict[str, str | None]:
        """Delete erased residents' mails from their mailboxes' servers (`server_copies`)."""
        return await server_copies.forget(ctx, records)

    async def send(self, ctx: InboxContext, message: OutboundMessage) -> SendResult:
        """Over SMTP from the conversation's mailbox, in the thread (`channels.email.smtp`)."""
        return await smtp.send(ctx, message)


EMAIL_CHANNEL = MailChannel()
