"""Outbound sends taken and finished a group at a time: what one delivery job's concurrent
sends read and write, in a few multi-row statements instead of a transaction per message.

Single-message helpers stay on `MessageRecords` (claim_delivery, advance_delivery, parts_of,
answered_external_id); these give the same answers for many messages at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox.storage.messages import claimable
from inbox.storage.records import Duplicate, Records, Row, as_row
from inbox.storage.schema import contact_identities, conversations, message_parts, messages


class DeliveryRecords(Records):
    async def claim(self, message_ids: Sequence[int], now: datetime,
                    lease: timedelta) -> list[int]:
        """Take the sends of these messages that are queued, or sending under a lease that
        ran out: the ids taken. One conditional UPDATE, so of two workers racing for a
        message exactly one takes it (as `MessageRecords.claim_delivery`)."""
        if not message_ids:
            return []
        result = await self.conn.execute(
            update(messages)
            .where(self.one_of(messages.c.id, message_ids), claimable(now, lease))
            .values(delivery_status="sending", claimed_at=now,
                    attempts=messages.c.attempts + 1)
            .returning(messages.c.id))
        return [r[0] for r in result]

    async def sends(self, message_ids: Sequence[int]) -> list[tuple[Row, Row, str]]:
        """(message, conversation, the identity's address) of each of these messages, with
        `answered_external_id` (the provider's id of the resident's message each answers:
        the conversation's latest inbound message before it on the same channel)."""
        if not message_ids:
            return []
        answered = messages.alias("answered")
        latest_inbound = (
            select(answered.c.external_id)
            .where(answered.c.conversation_id == messages.c.conversation_id,
                   answered.c.channel == messages.c.channel,
                   answered.c.direction == "in", answered.c.id < messages.c.id)
            .order_by(answered.c.id.desc()).limit(1)
            .correlate(messages).scalar_subquery())
        conversation = conversations.alias("conversation")
        rows = await self.conn.execute(
            select(messages, latest_inbound.label("answered_external_id"),
                   *[c.label(f"conversation__{c.name}") for c in conversation.c],
                   contact_identities.c.address.label("identity_address"))
            .join(conversation, conversation.c.id == messages.c.conversation_id)
            .join(contact_identities, contact_identities.c.id == conversation.c.identity_id)
            .where(self.one_of(messages.c.id, message_ids))
            .order_by(messages.c.id))
        found = []
        for raw in rows:
            row = as_row(raw)
            address = row.pop("identity_address")
            conversation_row = {key.removeprefix("conversation__"): row.pop(key)
                                for key in list(row) if key.startswith("conversation__")}
            found.append((row, conversation_row, address))
        return found

    async def reroute(self, message_id: int, channel: str, extra: dict) -> None:
        """The message goes out on `channel` from now on, with these send options."""
        await self.conn.execute(update(messages).where(messages.c.id == message_id)
                                .values(channel=channel, extra=extra))

    async def parts(self, message_ids: Sequence[int]) -> dict[int, list[str]]:
        """The provider ids of the parts accepted so far of each message, first part first."""
        if not message_ids:
            return {}
        rows = await self.conn.execute(
            select(message_parts.c.message_id, message_parts.c.external_id)
            .where(self.one_of(message_parts.c.message_id, message_ids))
            .order_by(message_parts.c.message_id, message_parts.c.part))
        found: dict[int, list[str]] = {}
        for message_id, external_id in rows:
            found.setdefault(message_id, []).append(external_id)
        return found

    async def mark_sent(self, sent: Sequence[tuple[int, str | None]],
                        at: datetime) -> set[int]:
        """Record these sends (message id, the provider's id) as sent: the ids whose state
        moved to `sent` (the others had already moved past it, or failed, as a status
        report may do first; their provider id and send time are written all the same,
        as `MessageRecords.advance_delivery` does)."""
        if not sent:
            return set()
        await self.conn.execute(
            update(messages).where(messages.c.id == bindparam("message_id"))
            .values(external_id=bindparam("sent_external_id"), sent_at=at, claimed_at=None),
            [{"message_id": message_id, "sent_external_id": external_id}
             for message_id, external_id in sent])
        moved = await self.conn.execute(
            update(messages)
            .where(self.one_of(messages.c.id, [message_id for message_id, _ in sent]),
                   messages.c.delivery_status.in_(("queued", "sending")))
            # A retried send that went through clears the earlier attempt's error.
            .values(delivery_status="sent", delivery_error=None)
            .returning(messages.c.id))
        return {r[0] for r in moved}

    async def record_parts(self, parts: Sequence[tuple[int, int, str, str]],
                           at: datetime) -> None:
        """Parts the provider accepted, (message id, part, channel, provider id) each, as
        `MessageRecords.record_part` records one: a provider id already recorded raises
        Duplicate (and the transaction is then unusable)."""
        if not parts:
            return
        try:
            await self.conn.execute(insert(message_parts), [
                {"message_id": message_id, "part": part, "channel": channel,
                 "external_id": external_id, "accepted_at": at}
                for message_id, part, channel, external_id in parts])
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc
        firsts = [{"message_id": message_id, "first_external_id": external_id}
                  for message_id, part, _, external_id in parts if part == 0]
        if firsts:
            # The first part's id is also the message's own, which status reports name.
            await self.conn.execute(
                update(messages).where(messages.c.id == bindparam("message_id"))
                .values(external_id=bindparam("first_external_id")), firsts)
