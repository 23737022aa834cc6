"""Erasing a resident's personal data: when they ask (an admin records their request), or
when the deployment's retention ends (`privacy.retention`, the worker's daily sweep).

Erased: the contact's name, phone and e-mail, every identity's address (the resident is met
anew if they write again), the possible matches and typed identifiers, every message of
their conversations (text, HTML, attachments, the mail as it came, its subject and
addresses), the personal details events keep (an edited message's earlier text, a name's
change), corrections kept to train the classifier, outcome reasons, survey comments, the
intake's answers. Kept: what the reports count (when each conversation came, was answered
and resolved, its queue, channel, category, status, who worked it), and the provider ids
that keep a redelivered message from being taken in again.

Only a contact whose conversations are all resolved is erased: an open one is still being
worked, and erasing under an agent's hands would lose the case."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from inbox import matching
from inbox.actions import ActionError, announce, unmerged_contact
from inbox.agent_uploads import stored_path
from inbox.context import InboxContext, run_in_job_context
from inbox.events import EventType
from inbox.kept_mail import KeptMailGone, place_of
from inbox.storage.erasure import Erased
from inbox.storage.records import Row, utcnow
from inbox.storage.unit import UnitOfWork

log = logging.getLogger(__name__)

# Why it was erased: what the admin chooses, and the sweep's own.
RESIDENT_REQUEST = "resident_request"
LEGAL_ORDER = "legal_order"
RETENTION = "retention"
REASONS = (RESIDENT_REQUEST, LEGAL_ORDER)     # an admin's
MAX_REFERENCE = 100           # the request's or order's number in the ministry's registry
SWEEP_JOB = "inbox.erasure.sweep_job"
SWEEP_INTERVAL_S = 300
# A sweep erases batches until this much time went by: it shares the worker's default queue
# with the sweeps that route and assign, which must not wait behind a first sweep over years
# of residents. The rest is the next sweep's.
SWEEP_BATCH = 50              # residents a transaction: SQLite's writer is held that long
SWEEP_BUDGET_S = 10.0


def _without(*fields: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def redact(data: Mapping[str, Any]) -> dict[str, Any]:
        return {key: (None if key in fields else value) for key, value in data.items()}
    return redact


def _merged(data: Mapping[str, Any]) -> dict[str, Any]:
    match = data.get("match")
    if not isinstance(match, Mapping):
        return dict(data)
    return {**data, "match": {**match, "value": None}}


def _entities(data: Mapping[str, Any]) -> dict[str, Any]:
    found = data.get("entities")
    if not isinstance(found, list):
        return dict(data)
    return {**data, "entities": [{**e, "value": None} if isinstance(e, Mapping) else e
                                 for e in found]}


# Events whose data holds something of the resident's: what each keeps of it. (Masked
# identifiers too: with the rest erased, the part shown is all that is left of them.)
PERSONAL_EVENT_DATA: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    EventType.MESSAGE_EDITED: _without("previous"),
    EventType.CONTACT_RENAMED: _without("from", "to"),
    EventType.DELIVERY_FAILED: _without("error"),    # a server's answer names the address
    EventType.CONTACTS_MERGED: _merged,              # the identifier both typed, masked
    EventType.CLASSIFIED: _entities,                 # the identifiers the text named, masked
}


def event_data(event_type: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event's data with what is personal removed; None when nothing is to change."""
    redact = PERSONAL_EVENT_DATA.get(event_type)
    if redact is None:
        return None
    redacted = redact(data)
    return redacted if redacted != dict(data) else None


@dataclass(frozen=True)
class Erasure:
    contact_id: int
    contacts: int            # with those merged into it
    conversations: int
    messages: int
    files: int               # attachments and kept mails removed from the media store
    at_providers: int = 0    # the providers' records listed to delete there
    dead_letters: int = 0    # mails they sent that could not be taken in, emptied

    def as_details(self, reason: str, reference: str | None) -> dict[str, Any]:
        details: dict[str, Any] = {"reason": reason, "contacts": self.contacts,
                                   "conversations": self.conversations,
                                   "messages": self.messages, "files": self.files,
                                   "at_providers": self.at_providers,
                                   "dead_letters": self.dead_letters}
        if reference:
            details["reference"] = reference
        return details


def reference_of(value: Any) -> str | None:
    """The registry number an admin gives with a request: one line, at most MAX_REFERENCE."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError("reference must be a string", 400, code="reference_invalid")
    reference = " ".join(value.split())
    if len(reference) > MAX_REFERENCE:
        raise ActionError(f"reference must be at most {MAX_REFERENCE} characters", 400,
                          code="reference_invalid", max=MAX_REFERENCE)
    return reference or None


async def erase_contact(ctx: InboxContext, contact_id: int, *, reason: str,
                        actor_id: int | None = None, reference: str | None = None,
                        now: datetime | None = None) -> Erasure:
    """Erase the resident's personal data (see the module), in one transaction with its
    audit record and an event on each conversation; then remove their files. ActionError:
    no such contact (404), one merged into another, already erased, or with a conversation
    not resolved (409)."""
    if reason not in (*REASONS, RETENTION):
        raise ActionError(f"reason must be one of {', '.join(REASONS)}", 400,
                          code="reason_invalid")
    now = now or utcnow()
    async with ctx.store.transaction() as tx:
        contact = await unmerged_contact(tx, contact_id, "erase")
        if contact["erased_at"] is not None:
            raise ActionError(f"contact {contact_id} is already erased", 409,
                              code="contact_erased")
        await tx.erasure.lock_conversations([contact_id])
        unfinished = await tx.erasure.unfinished_conversations(contact_id)
        if unfinished:
            raise ActionError("resolve the resident's conversations first: "
                              + ", ".join(map(str, unfinished)), 409,
                              code="contact_has_open_conversations", conversations=unfinished)
        erased, files, [result] = await _erase(ctx, tx, [contact_id], now, reason, actor_id,
                                               reference)
    removed = remove_files(files)
    if erased.at_providers:
        await _forget_at_providers(ctx)
    for conversation_id in erased.conversation_ids:
        await announce(ctx, conversation_id)
    log.info("erased contact %s (%s): %d conversations, %d messages, %d of %d files removed",
             contact_id, reason, result.conversations, result.messages, removed, result.files)
    return result


async def _erase(ctx: InboxContext, tx: UnitOfWork, contact_ids: list[int], now: datetime,
                 reason: str, actor_id: int | None, reference: str | None
                 ) -> tuple[Erased, list[KeptFile], list[Erasure]]:
    """Erase the contacts, with an event on each of their conversations and an audit
    record each; what was erased, the files to remove once committed, and each contact's
    tally. What providers keep of their messages is listed to delete there."""
    kept_by_provider = {name: traits.provider_locator for name, traits in ctx.channels.items()
                        if traits.kept_by_provider}
    key = ctx.claim_key
    erased = await tx.erasure.erase(contact_ids, now, PERSONAL_EVENT_DATA, event_data,
                                    kept_by_provider,
                                    lambda address: matching.sender_digest(key, address))
    data = {"reason": reason}
    if actor_id is None:
        await tx.events.add_many([(conversation_id, EventType.CONTACT_ERASED, data, now)
                                  for conversation_id in erased.conversation_ids])
    else:
        for conversation_id in erased.conversation_ids:
            await tx.events.add(conversation_id, EventType.CONTACT_ERASED, data,
                                actor_id=actor_id, at=now)
    files = {row["id"]: files_of(ctx.media_dir, row) for row in erased.messages}
    results = tally(erased, {message_id: len(found) for message_id, found in files.items()},
                    erased.at_providers)
    await tx.audit.record_many(actor_id, "contact.erased", "contact", [
        (result.contact_id, result.as_details(reason, reference)) for result in results])
    return erased, [kept for found in files.values() for kept in found], results


def tally(erased: Erased, files: Mapping[int, int],
          at_providers: Mapping[int, int]) -> list[Erasure]:
    """Each erased contact's share: the contacts merged into it, its conversations, their
    messages, files and providers' records (`files`, `at_providers`: how many each message
    had)."""
    merged = Counter(erased.merged.values())
    conversations = Counter(erased.conversations.values())
    messages: Counter[int] = Counter()
    kept: Counter[int] = Counter()
    listed: Counter[int] = Counter()
    for row in erased.messages:
        owner = erased.conversations[row["conversation_id"]]
        messages[owner] += 1
        kept[owner] += files.get(row["id"], 0)
        listed[owner] += at_providers.get(row["id"], 0)
    return [Erasure(contact_id, 1 + merged[contact_id], conversations[contact_id],
                    messages[contact_id], kept[contact_id], listed[contact_id],
                    erased.dead_letters.get(contact_id, 0))
            for contact_id in erased.contact_ids]


async def _forget_at_providers(ctx: InboxContext) -> None:
    """Queue the job that deletes the listed records at the providers now; when the queue
    is away they stay listed, and the channels' periodic run of the job takes them."""
    try:
        await ctx.jobs.enqueue_forget_async()
    except Exception as exc:
        log.warning("could not queue the deletion at the providers (its next periodic run "
                    "will do it): %s", type(exc).__name__)


KeptFile = tuple[Path, tuple[int, int] | None]    # a file, or a span of a pack


def files_of(media_dir: Path, message: Row) -> list[KeptFile]:
    """An erased message's files in the media store: attachments kept there, and the mail
    as it came (a file of its own, or a span of a pack shared with other mails)."""
    found: list[tuple[Path | None, tuple[int, int] | None]] = []
    for item in message["attachments"] or []:
        if isinstance(item, dict) and (path := stored_path(media_dir, item)) is not None:
            found.append((path, None))
    email = (message["extra"] or {}).get("email")
    if isinstance(email, dict):
        try:
            place = place_of(email)
        except KeptMailGone:
            place = None
        if place is not None:
            found.append((_inside(media_dir, place[0]), place[1]))
    return [(path, span) for path, span in found if path is not None]


def _inside(media_dir: Path, relative: str) -> Path | None:
    root = media_dir.resolve()
    path = (root / relative).resolve()
    return path if root in path.parents else None


def remove_files(files: list[KeptFile]) -> int:
    """Remove the erased messages' files; a mail in a pack is overwritten with zeros where it
    lies, so the other mails' places in it stay true. How many were removed."""
    removed = 0
    for path, span in files:
        try:
            if span is None:
                path.unlink()
            else:
                _blank(path, span)
        except FileNotFoundError:
            continue
        except OSError as exc:
            # The rows are erased already; a file left is found by no message. Say so.
            log.error("could not remove an erased message's file under the media store: %s",
                      exc.strerror or type(exc).__name__)
            continue
        removed += 1
    return removed


def _blank(path: Path, span: tuple[int, int]) -> None:
    offset, length = span
    with path.open("r+b") as pack:
        pack.seek(0, os.SEEK_END)
        if offset + length > pack.tell():
            raise FileNotFoundError(path)     # not the pack the message named
        pack.seek(offset)
        pack.write(b"\0" * length)
        pack.flush()
        os.fsync(pack.fileno())


async def sweep(ctx: InboxContext, now: datetime | None = None,
                budget_s: float = SWEEP_BUDGET_S) -> int:
    """Erase the residents whose conversations were all resolved at least the retention
    ago, a batch to a transaction, for at most `budget_s`; how many. The mail of dead
    letters buried that long ago goes too. Nothing when the deployment keeps data until an
    admin erases it."""
    retention = ctx.config.privacy.retention_s
    if retention is None:
        return 0
    now = now or utcnow()
    resolved_before = now - timedelta(seconds=retention)
    until = time.monotonic() + budget_s
    async with ctx.store.transaction() as tx:
        if letters := await tx.erasure.erase_mail_kept_before(resolved_before):
            log.info("erased the mail of %d dead letters kept past the retention", letters)
    erased = 0
    while time.monotonic() < until:
        async with ctx.store.read() as tx:
            candidates = await tx.erasure.due(resolved_before, SWEEP_BATCH)
        done = await erase_due(ctx, candidates, resolved_before, now) if candidates else []
        erased += len(done)
        if not done:     # none left (or none that can be): the next sweep looks again
            break
    return erased


async def erase_due(ctx: InboxContext, candidates: list[int], resolved_before: datetime,
                    now: datetime) -> list[Erasure]:
    """Erase those of `candidates` still due once their conversations are locked (one may
    have written again, or been merged, since they were chosen), in one transaction.

    Consoles are not told, unlike an admin's erasure: these conversations were resolved
    years ago, and one open on a screen refuses a reply (409) and reads as erased when it is
    opened again."""
    async with ctx.store.transaction() as tx:
        await tx.erasure.lock_conversations(candidates)
        due = await tx.erasure.due(resolved_before, len(candidates), among=candidates)
        if not due:
            return []
        erased, files, results = await _erase(ctx, tx, due, now, RETENTION, None, None)
    removed = remove_files(files)
    if erased.at_providers:
        await _forget_at_providers(ctx)
    log.info("erased %d residents on retention: %d conversations, %d messages, %d of %d "
             "files removed", len(results), sum(r.conversations for r in results),
             sum(r.messages for r in results), removed, len(files))
    return results


def sweep_job() -> int:
    """The worker's job every SWEEP_INTERVAL_S (`worker.periodic_jobs`)."""
    return run_in_job_context(sweep)
