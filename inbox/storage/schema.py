"""Tables of the system of record (SQLAlchemy Core). Alembic migrations are derived from these."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Aware datetimes stored as UTC. SQLite keeps no offset: a Baku-time value written as is
    would read back four hours off, so every value is converted on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# BigInteger ids on PostgreSQL, but SQLite only auto-increments a plain INTEGER primary key.
Id = BigInteger().with_variant(Integer(), "sqlite")
Time = UtcDateTime()

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("queues", JSON, nullable=False, default=list),
    Column("languages", JSON, nullable=False, default=list),
    Column("capacity", JSON, nullable=False, default=dict),
    Column("presence", String(10), nullable=False, default="offline"),
    Column("presence_reason", String(64)),   # why away (config away_reasons), else null
    Column("presence_since", Time),
    Column("last_assigned_at", Time),   # round-robin order
    Column("voice_address", String(200)),   # where calls ring: +994..., sip:..., client:...
    # The language of the console's pages, as the user chose it; null: their browser's.
    Column("console_language", String(5)),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Time, nullable=False),
)

# Each agent's presence over time: one row a state (and away reason), open (no ended_at)
# while it lasts. The wall-board's and reports' time in each state add these up.
presence_periods = Table(
    "presence_periods",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("presence", String(10), nullable=False),
    Column("reason", String(64)),
    Column("started_at", Time, nullable=False),
    Column("ended_at", Time),
    Index("ix_presence_periods_user_started", "user_id", "started_at"),
    Index("ix_presence_periods_started", "started_at"),
)

# Every change an admin makes (users, canned responses, ...): who, what, to which record,
# and when. Written in the same unit of work as the change, so neither exists without the
# other. `details` names the fields changed, never a password or other secret.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("actor_id", Id, ForeignKey("users.id")),   # None: the system's own (retention)
    Column("action", String(50), nullable=False),        # e.g. user.created, canned.deleted
    Column("target_kind", String(30), nullable=False),   # user, canned_response, ...
    Column("target_id", String(100), nullable=False),
    Column("details", JSON, nullable=False, default=dict),
    Column("created_at", Time, nullable=False),
    Index("ix_audit_events_created", "created_at"),
    Index("ix_audit_events_target", "target_kind", "target_id"),
)

# What admins changed of the canned responses (inbox/canned.py): their own responses, and the
# shipped defaults they edited (`is_default`) or deleted (`deleted`, a tombstone whose texts
# are kept for the audit's sake). A shipped default without a row is in force as shipped.
canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False),
    Column("queue", String(100)),                       # null: every queue
    Column("title", JSON, nullable=False),              # {az, ru, en}
    Column("body", JSON, nullable=False),               # {az, ru, en}
    Column("is_default", Boolean, nullable=False, default=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_by", Id, ForeignKey("users.id")),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("key", name="uq_canned_responses_key"),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200)),
    Column("language", String(5)),
    # Only what a provider vouched for (a carrier-delivered number): new identities join on it.
    Column("phone", String(20)),
    Column("email", String(254)),
    Column("preferred_channel", String(20)),   # where results go first; an agent sets it
    Column("merged_into", Id),          # set on a contact joined into another one
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("erased_at", Time),          # their personal data was erased (inbox.erasure)
    Index("ix_contacts_phone", "phone"),
    # Only the few merged contacts: an index holding every live one (merged_into NULL) led
    # SQLite's planner, which keeps no statistics, to read `merged_into IS NULL` through it
    # as if it were selective, scanning every contact of a look-up by phone or claim.
    Index("ix_contacts_merged_into", "merged_into",
          sqlite_where=text("merged_into IS NOT NULL"),
          postgresql_where=text("merged_into IS NOT NULL")),
)

contact_identities = Table(
    "contact_identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("address", String(320), nullable=False),
    Column("display_name", String(200)),
    Column("created_at", Time, nullable=False),
    # Where the resident asked answers to go when they are not there to read them on this
    # identity's channel (the web chat's offline form): {phone, email, given_at}. Typed, so
    # vouched for by nobody: it joins no contact (its digest is a claim, `inbox.matching`);
    # it is kept in clear only because the answer must be sent there.
    Column("reply_to", JSON),
    UniqueConstraint("channel", "address", name="uq_identity_channel_address"),
    Index("ix_contact_identities_contact", "contact_id"),
)

# Identifiers a resident typed (FIN, ID card, phone, e-mail): nobody vouches for them, so they
# never join contacts; they only raise possible matches (`contact_matches`). Kept as keyed
# digests (inbox.matching) and a masked form to show, never in clear.
contact_claims = Table(
    "contact_claims",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("kind", String(10), nullable=False),      # fin | id_card | phone | email
    Column("digest", String(64), nullable=False),    # HMAC of kind and value
    Column("masked", String(320), nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id")),   # where it was typed
    Column("found_at", Time, nullable=False),
    UniqueConstraint("contact_id", "digest", name="uq_contact_claims_contact_digest"),
    Index("ix_contact_claims_digest", "digest"),
)

# Two contacts that may be one resident: `contact_id` typed an identifier `other_contact_id`
# also typed or was vouched for. Shown on both; an agent confirms (merge) or dismisses it.
contact_matches = Table(
    "contact_matches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("other_contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("masked", String(320), nullable=False),
    Column("found_at", Time, nullable=False),
    Column("status", String(10), nullable=False),    # open | confirmed | dismissed
    Column("decided_by", Id, ForeignKey("users.id")),
    Column("decided_at", Time),
    Index("ix_contact_matches_contact", "contact_id"),
    Index("ix_contact_matches_other_contact", "other_contact_id"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("identity_id", Id, ForeignKey("contact_identities.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("category", String(20)),
    Column("category_confidence", Float),
    Column("category_source", String(10)),
    Column("language", String(5)),
    Column("queue", String(64)),
    Column("queue_hint", String(64)),
    Column("category_hint", String(20)),
    Column("assignee_id", Id, ForeignKey("users.id")),
    Column("priority", Integer, nullable=False, default=0),
    Column("thread_key", String(500)),
    Column("created_at", Time, nullable=False),
    Column("routed_at", Time),       # null: committed but not yet routed (the sweep's work list)
    Column("assigned_at", Time),
    Column("offered_at", Time),         # auto-assigned and not yet opened or answered
    Column("opened_at", Time),          # the assignee first opened it
    Column("first_response_at", Time),
    Column("last_message_at", Time, nullable=False),
    Column("last_inbound_at", Time),
    Column("resolved_at", Time),
    Column("sla_due_at", Time),          # first response due; after it, resolution due
    Column("sla_state", String(10), nullable=False, default="ok", server_default="ok"),
    # Tag ids from config, in the order agents added them (labels and wrap-up codes).
    Column("tags", JSON, nullable=False, default=list, server_default="[]"),
    Index("ix_conversations_queue_status", "queue", "status", "last_message_at"),
    Index("ix_conversations_identity_status", "identity_id", "status"),
    Index("ix_conversations_assignee_status", "assignee_id", "status"),
    Index("ix_conversations_last_message", "last_message_at", "id"),
    Index("ix_conversations_unrouted", "routed_at"),
    Index("ix_conversations_created", "created_at"),
    Index("ix_conversations_contact", "contact_id", "id"),
    Index("ix_conversations_offered", "offered_at"),
    Index("ix_conversations_sla", "status", "sla_state", "sla_due_at"),
    Index("ix_conversations_waiting_order", "queue", "status", "priority", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("direction", String(4), nullable=False),
    Column("external_id", String(500)),   # the provider's id, inbound and (once sent) outbound
    Column("body", Text, nullable=False),
    Column("html", Text),                 # an e-mail's HTML, sanitized when it was stored
    Column("extra", JSON),                # channel-specific send options (WhatsApp template)
    Column("attachments", JSON, nullable=False, default=list),
    Column("author_id", Id, ForeignKey("users.id")),
    Column("author_kind", String(10), nullable=False),   # resident | agent | system
    Column("created_at", Time, nullable=False),
    Column("delivery_status", String(10), nullable=False),
    Column("delivery_error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Time),     # a queued send: when its job is due
    Column("claimed_at", Time),          # a sending send: when a worker took it (lease start)
    Column("sent_at", Time),
    UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    Index("ix_messages_conversation", "conversation_id", "id"),
    Index("ix_messages_outbox", "delivery_status", "next_attempt_at"),
)

# The provider's id of each part of an outbound message, recorded the moment the provider
# accepts that part: a send interrupted between parts resumes at the first part not accepted,
# and a re-driven send knows which of the provider's messages are already accounted for.
message_parts = Table(
    "message_parts",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("part", Integer, primary_key=True),      # 0 is the first part sent
    Column("channel", String(20), nullable=False),
    Column("external_id", String(500), nullable=False),
    Column("accepted_at", Time, nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_message_parts_channel_external_id"),
)

# Provider webhooks journalled before they are acknowledged (see inbox.intake). An entry
# lives only until its message is in `messages`; the unique key drops a provider's retries.
intake = Table(
    "intake",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(20), nullable=False),
    Column("external_id", String(500), nullable=False),
    Column("message", JSON, nullable=False),     # the normalized InboundMessage
    Column("accepted_at", Time, nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_intake_channel_external_id"),
    Index("ix_intake_accepted_at", "accepted_at"),
)

# The guided registration intake's dialogue (inbox.guided_intake): one row per conversation,
# so any app process continues it and a restart loses nothing. `version` grows with every
# turn: a writer holds the row lock (PostgreSQL) or SQLite's one writer, and checks it.
guided_intakes = Table(
    "guided_intakes",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("status", String(12), nullable=False),   # active | paused | complete | handed_over
    Column("language", String(5), nullable=False),
    Column("state", JSON, nullable=False),          # engine.State.as_json()
    Column("version", Integer, nullable=False, default=1),
    Column("reason", String(200)),                  # why it was handed over
    Column("started_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("reminder_due_at", Time),                # one reminder, then a handover, if silent
    Column("reminded_at", Time),
    Column("finished_at", Time),
    Index("ix_guided_intakes_due", "status", "reminder_due_at"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("type", String(30), nullable=False),
    Column("actor_id", Id, ForeignKey("users.id")),
    Column("data", JSON, nullable=False, default=dict),
    Column("created_at", Time, nullable=False),
    Index("ix_events_conversation", "conversation_id", "id"),
    Index("ix_events_type_time", "type", "created_at"),
)

category_corrections = Table(
    "category_corrections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(5)),
    Column("predicted", String(20)),
    Column("corrected", String(20), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("created_at", Time, nullable=False),
)

# --- e-mail: reading the mailboxes (channels.email.imap) ----------------------------------
# How far each folder of each mailbox has been read: its UIDVALIDITY and the last UID whose
# mail (and every mail before it) is committed. Advanced only after that commit.
mail_cursors = Table(
    "mail_cursors",
    metadata,
    Column("mailbox", String(100), primary_key=True),
    Column("folder", String(200), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# Polls that failed to take a mail in, counted per mail (its raw bytes' hash), so a mail
# that keeps failing goes to the dead letters instead of holding its folder up.
mail_attempts = Table(
    "mail_attempts",
    metadata,
    Column("mailbox", String(100), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# Mails that could not be taken in after `channels.email.max_attempts` polls: the raw mail
# and the last error, for an admin to read and replay (`app.py email replay ID`).
mail_dead_letters = Table(
    "mail_dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mailbox", String(100), nullable=False),
    Column("folder", String(200), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
    # The keyed digest of its sender's address (inbox.matching.sender_digest): an erasure of
    # the sender empties it. None when the mail names no sender, or was buried before.
    Column("sender_digest", String(64)),
    UniqueConstraint("mailbox", "digest", name="uq_mail_dead_letters_mailbox_digest"),
    Index("ix_mail_dead_letters_sender", "sender_digest"),
)

# --- results and satisfaction: what residents are told, and what they answer ---------------
# An operator's record of how a registration or support case ended (inbox.outcomes). Its
# notification is sent by an event consumer, one attempt per channel tried.
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("kind", String(20), nullable=False),      # approved, rejected, pickup, more_info
    Column("reason", Text),                          # a rejection's, as the operator wrote it
    Column("centre", String(64)),                    # a pickup's DOST centre (config id)
    Column("actor_id", Id, ForeignKey("users.id")),
    Column("created_at", Time, nullable=False),
    Index("ix_outcomes_conversation", "conversation_id", "id"),
)

# Each try to tell the resident of an outcome: the first on the preferred channel, the next
# on the contact's next channel once one failed. The unique (outcome, attempt) is what makes
# the consumer's send happen once however often it sees the event. The delivery status is
# the message's own (`message_id`); an attempt that could not be sent at all has none and
# says why in `error`.
notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outcome_id", Id, ForeignKey("outcomes.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),      # 1 first
    Column("channel", String(20), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id")),
    Column("error", Text),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("outcome_id", "attempt", name="uq_notification_attempts_outcome_id"),
    Index("ix_notification_attempts_message", "message_id"),
)

# The satisfaction question after an agent resolved a conversation (inbox.surveys): one per
# resolution (its `resolved` event), with who resolved it and where the conversation stood,
# so reports group answers as they were when asked.
surveys = Table(
    "surveys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("resolution_event_id", Id, nullable=False),
    Column("agent_id", Id, ForeignKey("users.id"), nullable=False),
    Column("queue", String(64)),
    Column("channel", String(20), nullable=False),
    Column("category", String(20)),
    Column("message_id", Id, ForeignKey("messages.id")),
    Column("sent_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("score", Integer),                         # 1-5 once answered
    Column("comment", Text),
    Column("answered_at", Time),
    UniqueConstraint("resolution_event_id", name="uq_surveys_resolution_event_id"),
    Index("ix_surveys_conversation", "conversation_id", "id"),
    Index("ix_surveys_sent", "sent_at"),
)

# Records a provider keeps of an erased resident's messages (Twilio keeps each SMS and
# WhatsApp message with its text and files, a mailbox's server each mail), to delete there
# as well: written in the erasure's own transaction, so none is forgotten when the worker or
# Redis is away, and worked off by `channels.provider_records` with back-off until the
# provider confirms.
provider_erasures = Table(
    "provider_erasures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(20), nullable=False),
    Column("external_id", String(500), nullable=False),
    # What finds the record at the provider besides its id (a mail's Message-ID on its
    # mailbox's server), kept until it is deleted there.
    Column("locator", Text),
    Column("requested_at", Time, nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", Time),                  # null once done
    Column("done_at", Time),
    Column("error", Text),                            # the last failure: a status, no text
    UniqueConstraint("channel", "external_id", name="uq_provider_erasures_channel_external_id"),
    Index("ix_provider_erasures_due", "next_attempt_at"),
)
