"""The inbox side of phone calls: each call an item of a conversation, with its events.

Nothing here knows a provider: the voice channel parses its provider's webhooks, maps its
statuses onto `CallOutcome`, and calls these functions with the call's id (the provider's
own id for the call, unique on channel "voice").

A call enters the inbox once the caller has chosen why they call (or has hung up before
that): `record_call` ingests a call item, a message on channel "voice" whose external id is
the call's id, so the caller's choice reaches routing as the conversation's category hint
and a retry is stored once. Nothing is written while the caller is still in the menu: the
conversation would otherwise sit unrouted, and the worker's sweep would route it without
the caller's choice.

The call's events carry its call_id and each type is recorded once per call (a retried
webhook adds nothing): call_started, ivr_choice {language, reason}, ringing {agent_id},
connected {agent_id}, missed {reason}, call_ended {duration_s, status}, and for a call that
never reached an agent, callback_requested: the conversation waits in its queue for someone
to call back. A voicemail is a message of its own (external id the recording's id) with the
recording attached; its transcript, kept with the call while the channel transcribes it
live, replaces the placeholder text once the transcription stops (voicemail_transcribed),
or, when no stop ever comes, once the worker's sweep gives up waiting
(`finish_overdue_transcripts`); a conversation whose category the menu did not give is
classified on it (`dispatch.reclassify`).

The channel reports how a ring to an agent went before it reports the call's end, so
`end_call` knows by then whether an agent answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from inbox import assignment, dispatch, lifecycle
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.ingest import ingest
from inbox.messages import (
    CALL_TEXT,
    VOICEMAIL_NO_TRANSCRIPT,
    VOICEMAIL_PENDING,
    Attachment,
    InboundMessage,
)
from inbox.storage import Row, UnitOfWork, utcnow
from routing.assignment import QueuePolicy, choose_agent

log = logging.getLogger(__name__)

CHANNEL = "voice"
# The call item's text is CALL_TEXT, a voicemail's VOICEMAIL_PENDING until its transcript
# comes, VOICEMAIL_NO_TRANSCRIPT when none does (defined with the message shape, where routing
# sees them too). None says anything a classifier could read, so a call without a menu choice
# is classified "empty" and waits in triage for a person to judge, until a transcript speaks.


class CallOutcome(StrEnum):
    """How a call, or the ring of an agent, ended: call_ended's status, and the reason of a
    missed call that rang. The channel maps its provider's statuses onto these."""

    COMPLETED = "completed"      # answered (by the menu or the agent), then hung up
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CANCELED = "canceled"        # the caller hung up while it rang
    FAILED = "failed"


# Missed-call reasons besides a ring's own outcome (no_answer, busy, canceled, failed).
HUNG_UP_IN_MENU = "hung_up_in_menu"
CLOSED = "closed"
NO_AGENT = "no_agent"


@dataclass(frozen=True)
class CallRecord:
    """A call as the inbox records it: who called, when, and what they chose in the menu."""

    call_id: str
    caller: str                      # E.164
    started_at: datetime
    language: str | None = None      # None: hung up before choosing one
    reason: str | None = None        # registration, support, information, operator
    category_hint: str | None = None


@dataclass(frozen=True)
class CallItem:
    conversation_id: int
    message_id: int
    duplicate: bool


@dataclass(frozen=True)
class RingPlan:
    """Whom to ring, or why nobody (CLOSED, NO_AGENT)."""

    agent_id: int | None
    address: str | None
    reason: str | None = None


@dataclass(frozen=True)
class CallEnd:
    """A call's end, as the channel reports it."""

    call_id: str
    caller: str | None               # E.164; None when the number was withheld
    outcome: CallOutcome
    duration_s: int
    ended_at: datetime


@dataclass(frozen=True)
class Voicemail:
    """A call's recorded message: the recording's id (the voicemail message's external id)
    and its audio, which the channel fetches."""

    call_id: str
    recording_id: str
    recording: Attachment


# --- recording a call ---------------------------------------------------------------------


def _of_call(rows: list[Row], call_id: str) -> dict[str, Row]:
    """The call's events by type (each type is recorded once per call)."""
    return {e["type"]: e for e in rows if (e["data"] or {}).get("call_id") == call_id}


async def _add_once(tx: UnitOfWork, conversation_id: int, seen: dict[str, Row], type_: str,
                    data: dict[str, Any], at: datetime | None = None,
                    actor_id: int | None = None) -> bool:
    if type_ in seen:
        return False
    row = {"type": type_, "data": data}
    await tx.events.add(conversation_id, type_, data, actor_id=actor_id, at=at)
    seen[type_] = row
    return True


async def _locked_call(tx: UnitOfWork, call_id: str) -> tuple[Row, dict[str, Row]] | None:
    """The call's conversation, locked until commit so a retry racing us waits and then sees
    what we wrote, and the call's events; None for a call that is not recorded."""
    item = await tx.messages.by_external_id(CHANNEL, call_id)
    if item is None:
        return None
    conversation = await tx.conversations.get(item["conversation_id"], for_update=True)
    return conversation, _of_call(await tx.events.of_conversation(conversation["id"]), call_id)


async def record_call(ctx: InboxContext, call: CallRecord) -> CallItem:
    """The call as an item of the caller's open voice conversation (a new one is routed by
    the menu choice), with call_started and ivr_choice. Idempotent by call's id."""
    result = await ingest(ctx, InboundMessage(
        channel=CHANNEL, external_id=call.call_id, address=call.caller, text=CALL_TEXT,
        received_at=call.started_at, phone=call.caller, language=call.language,
        category_hint=call.category_hint))
    async with ctx.store.transaction() as tx:
        await tx.conversations.get(result.conversation_id, for_update=True)
        seen = _of_call(await tx.events.of_conversation(result.conversation_id), call.call_id)
        await _add_once(tx, result.conversation_id, seen, EventType.CALL_STARTED,
                        {"call_id": call.call_id, "message_id": result.message_id},
                        at=call.started_at)
        if call.reason is not None:
            await _add_once(tx, result.conversation_id, seen, EventType.IVR_CHOICE,
                            {"call_id": call.call_id, "language": call.language,
                             "reason": call.reason, "category": call.category_hint})
    log.info("call %s is item %s of conversation %s", call.call_id, result.message_id,
             result.conversation_id)
    return CallItem(result.conversation_id, result.message_id, result.duplicate)


# --- connecting the caller ----------------------------------------------------------------


async def ring_plan(ctx: InboxContext, conversation_id: int, now: datetime) -> RingPlan:
    """The agent to ring for a conversation's call: during business hours, online, in its
    queue, with a voice address and room for one more live conversation. The agent it is
    already offered to comes first; a manual queue rings its least busy agent, because a
    caller on the line cannot wait for someone to pull the call."""
    if not ctx.calendar.is_open(now):
        return RingPlan(None, None, CLOSED)
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
        users = [u for u in await tx.users.online_agents() if u["voice_address"]]
        loads = await tx.conversations.open_loads([u["id"] for u in users])
    queue = next((q for q in ctx.config.queues if q.id == conversation["queue"]), None)
    if queue is None or not users:
        return RingPlan(None, None, NO_AGENT)
    agents = []
    for user in users:
        by_channel = dict(loads.get(user["id"], {}))
        if user["id"] == conversation["assignee_id"] and conversation["status"] == "open":
            # Offered to this agent already: this call is not one more on top of it.
            by_channel[conversation["channel"]] = by_channel.get(conversation["channel"], 1) - 1
        agents.append(assignment.agent_state(user, by_channel, ctx.channels))
    strategy = "least_busy" if queue.strategy == "manual" else queue.strategy
    decision = choose_agent(
        assignment.waiting_view(conversation, ctx.channels, conversation["assignee_id"]),
        QueuePolicy(queue.id, strategy, queue.languages), agents)
    if decision is None:
        return RingPlan(None, None, NO_AGENT)
    address = next(u["voice_address"] for u in users if u["id"] == decision.agent_id)
    return RingPlan(decision.agent_id, address)


async def note_ringing(ctx: InboxContext, call_id: str, agent_id: int) -> bool:
    async with ctx.store.transaction() as tx:
        found = await _locked_call(tx, call_id)
        if found is None:
            return False
        conversation, seen = found
        await _add_once(tx, conversation["id"], seen, EventType.RINGING,
                        {"call_id": call_id, "agent_id": agent_id})
    return True


async def note_missed(ctx: InboxContext, call_id: str, reason: str,
                      agent_id: int | None = None) -> bool:
    """The call will not reach an agent (closed, nobody free, the agent did not answer)."""
    data: dict[str, Any] = {"call_id": call_id, "reason": reason}
    if agent_id is not None:
        data["agent_id"] = agent_id
    async with ctx.store.transaction() as tx:
        found = await _locked_call(tx, call_id)
        if found is None:
            return False
        conversation, seen = found
        await _add_once(tx, conversation["id"], seen, EventType.MISSED, data)
    return True


async def note_connected(ctx: InboxContext, call_id: str, agent_id: int,
                         connected_at: datetime) -> bool:
    """The agent answered: the conversation is theirs, and answering it was its first
    response (the SLA clock moves on to resolution)."""
    async with ctx.store.transaction() as tx:
        agent = await tx.users.lock(agent_id)   # agent before conversation, as everywhere
        found = await _locked_call(tx, call_id)
        if found is None or agent is None:
            return False
        conversation, seen = found
        if not await _add_once(tx, conversation["id"], seen, EventType.CONNECTED,
                               {"call_id": call_id, "agent_id": agent_id}, at=connected_at):
            return True
        now = utcnow()
        changes: dict[str, Any] = {"status": "open", "offered_at": None,
                                   "opened_at": conversation["opened_at"] or connected_at}
        if conversation["assignee_id"] != agent_id:
            changes.update(assignee_id=agent_id, assigned_at=now)
            await tx.users.update(agent_id, last_assigned_at=now)
            await tx.events.add(conversation["id"], EventType.ASSIGNED,
                               {"agent_id": agent_id, "reason": "answered the call"}, at=now)
        changes.update(lifecycle.first_response(ctx, conversation, connected_at))
        await tx.conversations.update(conversation["id"], **changes)
    log.info("call %s connected to agent %s", call_id, agent_id)
    await lifecycle.announce(ctx, conversation["id"])
    return True


# --- the end of a call --------------------------------------------------------------------


def missed_reason(outcome: CallOutcome, chose: bool) -> str:
    """Why a call that reached nobody ended: hung up in the menu, or how the call ended."""
    if outcome == CallOutcome.COMPLETED:
        return NO_AGENT if chose else HUNG_UP_IN_MENU
    return outcome


async def end_call(ctx: InboxContext, end: CallEnd) -> bool:
    """call_ended; and for a call no agent answered, missed and callback_requested. A call
    that ended in the menu is recorded now (it was not yet). False when there is nothing to
    record: a withheld number that hung up in the menu."""
    async with ctx.store.read() as tx:
        item = await tx.messages.by_external_id(CHANNEL, end.call_id)
    if item is None:
        if end.caller is None:
            return False
        await record_call(ctx, CallRecord(
            end.call_id, end.caller, end.ended_at - timedelta(seconds=end.duration_s)))
    callback = False
    async with ctx.store.transaction() as tx:
        conversation, seen = await _locked_call(tx, end.call_id)
        await _add_once(tx, conversation["id"], seen, EventType.CALL_ENDED,
                        {"call_id": end.call_id, "duration_s": end.duration_s,
                         "status": end.outcome}, at=end.ended_at)
        if "connected" not in seen:
            await _add_once(tx, conversation["id"], seen, EventType.MISSED,
                            {"call_id": end.call_id,
                             "reason": missed_reason(end.outcome, "ivr_choice" in seen)})
            callback = await _add_once(tx, conversation["id"], seen, EventType.CALLBACK_REQUESTED,
                                       {"call_id": end.call_id,
                                        "reason": seen["missed"]["data"]["reason"],
                                        "queue": conversation["queue"]})
    if callback:
        log.info("call %s missed: callback requested in conversation %s", end.call_id,
                 conversation["id"])
        await lifecycle.announce(ctx, conversation["id"])
    return True


# --- voicemail ----------------------------------------------------------------------------
#
# A voicemail is transcribed live, in the caller's language, by the voice channel's provider:
# final segments arrive one report each while the caller speaks, before the recording's own
# callback has made the voicemail a message. Until the transcription ends they are kept on
# the call's item (`extra` of the message whose external id is the call's id), in the database
# rather than in Redis with a TTL, because:
# - nothing is lost: the provider is answered only once a segment is committed with the rest
#   of the inbox; nothing expires while a stop or a recording callback is late or retried, and
#   no Redis restart or eviction can drop a caller's words between two webhooks;
# - one lock orders it all: every report updates the item under the call's conversation row
#   lock, as every call event does, so concurrent segments, the stop and the recording's
#   callback each see what the others committed, and whichever comes last writes the text;
#   a second store beside the database would need its own ordering and could disagree;
# - idempotent: segments are keyed by (transcription id, sequence number), so a retry rewrites
#   the same entry, and the text is a pure function of what is kept (`LiveTranscript.text`).
# It costs one small transaction per segment, beside the call's own events.

LIVE_KEY = "live_transcript"     # the call item's `extra`: what the transcription delivered
VOICEMAIL_KEY = "voicemail_id"   # the call item's `extra`: the call's voicemail message
# Why a voicemail's text may change a conversation's category (the `classified` event's reason).
TRANSCRIPT_REASON = "voicemail transcript"
# How long a voicemail, once its recording is stored, waits for its transcription's stop
# before the worker's sweep ends the transcript with the segments it has
# (`finish_overdue_transcripts`). The recording comes only after the caller has finished,
# and the stop comes as they finish too (the channel stops it, hanging up ends it), so a stop
# still missing minutes later is lost (a provider gives a report up after a few failed
# deliveries), and the voicemail would read "(voicemail, transcript pending)" for ever. Ten
# minutes leaves room for every retry of a late stop or segment, yet the voicemail is read
# and classified long before its first-response deadline (counted in business hours).
# A segment that still comes later takes its place, as after a real stop.
TRANSCRIPT_WAIT = timedelta(minutes=10)


@dataclass(frozen=True)
class TranscriptionEvent:
    """One report of a call's live transcription, as the channel parsed it."""

    call_id: str
    transcription_id: str            # the provider's id of this transcription
    sequence_id: int                 # the report's place within it
    kind: str                        # started, content, stopped, error
    text: str | None = None          # a final segment of the caller's words (content only)


@dataclass(frozen=True)
class LiveTranscript:
    """A call's real-time transcription so far, as kept on the call's item."""

    # transcription id -> sequence number (a string: JSON keys are) -> final segment
    segments: dict[str, dict[str, str]] = field(default_factory=dict)
    ended: str | None = None         # "stopped" or "error": the first of them that came (the
                                     # sweep's "stopped" when no stop came, `stopped`)
    written: str | None = None       # the text last written to the voicemail from it
    language: str | None = None      # the menu language it was started in

    @classmethod
    def of(cls, extra: dict[str, Any] | None) -> LiveTranscript:
        kept = (extra or {}).get(LIVE_KEY) or {}
        return cls(kept.get("segments") or {}, kept.get("ended"), kept.get("written"),
                   kept.get("language"))

    def as_json(self) -> dict[str, Any]:
        return {"segments": self.segments, "ended": self.ended, "written": self.written,
                "language": self.language}

    def with_event(self, event: TranscriptionEvent, language: str | None) -> LiveTranscript:
        segments = self.segments
        if event.text:
            mine = {**segments.get(event.transcription_id, {}),
                    str(event.sequence_id): event.text}
            segments = {**segments, event.transcription_id: mine}
        ended = self.ended
        if ended is None and event.kind in ("stopped", "error"):
            ended = event.kind
        return replace(self, segments=segments, ended=ended, language=self.language or language)

    def stopped(self) -> LiveTranscript:
        """Ended as a stop ends it, unless it has ended already: what the sweep makes of a
        transcription whose stop never came (`finish_overdue_transcripts`)."""
        return self if self.ended is not None else replace(self, ended="stopped")

    @property
    def text(self) -> str | None:
        """The voicemail's text once the transcription has ended (None while it runs): the
        final segments in sequence order, whatever order they came in. A segment retried
        after the stop still takes its place (the text is written again). Nothing said, or a
        failed transcription, is VOICEMAIL_NO_TRANSCRIPT; the recording is there to listen to."""
        if self.ended is None:
            return None
        if self.ended == "error":
            return VOICEMAIL_NO_TRANSCRIPT
        parts = [self.segments[transcription][sequence]
                 for transcription in sorted(self.segments)
                 for sequence in sorted(self.segments[transcription], key=int)]
        return " ".join(parts) or VOICEMAIL_NO_TRANSCRIPT


@dataclass(frozen=True)
class Transcribed:
    """A voicemail's text was written: what to announce once committed."""

    conversation_id: int
    reclassified: dispatch.Reclassified | None


async def _locked_item(tx: UnitOfWork, call_id: str) -> Row | None:
    """The call's item, read again once its conversation is locked (so it holds what a
    racing report committed); None for a call that is not recorded."""
    item = await tx.messages.by_external_id(CHANNEL, call_id)
    if item is None:
        return None
    await tx.conversations.get(item["conversation_id"], for_update=True)
    return await tx.messages.get(item["id"])


async def _write_transcript(ctx: InboxContext, tx: UnitOfWork, message: Row, text: str, *,
                            first: bool, classified_text: str | None = None,
                            language: str | None = None) -> Transcribed:
    """The voicemail's text becomes `text`, with voicemail_transcribed the first time; the
    conversation is classified on it (spoken in `language`) unless the text was classified
    already (it opened the conversation) or says nothing."""
    if message["body"] != text:
        await tx.messages.update(message["id"], body=text)
    if first:
        await tx.events.add(message["conversation_id"], EventType.VOICEMAIL_TRANSCRIBED,
                           {"message_id": message["id"],
                            "transcribed": text != VOICEMAIL_NO_TRANSCRIPT})
    reclassified = None
    if text not in (VOICEMAIL_NO_TRANSCRIPT, classified_text):
        reclassified = await dispatch.reclassify(ctx, tx, message["conversation_id"], text,
                                                 message_id=message["id"],
                                                 reason=TRANSCRIPT_REASON, language=language)
    return Transcribed(message["conversation_id"], reclassified)


async def _settle(ctx: InboxContext, tx: UnitOfWork, item: Row, extra: dict[str, Any],
                  live: LiveTranscript, *, stored: str | None = None,
                  classified_text: str | None = None) -> Transcribed | None:
    """Under the call's lock: keep `live` on the call's item, and once the transcription has
    ended and the voicemail is stored, make its text the voicemail's. Only a placeholder or
    this transcript's own earlier text is replaced: the text last written, or the one the
    voicemail was just `stored` with (read before a later segment came)."""
    done = None
    text, voicemail_id = live.text, extra.get(VOICEMAIL_KEY)
    if text is not None and voicemail_id is not None and text != live.written:
        message = await tx.messages.get(voicemail_id)
        if message is not None and message["body"] in (VOICEMAIL_PENDING, live.written, text,
                                                        stored):
            done = await _write_transcript(ctx, tx, message, text, first=live.written is None,
                                           classified_text=classified_text,
                                           language=live.language)
            live = replace(live, written=text)
    kept = {**extra, LIVE_KEY: live.as_json()}
    if kept != item["extra"]:
        await tx.messages.update(item["id"], extra=kept)
    return done


async def _transcribed(ctx: InboxContext, done: Transcribed | None) -> None:
    if done is None:
        return
    await lifecycle.announce(ctx, done.conversation_id)
    if done.reclassified is not None:
        await dispatch.announce_reclassified(ctx, done.reclassified)


async def _change_live(ctx: InboxContext, call_id: str,
                       change: Callable[[LiveTranscript], LiveTranscript]) -> bool | None:
    """Under the call's lock, the call's live transcript becomes what `change` makes of it and
    is settled (`_settle`); the written text is announced once committed. None for a call
    that is not recorded; False when `change` changed nothing."""
    async with ctx.store.transaction() as tx:
        item = await _locked_item(tx, call_id)
        if item is None:
            return None
        extra = dict(item["extra"] or {})
        before = LiveTranscript.of(extra)
        live = change(before)
        if live == before:
            return False
        done = await _settle(ctx, tx, item, extra, live)
    await _transcribed(ctx, done)
    return True


async def record_transcription_event(ctx: InboxContext, event: TranscriptionEvent,
                                     language: str | None = None) -> bool | None:
    """One report of the call's live transcription, kept on the call's item; once the
    transcription has ended, its text becomes the voicemail's, now or when the recording's
    callback stores the voicemail. None for a call that is not recorded. Idempotent."""
    changed = await _change_live(ctx, event.call_id,
                                 lambda live: live.with_event(event, language))
    if changed is None:
        return None
    if changed:   # not a retry, nor a report that adds nothing (started, partial, empty)
        log.info("call %s: transcription %s (sequence %s)", event.call_id, event.kind,
                 event.sequence_id)
    return True


async def finish_overdue_transcripts(ctx: InboxContext) -> list[str]:
    """The worker's sweep: a voicemail still "(voicemail, transcript pending)" TRANSCRIPT_WAIT
    after it was stored gets the text the transcription's stop would have given it (the
    segments kept, else VOICEMAIL_NO_TRANSCRIPT), by the stop's own path: written under the
    call's lock, classified again, announced. A real stop racing it, or coming later, finds
    the transcript ended and changes nothing. The ids of the calls whose transcript it ended."""
    async with ctx.store.read() as tx:
        overdue = await tx.messages.calls_awaiting_voicemail_text(
            CHANNEL, VOICEMAIL_KEY, VOICEMAIL_PENDING, utcnow() - TRANSCRIPT_WAIT)
    finished = []
    for call_id in overdue:
        if await _change_live(ctx, call_id, LiveTranscript.stopped):
            log.info("call %s: the voicemail's transcription never reported its stop; "
                     "ended by the sweep", call_id)
            finished.append(call_id)
    return finished


async def record_voicemail(ctx: InboxContext, voicemail: Voicemail) -> int | None:
    """The voicemail as a message of the call's conversation (the call's hint and language
    route it should that conversation be resolved meanwhile), with the live transcript's text
    if it has ended, else the placeholder until it does; the message id, or None for a call
    that is not recorded. Idempotent by the recording's id."""
    async with ctx.store.read() as tx:
        item = await tx.messages.by_external_id(CHANNEL, voicemail.call_id)
        if item is None:
            return None
        conversation = await tx.conversations.get(item["conversation_id"])
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
    text = LiveTranscript.of(item["extra"]).text or VOICEMAIL_PENDING
    result = await ingest(ctx, InboundMessage(
        channel=CHANNEL, external_id=voicemail.recording_id, address=identity["address"],
        text=text, received_at=utcnow(),
        phone=identity["address"], language=conversation["language"],
        category_hint=conversation["category_hint"], attachments=(voicemail.recording,)))
    if result.duplicate:
        await _link_voicemail(ctx, voicemail.call_id, result.message_id)   # idempotent
    else:
        # A new conversation (the call's was resolved meanwhile) was classified on this text.
        await _link_voicemail(ctx, voicemail.call_id, result.message_id, stored=text,
                              classified_text=text if result.new_conversation else None)
    return result.message_id


async def _link_voicemail(ctx: InboxContext, call_id: str, message_id: int, *,
                          stored: str | None = None, classified_text: str | None = None) -> None:
    """The voicemail joins its call's item, where the live transcript finds it; if the
    transcript ended meanwhile, its text is written now. `stored`: the text the voicemail was
    just stored with."""
    async with ctx.store.transaction() as tx:
        item = await _locked_item(tx, call_id)
        if item is None:
            return
        extra = dict(item["extra"] or {})
        if extra.setdefault(VOICEMAIL_KEY, message_id) != message_id:
            log.warning("call %s: a second voicemail %s is not transcribed", call_id,
                        message_id)
            return
        done = await _settle(ctx, tx, item, extra, LiveTranscript.of(extra), stored=stored,
                             classified_text=classified_text)
    await _transcribed(ctx, done)
