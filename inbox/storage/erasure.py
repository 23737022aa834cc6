"""Erasing a resident's personal data in the database (`inbox.erasure` decides what and
when): their contact's name and numbers, their identities' addresses, every message of
their conversations, and the personal details events, corrections, outcomes, surveys and
intakes hold. What the reports count (times, queues, categories, statuses, who worked
what) stays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from inbox.channel_traits import ProviderLocator
from inbox.messages import ERASED, WHISPER
from inbox.storage.records import Records, Row
from inbox.storage.schema import (
    category_corrections,
    contact_claims,
    contact_identities,
    contact_matches,
    contacts,
    conversations,
    events,
    guided_intakes,
    mail_attempts,
    mail_dead_letters,
    message_parts,
    messages,
    outcomes,
    provider_erasures,
    surveys,
)

# What an erased identity's address becomes: unique, as (channel, address) must be, and
# matching no address a resident can have, so whoever writes from the old one is met anew.
ERASED_ADDRESS = "erased:"   # and the identity's id
# What an erased message's `extra` keeps besides saying so: nothing about the resident.
_KEPT_EXTRA = (WHISPER,)
# An outbound message not yet sent when its resident was erased: it is never sent.
NOT_SENT = "the resident's personal data was erased before it was sent"
# A dead letter kept past the retention: its digest stays (a folder read again still finds
# the mail buried), its raw mail and error do not.
DEAD_LETTER_ERASED = "the mail was erased: it was kept past the retention"
DEAD_LETTER_SENDER_ERASED = "the mail was erased with its sender's personal data"


@dataclass
class Erased:
    """What one erasure changed: for the audit trail, by resident, and what is left to
    remove from the media store once it is committed (the message rows as they were)."""

    contact_ids: list[int] = field(default_factory=list)       # those asked for
    merged: dict[int, int] = field(default_factory=dict)       # merged in: by whom
    conversations: dict[int, int] = field(default_factory=dict)   # id: contact id
    messages: list[Row] = field(default_factory=list)
    # How many of the providers' records of those messages were listed to delete there, by
    # the message they belong to.
    at_providers: dict[int, int] = field(default_factory=dict)
    # How many dead letters (mails that could not be taken in) each contact sent, emptied.
    dead_letters: dict[int, int] = field(default_factory=dict)

    @property
    def conversation_ids(self) -> list[int]:
        return list(self.conversations)


class ErasureRecords(Records):
    async def due(self, resolved_before: datetime, limit: int,
                  among: Sequence[int] | None = None) -> list[int]:
        """Contacts not erased whose conversations are all resolved before `resolved_before`
        (and who have at least one), oldest first; `among`: of these only."""
        c = conversations
        unfinished = exists().where(
            c.c.contact_id == contacts.c.id,
            or_(c.c.status != "resolved", c.c.resolved_at.is_(None),
                c.c.resolved_at >= resolved_before))
        any_conversation = exists().where(c.c.contact_id == contacts.c.id)
        query = (select(contacts.c.id)
                 .where(contacts.c.erased_at.is_(None), contacts.c.merged_into.is_(None),
                        any_conversation, ~unfinished)
                 .order_by(contacts.c.id).limit(limit))
        if among is not None:
            query = query.where(self.one_of(contacts.c.id, among))
        return [row[0] for row in await self.conn.execute(query)]

    async def erase_mail_kept_before(self, before: datetime) -> int:
        """Empty the dead letters buried before `before` and forget the failed attempts
        last counted then (their errors may name addresses); how many dead letters."""
        letters = mail_dead_letters
        result = await self.conn.execute(
            update(letters).where(letters.c.created_at < before, func.length(letters.c.raw) > 0)
            .values(raw=b"", error=DEAD_LETTER_ERASED, sender_digest=None))
        await self.conn.execute(delete(mail_attempts).where(mail_attempts.c.updated_at < before))
        return result.rowcount or 0

    async def lock_conversations(self, contact_ids: Sequence[int]) -> None:
        """Lock the contacts' conversations (PostgreSQL) until the erasure commits, so a change
        to one of them (a message that would reopen it) waits for the erasure. (SQLite's one
        writer at a time needs no lock.)"""
        await self.conn.execute(select(conversations.c.id)
                                .where(self.one_of(conversations.c.contact_id, contact_ids))
                                .order_by(conversations.c.id).with_for_update())

    async def unfinished_conversations(self, contact_id: int) -> list[int]:
        """The contact's conversations not resolved."""
        rows = await self.conn.execute(
            select(conversations.c.id).where(conversations.c.contact_id == contact_id,
                                             conversations.c.status != "resolved")
            .order_by(conversations.c.id))
        return [row[0] for row in rows]

    async def erase(self, contact_ids: Sequence[int], now: datetime,
                    event_types: Collection[str],
                    event_data: Callable[[str, Mapping[str, Any]], dict[str, Any] | None],
                    kept_by_provider: Mapping[str, ProviderLocator | None] | None = None,
                    mail_sender: Callable[[str], str] | None = None) -> Erased:
        """Erase the contacts, the contacts merged into them, and their conversations'
        personal data, in as many statements for many contacts as for one. `event_types`:
        the kinds of event that may hold some; `event_data(type, data)` such an event's data
        with it removed, or None when there was none. The messages of the channels in
        `kept_by_provider` are listed in `provider_erasures`, to delete there too, each with
        what its channel's locator (if any) says finds it there. The dead letters whose
        sender's digest (`mail_sender` of an address) is one of the contacts' addresses are
        emptied."""
        erased = Erased(contact_ids=list(contact_ids))
        erased.merged = {row.id: row.merged_into for row in await self.conn.execute(
            select(contacts.c.id, contacts.c.merged_into)
            .where(self.one_of(contacts.c.merged_into, contact_ids)))}
        everyone = [*contact_ids, *erased.merged]
        erased.conversations = {row.id: row.contact_id for row in await self.conn.execute(
            select(conversations.c.id, conversations.c.contact_id)
            .where(self.one_of(conversations.c.contact_id, contact_ids))
            .order_by(conversations.c.id))}
        if mail_sender is not None:
            await self._erase_dead_letters(erased, everyone, mail_sender)
        await self.conn.execute(
            update(contacts).where(self.one_of(contacts.c.id, everyone))
            .values(name=None, phone=None, email=None, preferred_channel=None,
                    erased_at=now, updated_at=now))
        identities = contact_identities
        await self.conn.execute(
            update(identities)
            .where(self.one_of(identities.c.contact_id, everyone))
            .values(address=literal(ERASED_ADDRESS, String) + cast(identities.c.id, String),
                    display_name=None, reply_to=None))
        await self.conn.execute(
            delete(contact_claims)
            .where(self.one_of(contact_claims.c.contact_id, everyone)))
        await self.conn.execute(
            delete(contact_matches)
            .where(or_(self.one_of(contact_matches.c.contact_id, everyone),
                       self.one_of(contact_matches.c.other_contact_id, everyone))))
        if erased.conversation_ids:
            await self._erase_conversations(erased, now, event_types, event_data)
            if kept_by_provider:
                await self._list_provider_records(erased, now, kept_by_provider)
        return erased

    async def _erase_dead_letters(self, erased: Erased, everyone: Sequence[int],
                                  mail_sender: Callable[[str], str]) -> None:
        """Empty the dead letters sent from any of the contacts' addresses (found by their
        digests: a phone's never matches a mail's sender), as the retention empties old
        ones, and forget whose they were."""
        owners: dict[str, int] = {}
        identities = contact_identities
        rows = await self._all(
            select(identities.c.contact_id, identities.c.address)
            .where(self.one_of(identities.c.contact_id, everyone)))
        rows += await self._all(
            select(contacts.c.id.label("contact_id"), contacts.c.email.label("address"))
            .where(self.one_of(contacts.c.id, everyone), contacts.c.email.is_not(None)))
        for row in rows:
            owner = erased.merged.get(row["contact_id"], row["contact_id"])
            owners.setdefault(mail_sender(row["address"]), owner)
        if not owners:
            return
        letters = mail_dead_letters
        found = await self._all(select(letters.c.id, letters.c.sender_digest)
                                .where(self.one_of(letters.c.sender_digest, list(owners))))
        if not found:
            return
        await self.conn.execute(
            update(letters).where(self.one_of(letters.c.id, [row["id"] for row in found]))
            .values(raw=b"", error=DEAD_LETTER_SENDER_ERASED, sender_digest=None))
        erased.dead_letters = dict(Counter(owners[row["sender_digest"]] for row in found))

    async def _list_provider_records(self, erased: Erased, now: datetime,
                                     channels: Mapping[str, ProviderLocator | None]) -> None:
        """The provider ids of the erased messages on `channels` (a message sent in parts has
        one a part) into `provider_erasures`, due now, with their locators. None is listed
        already: each is unique among messages and among parts, and a message is erased
        once, with its contact. A message its channel's locator cannot place is not listed."""
        found: dict[tuple[str, str], tuple[int, str | None]] = {}
        for row in erased.messages:
            if row["channel"] not in channels or not row["external_id"]:
                continue
            locate = channels[row["channel"]]
            locator = locate(row["external_id"], row["extra"] or {}) if locate else None
            if locate is None or locator is not None:
                found.setdefault((row["channel"], row["external_id"]), (row["id"], locator))
        ids = [row["id"] for row in erased.messages
               if row["channel"] in channels and channels[row["channel"]] is None]
        if ids:
            for row in await self._all(
                    select(message_parts.c.message_id, message_parts.c.channel,
                           message_parts.c.external_id)
                    .where(self.one_of(message_parts.c.message_id, ids))):
                found.setdefault((row["channel"], row["external_id"]), (row["message_id"], None))
        if not found:
            return
        await self.conn.execute(insert(provider_erasures), [
            {"channel": channel, "external_id": external_id, "locator": locator,
             "requested_at": now, "attempts": 0, "next_attempt_at": now}
            for (channel, external_id), (_, locator) in found.items()])
        erased.at_providers = dict(Counter(message_id for message_id, _ in found.values()))

    async def _erase_conversations(self, erased: Erased, now: datetime,
                                   event_types: Collection[str],
                                   event_data: Callable[[str, Mapping[str, Any]],
                                                        dict[str, Any] | None]) -> None:
        ids = erased.conversation_ids
        await self.conn.execute(update(conversations).where(self.one_of(conversations.c.id, ids))
                                .values(thread_key=None))
        erased.messages = await self._all(
            select(messages.c.id, messages.c.conversation_id, messages.c.attachments,
                   messages.c.extra, messages.c.delivery_status, messages.c.channel,
                   messages.c.external_id)
            .where(self.one_of(messages.c.conversation_id, ids)))
        # One statement for every message, whatever their number; then the few that keep
        # something besides (a whisper's mark) or were never sent.
        await self.conn.execute(
            update(messages).where(self.one_of(messages.c.conversation_id, ids))
            .values(body="", html=None, attachments=[], extra={ERASED: True},
                    delivery_error=None))
        for row in erased.messages:
            extra = row["extra"] or {}
            if kept := {key: extra[key] for key in _KEPT_EXTRA if key in extra}:
                await self.conn.execute(update(messages).where(messages.c.id == row["id"])
                                        .values(extra={**kept, ERASED: True}))
        unsent = [row["id"] for row in erased.messages
                  if row["delivery_status"] in ("queued", "sending")]
        if unsent:
            await self.conn.execute(
                update(messages).where(self.one_of(messages.c.id, unsent))
                .values(delivery_status="failed", delivery_error=NOT_SENT,
                        next_attempt_at=None, claimed_at=None))
        for row in await self._all(select(events.c.id, events.c.type, events.c.data)
                                   .where(self.one_of(events.c.conversation_id, ids),
                                          self.one_of(events.c.type, event_types))):
            data = event_data(row["type"], row["data"] or {})
            if data is not None:
                await self.conn.execute(update(events).where(events.c.id == row["id"])
                                        .values(data=data))
        await self.conn.execute(
            update(category_corrections)
            .where(self.one_of(category_corrections.c.conversation_id, ids)).values(text=""))
        await self.conn.execute(
            update(outcomes).where(and_(self.one_of(outcomes.c.conversation_id, ids),
                                        outcomes.c.reason.is_not(None))).values(reason=None))
        await self.conn.execute(
            update(surveys).where(and_(self.one_of(surveys.c.conversation_id, ids),
                                       surveys.c.comment.is_not(None))).values(comment=None))
        for row in await self._all(select(guided_intakes.c.conversation_id, guided_intakes.c.state)
                                   .where(self.one_of(guided_intakes.c.conversation_id, ids))):
            state = {**(row["state"] or {}), "answers": {}}
            await self.conn.execute(
                update(guided_intakes)
                .where(guided_intakes.c.conversation_id == row["conversation_id"])
                .values(state=state, updated_at=now))
