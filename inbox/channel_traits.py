"""What the inbox needs to know of a channel, declared by the channel itself.

Each channel (`channels/`) declares one `ChannelTraits`; the application and the worker hand
them to the inbox at start-up (`InboxContext.channels`), so the inbox decides by trait
(acknowledge? how long may free text be sent?) and never by a channel's name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from routing.assignment import CapacityKind
from settings import Config

if TYPE_CHECKING:
    from inbox.context import InboxContext

# (a message's external id, its extra) -> what finds it at the provider, or None: not there.
ProviderLocator = Callable[[str, Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class MessageTemplate:
    """A message approved in advance with the provider, the only kind some channels accept
    once their free-text window has closed."""

    name: str
    variables: tuple[str, ...] = ()   # the names of the values an agent fills in, in order
    preview: str | None = None        # its text as the provider shows it, when config says


@dataclass(frozen=True)
class TemplateSend:
    body: str                                           # what the conversation shows
    extra: dict[str, str] = field(default_factory=dict) # the channel's own send options


class TemplateCatalogue(Protocol):
    def approved(self, config: Config) -> Mapping[str, MessageTemplate]:
        """The deployment's approved templates, by name."""

    def prepare(self, config: Config, name: str, values: Mapping[str, str]) -> TemplateSend:
        """Template `name` (one of `approved`) filled with the agent's values; ValueError
        naming the ones missing."""


class MailComposer(Protocol):
    """How a channel whose replies are mail (a subject, a signature) composes one: the console
    prefills the agent's reply with what the channel would send anyway."""

    def reply_subject(self, subject: str | None, conversation_id: int) -> str:
        """The subject of a reply to a mail titled `subject` in that conversation."""

    def signature(self, config: Config, mailbox: str | None, queue: str | None,
                  language: str) -> str | None:
        """The signature a reply from `mailbox` (else the mailbox of `queue`) carries, in
        the resident's language; None when there is none."""


class TypingSignal(Protocol):
    """How a channel shows the resident that an agent is writing. Ephemeral: never a job and
    never retried (a late "typing" is worse than none); a failure is logged and dropped."""

    async def show(self, ctx: InboxContext, address: str) -> None:
        """Show it to the resident at `address` (the channel may throttle)."""


@dataclass(frozen=True)
class FileRefusal:
    """Why a file cannot go to a resident on a channel: an error code the console names in
    the agent's language, and the values its text needs."""

    code: str
    values: dict[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileCarriage:
    """What files a channel carries to a resident, as its provider documents: the types (glob
    patterns), the largest size, and for a channel that carries them only to some numbers
    (Twilio's MMS: United States and Canada), the E.164 prefixes of those numbers. Within
    these, the deployment's own `media` limits apply too."""

    types: tuple[str, ...] = ("*/*",)
    max_bytes: int | None = None
    phone_prefixes: tuple[str, ...] | None = None

    def refusal(self, address: str, content_type: str, size: int) -> FileRefusal | None:
        """None when this file can go to `address`; else why not."""
        if self.phone_prefixes is not None and not address.startswith(self.phone_prefixes):
            return FileRefusal("files_not_to_this_number")
        if not any(fnmatch.fnmatch(content_type, pattern) for pattern in self.types):
            return FileRefusal("file_type_not_carried", {"type": content_type})
        if self.max_bytes is not None and size > self.max_bytes:
            return FileRefusal("file_too_large_for_channel",
                               {"max_mb": max(1, self.max_bytes // (1024 * 1024))})
        return None


@dataclass(frozen=True)
class ChannelTraits:
    name: str                        # the registry name stored on messages and conversations
    label: str                       # how the console names it
    # Agents' capacity is counted per kind of work: a few live chats (phone, SMS and
    # messengers all need a quick answer) but many more e-mails.
    capacity_kind: CapacityKind = "chat"
    # The resident gets a written acknowledgement when a conversation is routed (a caller
    # hears the IVR instead).
    acknowledged: bool = True
    # How long after the resident's last message free text may still be sent; None = always.
    free_text_window: timedelta | None = None
    # The provider's approved message templates, which may go out after that window.
    templates: TemplateCatalogue | None = None
    # The resident's words were heard, not written (a voicemail's transcript): identifiers
    # found in them are never kept as claims, a misheard FIN must not join two residents.
    heard: bool = False
    # The address is a phone number: the console masks it.
    phone_address: bool = False
    # The `phone` a message carries was delivered by the carrier, so a contact may be joined
    # on it (a Telegram contact the user shared of themselves would be; a number typed in a
    # message never is: `inbox.matching`).
    vouches_phone: bool = False
    # Replies are mail: they carry a subject an agent may change, and a signature.
    composer: MailComposer | None = None
    # A message joins a conversation only through its thread (an e-mail's In-Reply-To,
    # References or subject token: `inbox.threads`); one that names none starts a new
    # conversation, as a new mail is a new matter. Elsewhere a message without a thread joins
    # the resident's open conversation.
    threaded: bool = False
    # The files an agent may send on it; None: it carries none (a phone call).
    files: FileCarriage | None = None
    # The resident can see that an agent is writing (a chat window, Telegram's chat action);
    # None: the channel has no such thing, and the agent's typing goes nowhere.
    typing: TypingSignal | None = None
    # Residents type back and forth here, a message at a time, so a bot may lead them through
    # a dialogue (the guided registration intake); not mail, not a call.
    dialogue: bool = False
    # The provider keeps each message (its text and files) until it is deleted, and lets us
    # delete it: an erasure deletes them there too (`channels.provider_records`, the channel's
    # `forget`). Twilio does, and a mailbox's server; a Telegram bot cannot delete a
    # resident's messages.
    kept_by_provider: bool = False
    # What the provider needs besides a message's external id to find it there (a mail's
    # Message-ID on its mailbox's server), from the message's external id and extra; None:
    # it cannot be found there, and is not listed. Unset: the external id is enough.
    provider_locator: ProviderLocator | None = None

    def file_refusal(self, address: str, content_type: str, size: int) -> FileRefusal | None:
        """Why this file cannot go to `address` on this channel, or None when it can."""
        if self.files is None:
            return FileRefusal("channel_carries_no_files", {"channel": self.label})
        return self.files.refusal(address, content_type, size)

    def free_text_allowed(self, last_inbound_at: datetime | None, now: datetime) -> bool:
        if self.free_text_window is None:
            return True
        return last_inbound_at is not None and now - last_inbound_at < self.free_text_window


class UnknownChannel(ValueError):
    """A name no registered channel declares (a row written by a channel since removed)."""


class ChannelBook(Mapping[str, ChannelTraits]):
    """The traits of every registered channel, by name."""

    def __init__(self, traits: Iterable[ChannelTraits] = ()):
        self._by_name = {t.name: t for t in traits}

    def __getitem__(self, name: str) -> ChannelTraits:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownChannel(f"unknown channel {name!r}: no registered channel declares "
                                 f"it") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def capacity_kind(self, name: str) -> CapacityKind:
        return self[name].capacity_kind

    def view(self) -> list[dict]:
        """What the console needs of each channel, in registry order."""
        return [{"name": t.name, "label": t.label, "capacity_kind": t.capacity_kind,
                 "templates": t.templates is not None, "phone_address": t.phone_address,
                 "heard": t.heard, "subject": t.composer is not None,
                 "files": t.files is not None, "typing": t.typing is not None}
                for t in self._by_name.values()]


# The book a process was started with: `app.py` and `worker.py` install the registry's at
# start-up. Jobs run by name in a worker find it here, since rq hands them only ids.
_installed = ChannelBook()


def install(book: ChannelBook) -> None:
    global _installed
    _installed = book


def installed() -> ChannelBook:
    return _installed
