"""How a reply from a DOST mailbox is composed, as far as the agent sees it before sending:
its subject and its signature. The console prefills both (`inbox.channel_traits.MailComposer`)
with what the channel sends when the agent changes nothing."""

from __future__ import annotations

from channels.email import thread
from settings import Config, Mailbox


def _mailbox(config: Config, mailbox_id: str | None, queue: str | None) -> Mailbox | None:
    """The mailbox a reply leaves from: the one the resident's mail reached, else the one
    that feeds the conversation's queue (an agent writing first, a conversation moved)."""
    section = config.channels.email
    if section is None:
        return None
    by_id = {m.id: m for m in section.mailboxes}
    if mailbox_id in by_id:
        return by_id[mailbox_id]
    return next((m for m in section.mailboxes if m.queue == queue), None)


class MailComposer:
    def reply_subject(self, subject: str | None, conversation_id: int) -> str:
        return thread.reply_subject(subject, conversation_id)

    def signature(self, config: Config, mailbox: str | None, queue: str | None,
                  language: str) -> str | None:
        found = _mailbox(config, mailbox, queue)
        if found is None:
            return None
        text = found.signature.get(language)
        return text.strip() or None if isinstance(text, str) else None


COMPOSER = MailComposer()
