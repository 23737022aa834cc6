"""Plain, frozen configuration objects: what the rest of the system reads from config.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from ipaddress import IPv4Network, IPv6Network
from types import MappingProxyType
from typing import Any

QUEUE_KINDS = ("operators", "mailbox")
STRATEGIES = ("round_robin", "least_busy", "manual")
CATEGORIES = ("inquiry", "registration", "support")
LANGUAGES = ("az", "ru", "en")


@dataclass(frozen=True)
class Sla:
    first_response: str  # business-time duration text, e.g. "2h"; routing.sla turns it into time
    resolution: str


@dataclass(frozen=True)
class Queue:
    id: str
    name: str                   # in Azerbaijani: logs, and readers of one language only
    kind: str
    email: str | None
    languages: tuple[str, ...]
    sla: Sla
    strategy: str
    offer_timeout_s: int
    escalation_queue: str | None = None
    # Resolving one of its conversations needs a wrap-up code among its tags.
    wrap_up_required: bool = False
    # The name in each language agents and residents read (config `name: {az, ru, en}`);
    # a name given as one string is the same in every language.
    names: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def label(self, language: str | None) -> str:
        """The queue's name in `language` (None, or one it is not named in: its `name`)."""
        return (self.names.get(language) if language else None) or self.name


@dataclass(frozen=True)
class Labelled:
    """Something config names by id and labels in every language agents read."""

    id: str
    labels: MappingProxyType[str, str]      # language -> label, every one of LANGUAGES

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels["az"]


@dataclass(frozen=True)
class AwayReason(Labelled):
    """Why an agent is away (a break, training, after-call work); the wall-board and reports
    show the time spent in each."""


@dataclass(frozen=True)
class Tag(Labelled):
    """A label agents put on conversations. A wrap-up code says how a conversation ended
    ("documents ready", "misrouted"); a queue may require one on resolve."""

    wrap_up: bool = False


@dataclass(frozen=True)
class IntakeDocument(Labelled):
    """A document a service asks residents for (an ID card copy, a birth certificate)."""


@dataclass(frozen=True)
class IntakeService(Labelled):
    """A service residents register for in the guided intake, with the documents it needs."""

    documents: tuple[str, ...] = ()     # ids of `GuidedIntake.documents`


@dataclass(frozen=True)
class GuidedIntake:
    """The guided registration intake (`inbox.guided_intake`): a registration on a channel
    that holds a dialogue is asked the form's questions before an operator sees it. The form
    itself (steps, texts, validation) is `templates/intake/form.yaml`; the deployment chooses
    the services, their documents and the timings."""

    enabled: bool = False
    services: tuple[IntakeService, ...] = ()
    documents: tuple[IntakeDocument, ...] = ()
    remind_after_s: int = 1800          # one reminder after this long without an answer
    hand_over_after_s: int = 86400      # then, still silent, operators take what was collected
    max_attempts: int = 3               # failed answers to one question before an operator

    def service(self, service_id: str) -> IntakeService | None:
        return next((s for s in self.services if s.id == service_id), None)

    def document(self, document_id: str) -> IntakeDocument | None:
        return next((d for d in self.documents if d.id == document_id), None)


@dataclass(frozen=True)
class DostCentre:
    """A DOST centre where residents pick documents up: named, with its address and opening
    hours in every language, as a pickup notification tells them."""

    id: str
    names: MappingProxyType[str, str]
    addresses: MappingProxyType[str, str]
    hours: MappingProxyType[str, str]

    def text(self, language: str) -> dict[str, str]:
        """The centre's name, address and hours in `language` (else Azerbaijani)."""
        def pick(texts: MappingProxyType[str, str]) -> str:
            return texts.get(language) or texts["az"]
        return {"centre": pick(self.names), "address": pick(self.addresses),
                "hours": pick(self.hours)}


OUTCOME_KINDS = ("approved", "rejected", "pickup", "more_info")
# Where a resident can answer a written question (a caller cannot press 1-5 after the call).
SURVEY_CHANNELS = ("webchat", "telegram", "whatsapp", "sms", "email")


@dataclass(frozen=True)
class Notifications:
    """How residents are told a case's outcome: the WhatsApp template (a name under
    `channels.twilio.whatsapp_templates`) per outcome kind, for a resident whose 24-hour
    window has closed. A kind without one skips WhatsApp then and tries the next channel."""

    whatsapp_templates: MappingProxyType[str, str] = field(
        default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Survey:
    """The satisfaction question after an agent resolves a conversation: on which channels,
    and how long an answer is taken as one (after that a message reopens as any would)."""

    enabled: bool = False
    expiry_s: int = 24 * 3600
    channels: tuple[str, ...] = SURVEY_CHANNELS


@dataclass(frozen=True)
class Privacy:
    """How long a resident's personal data is kept: once every conversation of theirs was
    resolved at least `retention_s` ago, the worker erases it (`inbox.erasure`), keeping
    what the reports count. None: kept until an admin erases it."""

    retention_s: int | None = None


@dataclass(frozen=True)
class BusinessHours:
    days: tuple[str, ...]
    open: time
    close: time
    holidays: str | None
    extra_closed_days: tuple[date, ...] = ()
    extra_open_days: tuple[date, ...] = ()


@dataclass(frozen=True)
class RuleConfig:
    queue: str
    category: str | None = None
    channel: str | None = None
    language: str | None = None
    keywords: tuple[str, ...] = ()
    queue_hint: str | None = None


@dataclass(frozen=True)
class KeywordOverride:
    """Deployment phrases that decide the category whatever the model says."""

    keywords: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class RoutingConfig:
    rules: tuple[RuleConfig, ...]
    default_queue: str
    triage_queue: str
    min_confidence: float
    category_keywords: tuple[KeywordOverride, ...] = ()


@dataclass(frozen=True)
class Rate:
    """At most `count` at once, earned back evenly over `per_s` seconds (a token bucket)."""

    count: int
    per_s: int


@dataclass(frozen=True)
class WebchatLimits:
    """What one resident, and one network address, may do on the web chat. Offices and
    mobile networks put many residents behind one address, so the per-address limits are
    generous and the per-session one is tight: one abuser runs into their session's limit
    long before their office's."""

    messages_per_session: Rate = Rate(20, 60)
    messages_per_address: Rate = Rate(300, 60)
    conversations_per_address: Rate = Rate(60, 3600)
    sockets_per_address: int = 100


@dataclass(frozen=True)
class WebchatChannel:
    allowed_origins: tuple[str, ...]
    max_message_chars: int = 4000
    limits: WebchatLimits = field(default_factory=WebchatLimits)
    # The widget's pre-chat form and its offline mode: the queue whose online agents (within
    # business hours) make the chat "online" (None: routing's default queue); whether a phone
    # or e-mail is required even online; the privacy notice the resident consents to.
    queue: str | None = None
    contact_required: bool = False
    privacy_url: str | None = None
    # An agent's reply to a resident whose every chat window has been closed this long goes
    # by SMS or e-mail to where they asked (the offline form); before that it waits for
    # them to come back (a reload, a lost connection). The mailbox such mail leaves from
    # (None: the conversation's queue's, else the first configured).
    away_after_s: int = 60
    reply_mailbox: str | None = None


IMAP_SECURITY = ("tls", "starttls", "none")
AFTER_READING = ("flag", "move", "none")


@dataclass(frozen=True)
class Imap:
    """Where a mailbox's mail is read, and what is done to a mail once it is stored."""

    host: str
    user: str
    password: str
    port: int = 993
    security: str = "tls"            # tls (IMAPS), starttls, or none (a local test server)
    folders: tuple[str, ...] = ("INBOX",)
    after: str = "flag"              # flag, move, or none: done only after the commit
    flag: str = "\\Seen"             # a system flag or a keyword ($Imported)
    move_to: str | None = None       # the folder `after: move` moves to
    timeout_s: int = 30


@dataclass(frozen=True)
class Mailbox:
    id: str
    address: str
    queue: str
    imap: Imap
    smtp: dict[str, Any]
    # The signature under its replies, per language (az, ru, en); the e-mail templates'
    # signature where a language has none here.
    signature: dict[str, str] = field(default_factory=dict)
    poll_interval_s: int = 30


@dataclass(frozen=True)
class EmailChannel:
    poll_interval_s: int
    mailboxes: tuple[Mailbox, ...]
    # A reply to a conversation resolved this recently reopens it; to an older one, it starts
    # a new conversation.
    reopen_within_s: int = 14 * 86400
    # Automatic acknowledgements one sender address gets a day: a mail loop with another
    # robot (or a flood under a forged sender) stops here.
    acknowledgements_per_day: int = 3
    # A mail that fails this many polls goes to the dead letters, and the mailbox moves on.
    max_attempts: int = 3
    # When a folder's UIDVALIDITY changes (or on the first poll), the mail that arrived in
    # this window is read (again); dedupe keeps each mail once.
    reread_window_s: int = 14 * 86400
    fetch_batch: int = 100           # mails fetched (and stored) per round trip


@dataclass(frozen=True)
class ChannelRules:
    """What the inbox applies to one channel's residents, whatever the channel: how long a
    resolved conversation may still be reopened by a reply in its thread (0: never), and
    how many automatic acknowledgements one sender gets a day (None: no cap)."""

    reopen_within_s: int = 0
    acknowledgements_per_day: int | None = None


@dataclass(frozen=True)
class Channels:
    webchat: WebchatChannel
    email: EmailChannel | None = None
    # Every other section under `channels` (a provider's), free-form: the channels that read
    # one check it themselves (`Channel.check_config`).
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any] | None:
        return self.sections.get(name)

    def rules(self, name: str) -> ChannelRules:
        """The inbox's rules for the channel `name` (the e-mail channel's are configured)."""
        if name == "email":
            # Without a section, no mailbox is read; the defaults stand for any mail stored.
            email = self.email or EmailChannel
            return ChannelRules(email.reopen_within_s, email.acknowledgements_per_day)
        return ChannelRules()


@dataclass(frozen=True)
class Outbox:
    lease_s: int = 60          # a claimed send older than this is presumed dead and re-driven
    sweep_interval_s: int = 5  # how often the worker looks for stale sends
    max_attempts: int = 6


@dataclass(frozen=True)
class Intake:
    """Provider webhooks (Twilio messaging) are acknowledged once journalled, and taken into
    the inbox right after. During a burst, acknowledging comes first: taking in waits while
    webhooks are being answered; once the oldest journalled message has waited `max_lag_s`,
    it takes small batches and 30 % of the event loop until the burst ends. A journal entry
    older than `recover_after_s` belonged to a process that died; the worker's sweep takes it
    in."""

    max_lag_s: int = 1
    recover_after_s: int = 60


@dataclass(frozen=True)
class Media:
    """Attachments residents send: fetched from the provider and kept here, served to agents
    only through the authenticated API."""

    directory: str = "var/media"
    max_bytes: int = 10 * 1024 * 1024
    allowed_types: tuple[str, ...] = ("image/*", "audio/*", "video/*", "application/pdf")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_048_576  # webhooks and API bodies


@dataclass(frozen=True)
class Config:
    public_url: str
    timezone: str
    business_hours: BusinessHours
    queues: tuple[Queue, ...]
    routing: RoutingConfig
    channels: Channels
    outbox: Outbox = field(default_factory=Outbox)
    intake: Intake = field(default_factory=Intake)
    limits: Limits = field(default_factory=Limits)
    media: Media = field(default_factory=Media)
    tags: tuple[Tag, ...] = ()
    away_reasons: tuple[AwayReason, ...] = ()
    guided_intake: GuidedIntake = field(default_factory=GuidedIntake)
    dost_centres: tuple[DostCentre, ...] = ()
    notifications: Notifications = field(default_factory=Notifications)
    survey: Survey = field(default_factory=Survey)
    privacy: Privacy = field(default_factory=Privacy)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the real client.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    source: str = "config.yaml"
    # The line of every key, by its path ("channels.twilio.sms_from"): what a check that
    # runs after loading (a channel's own section) needs to name the line it found wrong.
    lines: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}),
                                              compare=False, repr=False)

    def line(self, path: str) -> int | None:
        """The line of `path`, or of the nearest enclosing key the file has."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None

    def dost_centre(self, centre_id: str) -> DostCentre | None:
        return next((c for c in self.dost_centres if c.id == centre_id), None)

    def tag(self, tag_id: str) -> Tag | None:
        return next((tag for tag in self.tags if tag.id == tag_id), None)

    def queue(self, queue_id: str) -> Queue:
        for queue in self.queues:
            if queue.id == queue_id:
                return queue
        raise KeyError(queue_id)

    @property
    def queue_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.queues)
