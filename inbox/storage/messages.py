"""Messages: inbound, outbound and notes, their delivery states and the parts a provider
accepted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, cast, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from inbox.storage.records import DELIVERY_ORDER, Duplicate, Records, Row
from inbox.storage.schema import (
    Id,
    conversations,
    message_parts,
    messages,
)

# Where an inbound mail's own Message-ID is kept in `messages.extra` (the e-mail channel's
# facts for the console): a reply names it in In-Reply-To or References.
MAIL_ID = ("email", "message_id")


def claimable(now: datetime, lease: timedelta):
    """An outbound message a worker may take the send of: queued, or sending under a lease
    that ran out."""
    return and_(messages.c.direction == "out",
                or_(messages.c.delivery_status == "queued",
                    and_(messages.c.delivery_status == "sending",
                         messages.c.claimed_at < now - lease)))


class MessageRecords(Records):
    async def by_external_id(self, channel: str, external_id: str) -> Row | None:
        return await self._one(select(messages).where(
            messages.c.channel == channel, messages.c.external_id == external_id))

    async def insert(self, **values: Any) -> int:
        """Insert a message; a taken (channel, external_id) raises Duplicate. The transaction
        is then unusable: the caller lets it roll back and reads what the winner stored."""
        values.setdefault("attachments", [])
        values.setdefault("attempts", 0)
        try:
            return await self._insert(messages, values)
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def insert_many(self, rows: list[Row]) -> list[int]:
        """Insert messages (each with the same keys) in one statement; their ids in order. A
        taken (channel, external_id) raises Duplicate for the whole batch."""
        try:
            return await self._insert_many(messages, [
                {"attachments": [], "attempts": 0, **row} for row in rows])
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def stored_external_ids(self, keys: Iterable[tuple[str, str]]
                                  ) -> dict[tuple[str, str], Row]:
        """The messages already stored under these (channel, external id) keys, by key:
        their id, conversation and `extra`."""
        found: dict[tuple[str, str], Row] = {}
        by_channel: dict[str, list[str]] = {}
        for channel, external_id in keys:
            by_channel.setdefault(channel, []).append(external_id)
        for channel, external_ids in by_channel.items():
            for row in await self._all(select(messages.c.id, messages.c.conversation_id,
                                              messages.c.external_id, messages.c.extra)
                                       .where(messages.c.channel == channel,
                                              self.one_of(messages.c.external_id, external_ids))):
                found[(channel, row["external_id"])] = row
        return found

    async def kept_mail_named(self, channel: str, key: str, kept: Sequence[str],
                              since: datetime) -> set[str]:
        """Which of the `kept` files (paths under the media directory) a message of
        `channel` created since `since` names in its `extra[channel][key]`."""
        named = messages.c.extra[channel][key].as_string()
        found: set[str] = set()
        for start in range(0, len(kept), 500):
            rows = await self._all(select(named.label("kept")).where(
                messages.c.channel == channel, messages.c.created_at >= since,
                named.in_(kept[start:start + 500])).distinct())
            found.update(row["kept"] for row in rows)
        return found

    async def get(self, message_id: int) -> Row | None:
        return await self._one(select(messages).where(messages.c.id == message_id))

    async def of_conversation(self, conversation_id: int, *, include_notes: bool = True,
                          limit: int | None = None) -> list[Row]:
        query = select(messages).where(messages.c.conversation_id == conversation_id)
        if not include_notes:
            query = query.where(messages.c.direction != "note")
        return await self._all(query.order_by(messages.c.id).limit(limit))

    async def of_conversations(self, conversation_ids: Sequence[int], *,
                               before: int | None = None, limit: int = 50) -> list[Row]:
        """The latest `limit` messages (notes too) of these conversations below id `before`,
        oldest first: one page of a contact's timeline, read backwards."""
        if not conversation_ids:
            return []
        query = select(messages).where(self.one_of(messages.c.conversation_id, conversation_ids))
        if before is not None:
            query = query.where(messages.c.id < before)
        rows = await self._all(query.order_by(messages.c.id.desc()).limit(limit))
        return rows[::-1]

    async def of_identity_after(self, identity_id: int, after: int) -> list[Row]:
        """The messages (no notes) of every conversation of an identity whose id is above
        `after`, oldest first: what a resident's window missed since the last one it saw."""
        return await self._all(
            select(messages).join(conversations,
                                  conversations.c.id == messages.c.conversation_id)
            .where(conversations.c.identity_id == identity_id, messages.c.id > after,
                   messages.c.direction != "note")
            .order_by(messages.c.id))

    async def outbound_by_external_ids(self, channel: str, external_ids: Sequence[str]
                                       ) -> list[Row]:
        """Our messages on `channel` whose provider ids are among `external_ids`, newest
        first."""
        if not external_ids:
            return []
        return await self._all(select(messages).where(
            messages.c.channel == channel, messages.c.direction == "out",
            self.one_of(messages.c.external_id, external_ids)).order_by(messages.c.id.desc()))

    async def naming(self, conversation_ids: Sequence[int], mail_ids: Sequence[str]
                     ) -> list[Row]:
        """The messages of these conversations that carry one of these Message-IDs (id,
        conversation_id, direction and the `mail_id` it carries, each): outbound ones whose
        provider id it is (our mail's Message-ID is its external id) and inbound ones whose
        mail had it (`MAIL_ID`). Only the given conversations' messages are read (through
        their index), so the look-up into JSON needs no index of its own on either
        database."""
        if not conversation_ids or not mail_ids:
            return []
        m = messages
        mail_id = m.c.extra[MAIL_ID].as_string()
        mail_ids = sorted(set(mail_ids))
        rows = await self._all(
            select(m.c.id, m.c.conversation_id, m.c.direction, m.c.external_id,
                   mail_id.label("mail_id"))
            .where(self.one_of(m.c.conversation_id, sorted(set(conversation_ids))),
                   or_(and_(m.c.direction == "out", self.one_of(m.c.external_id, mail_ids)),
                       and_(m.c.direction == "in", self.one_of(mail_id, mail_ids))))
            .order_by(m.c.id))
        for row in rows:
            external_id = row.pop("external_id")
            if row["direction"] == "out":
                row["mail_id"] = external_id
        return rows

    async def acknowledgements_since(self, identity_ids: Iterable[int], since: datetime
                                     ) -> dict[int, int]:
        """How many automatic messages (acknowledgements) the conversations each of these
        identities opened were sent since `since`, by identity; none: left out."""
        identity_ids = sorted(set(identity_ids))
        if not identity_ids:
            return {}
        m, c = messages, conversations
        rows = await self.conn.execute(
            select(c.c.identity_id, func.count())
            .select_from(m.join(c, c.c.id == m.c.conversation_id))
            .where(self.one_of(c.c.identity_id, identity_ids), m.c.direction == "out",
                   m.c.author_kind == "system", m.c.created_at >= since)
            .group_by(c.c.identity_id))
        return {identity_id: count for identity_id, count in rows}

    async def answered_external_id(self, message_id: int) -> str | None:
        """The provider's id of the resident's message that `message_id` (an outbound
        message) answers: the conversation's latest inbound message before it on the same
        channel, if the provider gave it an id."""
        reply, answered = messages.alias("reply"), messages.alias("answered")
        return (await self.conn.execute(
            select(answered.c.external_id)
            .join(reply, and_(reply.c.id == message_id,
                              answered.c.conversation_id == reply.c.conversation_id,
                              answered.c.channel == reply.c.channel))
            .where(answered.c.direction == "in", answered.c.id < message_id)
            .order_by(answered.c.id.desc()).limit(1))).scalar_one_or_none()

    async def update(self, message_id: int, **values: Any) -> None:
        await self.conn.execute(update(messages).where(messages.c.id == message_id)
                                .values(**values))

    async def calls_awaiting_voicemail_text(self, channel: str, link: str, placeholder: str,
                                            before: datetime, limit: int = 100) -> list[str]:
        """The calls' ids (their items' external ids) of `channel`'s call items whose
        voicemail, the message their `extra[link]` names, still reads `placeholder` and was
        stored before `before`; the oldest voicemail first."""
        item, voicemail = messages.alias("item"), messages.alias("voicemail")
        rows = await self.conn.execute(
            select(item.c.external_id)
            .select_from(voicemail.join(item, and_(
                item.c.channel == channel,
                cast(item.c.extra[link].as_string(), Id) == voicemail.c.id)))
            .where(voicemail.c.channel == channel, voicemail.c.direction == "in",
                   voicemail.c.body == placeholder, voicemail.c.created_at < before)
            .order_by(voicemail.c.id).limit(limit))
        return [r[0] for r in rows]

    async def advance_delivery(self, message_id: int, status: str, **values: Any) -> bool:
        """Move a send forward to `status` only from an earlier state. Status reports arrive
        out of order (a chat window can confirm before the job records the send), so the
        other columns in `values` are written either way, the status only forwards."""
        earlier = DELIVERY_ORDER[: DELIVERY_ORDER.index(status)]
        moved = await self.conn.execute(
            update(messages)
            .where(messages.c.id == message_id, messages.c.delivery_status.in_(earlier))
            .values(delivery_status=status, **values))
        if moved.rowcount == 0 and values:
            await self.update(message_id, **values)
        return moved.rowcount == 1

    async def claim_delivery(self, message_id: int, now: datetime, lease: timedelta) -> bool:
        """Take a send for this worker: queued, or sending under a lease that ran out.
        A conditional UPDATE, so of two workers racing for one message exactly one wins."""
        result = await self.conn.execute(
            update(messages).where(messages.c.id == message_id, claimable(now, lease))
            .values(delivery_status="sending", claimed_at=now,
                    attempts=messages.c.attempts + 1))
        return result.rowcount == 1

    async def stale_sends(self, now: datetime, lease: timedelta,
                          limit: int = 500) -> list[tuple[int, str]]:
        """Sends whose job is presumed lost: queued and overdue, or claimed and not finished.
        (id, author_kind) of each: who wrote it decides which delivery queue takes it."""
        rows = await self.conn.execute(
            select(messages.c.id, messages.c.author_kind)
            .where(
                messages.c.direction == "out",
                or_(
                    and_(messages.c.delivery_status == "queued",
                         messages.c.next_attempt_at < now - lease),
                    and_(messages.c.delivery_status == "sending",
                         messages.c.claimed_at < now - lease),
                ),
            )
            .order_by(messages.c.id)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]

    async def record_part(self, message_id: int, part: int, channel: str, external_id: str,
                          at: datetime) -> None:
        """The provider accepted part `part` (0 first) of an outbound message as
        `external_id`. The first part's id is also the message's own, which status reports
        name. An id already recorded (for any message) raises Duplicate."""
        try:
            await self.conn.execute(insert(message_parts).values(
                message_id=message_id, part=part, channel=channel, external_id=external_id,
                accepted_at=at))
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc
        if part == 0:
            await self.update(message_id, external_id=external_id)

    async def parts_of(self, message_id: int) -> list[str]:
        """The provider ids of the parts accepted so far, first part first."""
        rows = await self.conn.execute(
            select(message_parts.c.external_id).where(message_parts.c.message_id == message_id)
            .order_by(message_parts.c.part))
        return [r[0] for r in rows]

    async def parts_of_other_messages(self, channel: str, external_ids: Sequence[str],
                                      message_id: int) -> set[str]:
        """Which of these provider ids already stand for a part of another message."""
        if not external_ids:
            return set()
        rows = await self.conn.execute(
            select(message_parts.c.external_id).where(
                message_parts.c.channel == channel,
                self.one_of(message_parts.c.external_id, external_ids),
                message_parts.c.message_id != message_id))
        return {r[0] for r in rows}

    async def move(self, message_ids: Sequence[int], conversation_id: int) -> None:
        await self.conn.execute(update(messages).where(self.one_of(messages.c.id, message_ids))
                                .values(conversation_id=conversation_id))
