"""The kinds of event a conversation's log records: one enumeration for the code that writes
events, the reports that read them back and the console that shows them.

An event row's `type` is one of `EventType`; the store refuses any other, so a report or the
console never meets a type that nobody declared. The console gets the list and its groups
from the server (`console_groups`, in its page), not from a copy of its own.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # A resident's message arrived, and routing's decisions about its conversation.
    RECEIVED = "received"
    CLASSIFIED = "classified"
    ROUTED = "routed"
    # Who works the conversation.
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    REASSIGNED = "reassigned"
    OFFER_EXPIRED = "offer_expired"
    TRANSFERRED = "transferred"
    # Agents' writing and their decisions.
    REPLIED = "replied"
    NOTED = "noted"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    STATUS_CHANGED = "status_changed"
    RECLASSIFIED = "reclassified"
    TAGGED = "tagged"           # data: {"added": [...], "removed": [...]}
    # The resident changed a message they had sent (Telegram lets them): what it said before.
    MESSAGE_EDITED = "message_edited"
    # One resident, one matter: merging and splitting.
    CONTACTS_MERGED = "contacts_merged"
    CONTACT_RENAMED = "contact_renamed"
    CONTACT_UPDATED = "contact_updated"    # data: contact_id, field, from, to
    CONTACT_ERASED = "contact_erased"      # data: reason (inbox.erasure)
    CONVERSATIONS_MERGED = "conversations_merged"
    MERGED_INTO = "merged_into"
    SPLIT = "split"
    SPLIT_FROM = "split_from"
    # Clocks and delivery.
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    DELIVERY_FAILED = "delivery_failed"
    # A phone call, from the menu to its voicemail.
    CALL_STARTED = "call_started"
    IVR_CHOICE = "ivr_choice"
    RINGING = "ringing"
    CONNECTED = "connected"
    MISSED = "missed"
    CALL_ENDED = "call_ended"
    CALLBACK_REQUESTED = "callback_requested"
    VOICEMAIL_TRANSCRIBED = "voicemail_transcribed"
    # The guided registration intake (inbox.guided_intake): the bot asks, then hands over.
    INTAKE_STARTED = "intake_started"
    INTAKE_REMINDED = "intake_reminded"
    INTAKE_COMPLETED = "intake_completed"
    INTAKE_HANDED_OVER = "intake_handed_over"   # data: {"reason": ...}
    # The case's result and what the resident was told (inbox.outcomes, inbox.notifications).
    OUTCOME_RECORDED = "outcome_recorded"       # data: outcome_id, kind
    NOTIFICATION_QUEUED = "notification_queued" # data: outcome_id, attempt, channel, message_id
    NOTIFICATION_EXHAUSTED = "notification_exhausted"   # data: outcome_id: no channel left
    # The satisfaction question after an agent's resolution (inbox.surveys).
    SURVEY_SENT = "survey_sent"                 # data: survey_id, agent_id, message_id
    SURVEY_ANSWERED = "survey_answered"         # data: survey_id, score


# The events of a call: the console shows them with the phone's icon.
CALL_EVENTS = frozenset({
    EventType.CALL_STARTED, EventType.IVR_CHOICE, EventType.RINGING, EventType.CONNECTED,
    EventType.MISSED, EventType.CALL_ENDED, EventType.CALLBACK_REQUESTED,
    EventType.VOICEMAIL_TRANSCRIBED,
})

# Events that accompany a message: the thread shows the message itself, not the event too.
MESSAGE_EVENTS = frozenset({EventType.RECEIVED, EventType.REPLIED, EventType.NOTED})


def sla_event(state: str) -> EventType:
    """The event of an SLA clock entering `state` ("at_risk" or "breached")."""
    return EventType(f"sla_{state}")


def console_groups() -> dict[str, list[str]]:
    """The groups of event types the console shows apart, as JSON."""
    return {"call": sorted(CALL_EVENTS), "message": sorted(MESSAGE_EVENTS)}
