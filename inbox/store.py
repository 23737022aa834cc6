"""The only module that speaks SQL. Everything else asks it in domain terms.

`Store.transaction()` yields a `Tx` whose methods run inside one database transaction, so a
caller can compose several steps (dedupe, contact, conversation, message, event) and have
them commit or vanish together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inbox.db import sqlite_connect
from inbox.schema import (
    Id,
    auth_tokens,
    category_corrections,
    contact_claims,
    contact_identities,
    contact_matches,
    contacts,
    conversations,
    events,
    intake,
    message_parts,
    messages,
    users,
)

Row = dict[str, Any]

# An outbound message's states in the order they may advance; failure ends any of them.
DELIVERY_ORDER = ("queued", "sending", "sent", "delivered", "read")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: Any) -> Any:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row(row: Any) -> Row | None:
    if row is None:
        return None
    return {key: _aware(value) for key, value in row._mapping.items()}


def _rows(result: Iterable[Any]) -> list[Row]:
    return [_row(r) for r in result]


def token_digest(token: str) -> str:
    # aiohttp reads header bytes that are not UTF-8 as surrogate escapes; such a token is
    # no token of ours (they are ASCII), and must hash, not raise.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def match_counterpart(match: Row, contact_id: int) -> int:
    """The other contact of a possible match (`contact_matches`) of `contact_id`."""
    return match["other_contact_id"] if match["contact_id"] == contact_id \
        else match["contact_id"]


class Duplicate(Exception):
    """A unique key (channel, external id) or (channel, address) is already taken."""


@dataclass(frozen=True)
class ConversationFilter:
    statuses: tuple[str, ...] = ()   # any of these; empty: any status
    queue: str | None = None
    channel: str | None = None
    category: str | None = None
    assignee: int | str | None = None    # an id, "none", or None for any
    text: str | None = None
    allowed_queues: tuple[str, ...] | None = None  # None: every queue (supervisor, admin)
    limit: int = 50
    before: tuple[datetime, int] | None = None     # keyset cursor: (last_message_at, id)


class Tx:
    """One transaction's worth of domain queries."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def _one(self, statement) -> Row | None:
        return _row((await self.conn.execute(statement)).first())

    async def _all(self, statement) -> list[Row]:
        return _rows(await self.conn.execute(statement))

    async def _insert(self, table, values: dict[str, Any]) -> int:
        result = await self.conn.execute(insert(table).values(**values).returning(table.c.id))
        return int(result.scalar_one())

    # --- messages -------------------------------------------------------------------------

    async def message_by_external_id(self, channel: str, external_id: str) -> Row | None:
        return await self._one(select(messages).where(
            messages.c.channel == channel, messages.c.external_id == external_id))

    async def insert_message(self, **values: Any) -> int:
        """Insert a message; a taken (channel, external_id) raises Duplicate. The transaction
        is then unusable: the caller lets it roll back and reads what the winner stored."""
        values.setdefault("attachments", [])
        values.setdefault("attempts", 0)
        try:
            return await self._insert(messages, values)
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def message(self, message_id: int) -> Row | None:
        return await self._one(select(messages).where(messages.c.id == message_id))

    async def messages_of(self, conversation_id: int, *, include_notes: bool = True,
                          limit: int | None = None) -> list[Row]:
        query = select(messages).where(messages.c.conversation_id == conversation_id)
        if not include_notes:
            query = query.where(messages.c.direction != "note")
        return await self._all(query.order_by(messages.c.id).limit(limit))

    async def update_message(self, message_id: int, **values: Any) -> None:
        await self.conn.execute(update(messages).where(messages.c.id == message_id)
                                .values(**values))

    async def calls_awaiting_voicemail_text(self, channel: str, link: str, placeholder: str,
                                            before: datetime, limit: int = 100) -> list[str]:
        """The external ids (CallSids) of `channel`'s call items whose voicemail, the message
        their `extra[link]` names, still reads `placeholder` and was stored before `before`;
        the oldest voicemail first."""
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
            await self.update_message(message_id, **values)
        return moved.rowcount == 1

    # --- the intake journal ---------------------------------------------------------------

    async def intake_before(self, before: datetime, limit: int = 500) -> list[Row]:
        """Journal entries accepted before `before`, oldest first: left by a stopped process."""
        return await self._all(select(intake).where(intake.c.accepted_at < before)
                               .order_by(intake.c.id).limit(limit))

    async def discard_intake(self, intake_id: int) -> None:
        await self.conn.execute(delete(intake).where(intake.c.id == intake_id))

    # --- the outbox -----------------------------------------------------------------------

    async def claim_delivery(self, message_id: int, now: datetime, lease: timedelta) -> bool:
        """Take a send for this worker: queued, or sending under a lease that ran out.
        A conditional UPDATE, so of two workers racing for one message exactly one wins."""
        result = await self.conn.execute(
            update(messages)
            .where(
                messages.c.id == message_id,
                messages.c.direction == "out",
                or_(
                    messages.c.delivery_status == "queued",
                    and_(messages.c.delivery_status == "sending",
                         messages.c.claimed_at < now - lease),
                ),
            )
            .values(delivery_status="sending", claimed_at=now,
                    attempts=messages.c.attempts + 1)
        )
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
            await self.update_message(message_id, external_id=external_id)

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
                message_parts.c.external_id.in_(list(external_ids)),
                message_parts.c.message_id != message_id))
        return {r[0] for r in rows}

    # --- contacts and identities ----------------------------------------------------------

    async def identity(self, channel: str, address: str) -> Row | None:
        return await self._one(select(contact_identities).where(
            contact_identities.c.channel == channel, contact_identities.c.address == address))

    async def identity_and_open_conversation(self, channel: str, address: str
                                             ) -> tuple[Row | None, Row | None]:
        """The identity of (channel, address) and its latest unresolved conversation, in one
        round trip (the hot path of every inbound message)."""
        i, c = contact_identities, conversations
        # Open conversations of one identity are few (usually one): join them all, keep the
        # newest. Both sides are found through their indexes.
        # The assignee's presence comes along: a resident writing to an agent who left means
        # the conversation goes back to its queue.
        row = await self._one(
            select(i.c.id, i.c.contact_id, contacts.c.name.label("contact_name"),
                   c.c.id.label("conversation_id"), c.c.status, c.c.queue, c.c.assignee_id,
                   users.c.presence.label("assignee_presence"))
            .select_from(i.join(contacts, contacts.c.id == i.c.contact_id)
                         .outerjoin(c, and_(c.c.identity_id == i.c.id,
                                            c.c.status != "resolved"))
                         .outerjoin(users, users.c.id == c.c.assignee_id))
            .where(i.c.channel == channel, i.c.address == address)
            .order_by(c.c.id.desc()).limit(1))
        if row is None:
            return None, None
        identity = {"id": row["id"], "contact_id": row["contact_id"],
                    "contact_name": row["contact_name"]}
        if row["conversation_id"] is None:
            return identity, None
        return identity, {"id": row["conversation_id"], "status": row["status"],
                          "queue": row["queue"], "assignee_id": row["assignee_id"],
                          "assignee_presence": row["assignee_presence"]}

    async def identity_by_id(self, identity_id: int) -> Row | None:
        return await self._one(select(contact_identities)
                               .where(contact_identities.c.id == identity_id))

    async def create_contact(self, **values: Any) -> int:
        now = utcnow()
        values.setdefault("created_at", now)
        values.setdefault("updated_at", now)
        return await self._insert(contacts, values)

    async def create_identity(self, contact_id: int, channel: str, address: str,
                              display_name: str | None) -> int:
        try:
            return await self._insert(contact_identities, {
                "contact_id": contact_id, "channel": channel, "address": address,
                "display_name": display_name, "created_at": utcnow()})
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def contact_by_phone(self, phone: str) -> Row | None:
        return await self._one(select(contacts).where(contacts.c.phone == phone,
                                                      contacts.c.merged_into.is_(None))
                               .order_by(contacts.c.id).limit(1))

    async def merge_contacts(self, into: int, other: int, *, decided_by: int | None = None
                             ) -> list[int]:
        """Move every identity, conversation and claim of `other` to `into`; `other` stays as
        a pointer (merged_into) so old links resolve. Open possible matches between the two are
        settled as confirmed by `decided_by`; `other`'s matches with third contacts become
        `into`'s. Returns the moved conversation ids."""
        moved = [r[0] for r in await self.conn.execute(
            select(conversations.c.id).where(conversations.c.contact_id == other))]
        await self.conn.execute(update(contact_identities)
                                .where(contact_identities.c.contact_id == other)
                                .values(contact_id=into))
        await self.conn.execute(update(conversations).where(conversations.c.contact_id == other)
                                .values(contact_id=into))
        await self._merge_claims(into, other)
        await self._merge_matches(into, other, decided_by)
        survivor, absorbed = await self.contact(into), await self.contact(other)
        missing = {k: absorbed[k] for k in ("name", "phone", "email", "language")
                   if not survivor[k] and absorbed[k]}
        await self.update_contact(other, merged_into=into)
        if missing:
            await self.update_contact(into, **missing)
        return moved

    async def _merge_claims(self, into: int, other: int) -> None:
        k = contact_claims
        held = select(k.c.digest).where(k.c.contact_id == into).scalar_subquery()
        await self.conn.execute(delete(k).where(k.c.contact_id == other, k.c.digest.in_(held)))
        await self.conn.execute(update(k).where(k.c.contact_id == other)
                                .values(contact_id=into))

    async def _merge_matches(self, into: int, other: int, decided_by: int | None) -> None:
        m = contact_matches
        rows = await self._all(select(m).where(or_(
            m.c.contact_id.in_((into, other)), m.c.other_contact_id.in_((into, other)))))
        now = utcnow()
        kept = {(match_counterpart(r, into), r["kind"]) for r in rows
                if into in (r["contact_id"], r["other_contact_id"])}
        for row in rows:
            pair = {row["contact_id"], row["other_contact_id"]}
            if pair == {into, other}:
                if row["status"] == "open":
                    await self.conn.execute(update(m).where(m.c.id == row["id"]).values(
                        status="confirmed", decided_by=decided_by, decided_at=now))
                continue
            if other not in pair:
                continue
            third = match_counterpart(row, other)
            if (third, row["kind"]) in kept:
                await self.conn.execute(delete(m).where(m.c.id == row["id"]))
                continue
            kept.add((third, row["kind"]))
            side = m.c.contact_id if row["contact_id"] == other else m.c.other_contact_id
            await self.conn.execute(update(m).where(m.c.id == row["id"])
                                    .values({side: into}))

    # --- typed identifiers and possible matches (inbox.matching) ----------------------------

    async def add_claim(self, contact_id: int, kind: str, digest: str, masked: str,
                        conversation_id: int | None, at: datetime) -> None:
        """Keep a typed identifier's digest on the contact, once."""
        k = contact_claims
        if await self._one(select(k.c.id).where(k.c.contact_id == contact_id,
                                                k.c.digest == digest)) is None:
            await self._insert(k, {"contact_id": contact_id, "kind": kind, "digest": digest,
                                   "masked": masked, "conversation_id": conversation_id,
                                   "found_at": at})

    async def contacts_claiming(self, digest: str, other_than: int) -> list[int]:
        """Contacts (not merged away) that typed the identifier with this digest."""
        k = contact_claims
        rows = await self.conn.execute(
            select(k.c.contact_id).join(contacts, contacts.c.id == k.c.contact_id)
            .where(k.c.digest == digest, k.c.contact_id != other_than,
                   contacts.c.merged_into.is_(None)))
        return [r[0] for r in rows]

    async def contacts_vouched(self, column: str, value: str, other_than: int) -> list[int]:
        """Contacts a provider vouched `value` for, in their `phone` or `email` column."""
        rows = await self.conn.execute(
            select(contacts.c.id).where(contacts.c[column] == value,
                                        contacts.c.id != other_than,
                                        contacts.c.merged_into.is_(None)))
        return [r[0] for r in rows]

    async def add_match(self, contact_id: int, other: int, kind: str, masked: str,
                        at: datetime) -> int | None:
        """A possible match of two contacts on one kind of identifier, unless the pair was
        already matched on it (open, confirmed or dismissed: an agent's decision stands)."""
        m = contact_matches
        pair = or_(and_(m.c.contact_id == contact_id, m.c.other_contact_id == other),
                   and_(m.c.contact_id == other, m.c.other_contact_id == contact_id))
        if await self._one(select(m.c.id).where(pair, m.c.kind == kind)) is not None:
            return None
        return await self._insert(m, {"contact_id": contact_id, "other_contact_id": other,
                                      "kind": kind, "masked": masked, "found_at": at,
                                      "status": "open"})

    async def open_matches_of(self, contact_id: int) -> list[Row]:
        m = contact_matches
        return await self._all(select(m).where(
            m.c.status == "open",
            or_(m.c.contact_id == contact_id, m.c.other_contact_id == contact_id))
            .order_by(m.c.id))

    async def match(self, match_id: int, *, for_update: bool = False) -> Row | None:
        query = select(contact_matches).where(contact_matches.c.id == match_id)
        if for_update:
            query = query.with_for_update()
        return await self._one(query)

    async def decide_match(self, match_id: int, status: str, user_id: int,
                           at: datetime) -> None:
        await self.conn.execute(update(contact_matches)
                                .where(contact_matches.c.id == match_id)
                                .values(status=status, decided_by=user_id, decided_at=at))

    async def move_messages(self, message_ids: Sequence[int], conversation_id: int) -> None:
        await self.conn.execute(update(messages).where(messages.c.id.in_(list(message_ids)))
                                .values(conversation_id=conversation_id))

    async def contact(self, contact_id: int) -> Row | None:
        return await self._one(select(contacts).where(contacts.c.id == contact_id))

    async def update_contact(self, contact_id: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        await self.conn.execute(update(contacts).where(contacts.c.id == contact_id)
                                .values(**values))

    async def name_contact_if_unnamed(self, contact_id: int, name: str) -> bool:
        """Set the name of a contact that has none; False when it had one meanwhile."""
        result = await self.conn.execute(
            update(contacts).where(contacts.c.id == contact_id,
                                   or_(contacts.c.name.is_(None), contacts.c.name == ""))
            .values(name=name, updated_at=utcnow()))
        return result.rowcount > 0

    async def identities_of(self, contact_id: int) -> list[Row]:
        return await self._all(select(contact_identities)
                               .where(contact_identities.c.contact_id == contact_id)
                               .order_by(contact_identities.c.id))

    # --- conversations --------------------------------------------------------------------

    async def open_conversation(self, identity_id: int) -> Row | None:
        return await self._one(
            select(conversations)
            .where(conversations.c.identity_id == identity_id,
                   conversations.c.status != "resolved")
            .order_by(conversations.c.id.desc()).limit(1))

    async def latest_conversation(self, identity_id: int) -> Row | None:
        return await self._one(
            select(conversations).where(conversations.c.identity_id == identity_id)
            .order_by(conversations.c.id.desc()).limit(1))

    async def create_conversation(self, **values: Any) -> int:
        values.setdefault("priority", 0)
        return await self._insert(conversations, values)

    async def conversation(self, conversation_id: int, *, for_update: bool = False) -> Row | None:
        query = select(conversations).where(conversations.c.id == conversation_id)
        if for_update:
            query = query.with_for_update()
        return await self._one(query)

    async def update_conversation(self, conversation_id: int, **values: Any) -> None:
        await self.conn.execute(update(conversations)
                                .where(conversations.c.id == conversation_id).values(**values))

    async def conversations_of_contact(self, contact_id: int) -> list[Row]:
        return await self._all(select(conversations)
                               .where(conversations.c.contact_id == contact_id)
                               .order_by(conversations.c.id.desc()))

    async def unrouted_conversations(self, before: datetime, limit: int = 200) -> list[int]:
        rows = await self.conn.execute(
            select(conversations.c.id)
            .where(conversations.c.routed_at.is_(None), conversations.c.created_at < before)
            .order_by(conversations.c.id).limit(limit))
        return [r[0] for r in rows]

    @staticmethod
    def _with_contact():
        c = conversations
        return (select(c, contacts.c.name.label("contact_name"),
                       contacts.c.phone.label("contact_phone"),
                       contacts.c.email.label("contact_email"))
                .join(contacts, contacts.c.id == c.c.contact_id))

    async def conversation_row(self, conversation_id: int) -> Row | None:
        """A conversation with its contact's name, phone and e-mail, as lists show it."""
        return await self._one(self._with_contact()
                               .where(conversations.c.id == conversation_id))

    async def queue_position(self, queue: str, conversation: Row) -> int:
        """1-based place of `conversation` in `queue`'s waiting line, in the order agents are
        given work (`waiting_in`): those ahead of it, and not itself, plus one."""
        c = conversations
        priority, created_at = conversation["priority"], conversation["created_at"]
        ahead = or_(c.c.priority > priority,
                    and_(c.c.priority == priority,
                         or_(c.c.created_at < created_at,
                             and_(c.c.created_at == created_at, c.c.id < conversation["id"]))))
        result = await self.conn.execute(
            select(func.count()).where(c.c.queue == queue, c.c.status == "waiting",
                                       c.c.assignee_id.is_(None), c.c.routed_at.is_not(None),
                                       c.c.id != conversation["id"], ahead))
        return int(result.scalar_one()) + 1

    async def list_conversations(self, f: ConversationFilter) -> list[Row]:
        c = conversations
        query = self._with_contact()
        if f.allowed_queues is not None:
            query = query.where(c.c.queue.in_(f.allowed_queues))
        if f.statuses:
            query = query.where(c.c.status.in_(f.statuses))
        for column, value in ((c.c.queue, f.queue), (c.c.channel, f.channel),
                              (c.c.category, f.category)):
            if value:
                query = query.where(column == value)
        if f.assignee == "none":
            query = query.where(c.c.assignee_id.is_(None))
        elif f.assignee is not None:
            query = query.where(c.c.assignee_id == int(f.assignee))
        if f.text:
            # % and _ in what an agent typed are literal characters, not wildcards.
            escaped = f.text.lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_")
            pattern = f"%{escaped}%"

            def like(column):
                return column.like(pattern, escape="\\")

            matching = select(messages.c.conversation_id).where(like(func.lower(messages.c.body)))
            # A FIN or number a resident typed is found in the text of their messages.
            query = query.where(or_(like(func.lower(contacts.c.name)), like(contacts.c.phone),
                                    c.c.id.in_(matching)))
        if f.before is not None:
            at, last_id = f.before
            query = query.where(or_(c.c.last_message_at < at,
                                    and_(c.c.last_message_at == at, c.c.id < last_id)))
        query = query.order_by(c.c.last_message_at.desc(), c.c.id.desc()).limit(f.limit)
        return await self._all(query)

    async def queue_waiting(self) -> list[Row]:
        """Per queue: conversations waiting for an agent and since when the oldest waits."""
        c = conversations
        return await self._all(
            select(c.c.queue, func.count().label("waiting"),
                   func.min(c.c.created_at).label("oldest"))
            .where(c.c.status == "waiting", c.c.queue.is_not(None))
            .group_by(c.c.queue))

    async def agents_online_by_queue(self) -> dict[str, int]:
        rows = await self.conn.execute(select(users.c.queues).where(
            users.c.presence == "online", users.c.active.is_(True)))
        counts: dict[str, int] = {}
        for (queues,) in rows:
            for queue in queues or ():
                counts[queue] = counts.get(queue, 0) + 1
        return counts

    # --- assignment -----------------------------------------------------------------------

    async def online_agents(self) -> list[Row]:
        return await self._all(select(users).where(users.c.presence == "online",
                                                   users.c.active.is_(True)))

    async def lock_user(self, user_id: int) -> Row | None:
        """The user's row, locked until commit: assignments to one agent queue up here, so
        two processes cannot both see free capacity and both fill it."""
        return await self._one(select(users).where(users.c.id == user_id).with_for_update())

    async def open_loads(self, agent_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Open conversations per agent and channel: what counts against capacity."""
        if not agent_ids:
            return {}
        c = conversations
        rows = await self.conn.execute(
            select(c.c.assignee_id, c.c.channel, func.count())
            .where(c.c.assignee_id.in_(list(agent_ids)), c.c.status == "open")
            .group_by(c.c.assignee_id, c.c.channel))
        loads: dict[int, dict[str, int]] = {}
        for agent_id, channel, count in rows:
            loads.setdefault(agent_id, {})[channel] = count
        return loads

    async def claim_conversation(self, conversation_id: int, agent_id: int, now: datetime,
                                 *, offered: bool) -> bool:
        """Assign a waiting, unassigned conversation; False when another process was first."""
        result = await self.conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.status == "waiting",
                   conversations.c.assignee_id.is_(None))
            .values(assignee_id=agent_id, assigned_at=now, status="open",
                    offered_at=now if offered else None, opened_at=None))
        return result.rowcount == 1

    async def waiting_in(self, queues: Sequence[str], limit: int = 200) -> list[Row]:
        """Waiting conversations of these queues, highest priority first, then oldest."""
        if not queues:
            return []
        c = conversations
        return await self._all(
            select(c).where(c.c.queue.in_(list(queues)), c.c.status == "waiting",
                            c.c.assignee_id.is_(None), c.c.routed_at.is_not(None))
            .order_by(c.c.priority.desc(), c.c.created_at, c.c.id).limit(limit))

    async def previous_assignee(self, contact_id: int, conversation_id: int) -> int | None:
        """Who handled this resident's most recent earlier conversation."""
        c = conversations
        result = await self.conn.execute(
            select(c.c.assignee_id).where(c.c.contact_id == contact_id, c.c.id != conversation_id,
                                          c.c.assignee_id.is_not(None))
            .order_by(c.c.id.desc()).limit(1))
        return result.scalar()

    async def assigned_to(self, agent_id: int,
                          statuses: Sequence[str] = ("open",)) -> list[Row]:
        return await self._all(select(conversations).where(
            conversations.c.assignee_id == agent_id, conversations.c.status.in_(statuses)))

    async def sla_candidates(self, limit: int = 20_000) -> list[Row]:
        """Live conversations whose clock may still change state (not yet breached)."""
        c = conversations
        return await self._all(select(c).where(
            c.c.status != "resolved", c.c.sla_state != "breached", c.c.sla_due_at.is_not(None))
            .order_by(c.c.sla_due_at).limit(limit))

    async def pending_offers(self) -> list[Row]:
        return await self._all(select(conversations).where(
            conversations.c.offered_at.is_not(None), conversations.c.status == "open"))

    # --- events ---------------------------------------------------------------------------

    async def add_event(self, conversation_id: int, type_: str, data: dict[str, Any] | None = None,
                        actor_id: int | None = None, at: datetime | None = None) -> int:
        return await self._insert(events, {
            "conversation_id": conversation_id, "type": type_, "actor_id": actor_id,
            "data": data or {}, "created_at": at or utcnow()})

    async def events_of(self, conversation_id: int) -> list[Row]:
        return await self._all(select(events).where(events.c.conversation_id == conversation_id)
                               .order_by(events.c.id))

    async def add_correction(self, **values: Any) -> int:
        values.setdefault("created_at", utcnow())
        return await self._insert(category_corrections, values)

    async def corrections(self) -> list[Row]:
        return await self._all(select(category_corrections).order_by(category_corrections.c.id))

    # --- users and sessions ---------------------------------------------------------------

    async def active_users(self) -> list[Row]:
        return await self._all(select(users).where(users.c.active.is_(True))
                               .order_by(users.c.name))

    async def all_users(self) -> list[Row]:
        return await self._all(select(users).order_by(users.c.email))

    async def user_by_email(self, email: str) -> Row | None:
        return await self._one(select(users).where(users.c.email == email.lower()))

    async def user(self, user_id: int) -> Row | None:
        return await self._one(select(users).where(users.c.id == user_id))

    async def users_by_ids(self, ids: Sequence[int]) -> list[Row]:
        if not ids:
            return []
        return await self._all(select(users).where(users.c.id.in_(list(ids))))

    async def save_user(self, email: str, **values: Any) -> int:
        existing = await self.user_by_email(email)
        if existing is not None:
            await self.conn.execute(update(users).where(users.c.id == existing["id"])
                                    .values(**values))
            return existing["id"]
        return await self._insert(users, {"email": email.lower(), "created_at": utcnow(),
                                          "active": True, "presence": "offline", **values})

    async def update_user(self, user_id: int, **values: Any) -> None:
        await self.conn.execute(update(users).where(users.c.id == user_id).values(**values))

    async def save_token(self, token: str, user_id: int, csrf_token: str,
                         expires_at: datetime) -> None:
        await self.conn.execute(insert(auth_tokens).values(
            token_hash=token_digest(token), user_id=user_id, csrf_token=csrf_token,
            created_at=utcnow(), expires_at=expires_at))

    async def session(self, token: str, now: datetime) -> Row | None:
        """The user behind a token that has not expired, with the token's CSRF secret."""
        return await self._one(
            select(users, auth_tokens.c.csrf_token)
            .join(auth_tokens, auth_tokens.c.user_id == users.c.id)
            .where(auth_tokens.c.token_hash == token_digest(token),
                   auth_tokens.c.expires_at > now, users.c.active.is_(True)))

    async def delete_token(self, token: str) -> None:
        await self.conn.execute(delete(auth_tokens)
                                .where(auth_tokens.c.token_hash == token_digest(token)))

    async def delete_tokens_of(self, user_id: int) -> int:
        """Ends every session of the user; how many there were."""
        result = await self.conn.execute(delete(auth_tokens)
                                         .where(auth_tokens.c.user_id == user_id))
        return result.rowcount


class SqliteJournal:
    """The intake journal's write on SQLite, made on the event loop's own thread.

    Every Twilio webhook waits for this write. Through aiosqlite, SQLAlchemy hands each
    statement to a thread several times (some 140 µs a hand-off here), so a one-row
    transaction takes about 2.2 ms; as plain sqlite3 calls it takes about 45 µs
    (bench/bench_journal.py). It must never block the loop, so this connection does not
    wait for the lock (busy_timeout 0: when the worker process is writing, the write goes
    to a thread and waits there) and never checkpoints the WAL (the engine's connections do
    that, in their threads). Values are encoded by the columns' own SQLAlchemy types.
    """

    SQL = ("INSERT INTO intake (channel, external_id, message, accepted_at) VALUES (?, ?, ?, ?)"
           " ON CONFLICT (channel, external_id) DO NOTHING RETURNING id")

    def __init__(self, engine: AsyncEngine, writers: asyncio.Lock):
        self._engine = engine
        self._writers = writers          # the Store's: this process's writers, in turn
        self._connection: sqlite3.Connection | None = None   # opened by the first write
        self._message = intake.c.message.type.bind_processor(engine.dialect)
        self._time = intake.c.accepted_at.type.bind_processor(engine.dialect)

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite_connect(self._engine)
            self._no_wait()
        return self._connection

    def _no_wait(self) -> None:
        self.connection.execute("PRAGMA busy_timeout=0")
        self.connection.execute("PRAGMA wal_autocheckpoint=0")

    async def write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        async with self._writers:
            try:
                return self._write(entries)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
            return await asyncio.to_thread(self._write_waiting, entries)

    def _write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """Raises sqlite3.OperationalError ("database is locked") when another process
        holds the write lock; nothing is written then."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            new = {}
            for entry in entries:
                row = connection.execute(self.SQL, (
                    entry["channel"], entry["external_id"], self._message(entry["message"]),
                    self._time(entry["accepted_at"]))).fetchone()
                if row is not None:
                    new[(entry["channel"], entry["external_id"])] = row[0]
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return new

    def _write_waiting(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """`_write`, waiting for the lock as the engine's connections do (in a thread)."""
        self.connection.execute("PRAGMA busy_timeout=10000")
        try:
            return self._write(entries)
        finally:
            self._no_wait()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


async def _as_is(_connection: asyncpg.Connection) -> None:
    return None


class PostgresJournal:
    """The intake journal's write on PostgreSQL: one statement on a plain asyncpg connection.

    Through SQLAlchemy's pool a one-row transaction takes about 2.2 ms (a ping on checkout,
    BEGIN, the statement, COMMIT, a rollback on return); as one `unnest` INSERT on a
    connection of this small pool it is a single round trip, about 0.6 ms with the commit's
    flush (bench/bench_journal.py). The statement is atomic on its own, so no transaction is
    opened around it. asyncpg replaces a broken connection on the next acquire, and the
    webhook that met it gets an error (and Twilio's retry).
    """

    SQL = ("INSERT INTO intake (channel, external_id, message, accepted_at)"
           " SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::json[], $4::timestamptz[])"
           " ON CONFLICT (channel, external_id) DO NOTHING"
           " RETURNING id, channel, external_id")

    def __init__(self, engine: AsyncEngine, size: int = 4):
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._message = intake.c.message.type.bind_processor(engine.dialect)

    async def _connections(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # No reset on release: these connections only ever run SQL, so there is
                # no session state to clear, and the default reset costs a round trip.
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1,
                                                       max_size=self._size, reset=_as_is)
        return self._pool

    async def write(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        pool = await self._connections()
        rows = await pool.fetch(
            self.SQL, [e["channel"] for e in entries], [e["external_id"] for e in entries],
            [self._message(e["message"]) for e in entries],
            [e["accepted_at"] for e in entries])
        return {(row["channel"], row["external_id"]): row["id"] for row in rows}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # off SQLite's busy handler, whose back-off sleeps would add tens of milliseconds.
        self._writers = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._journal = SqliteJournal(engine, self._writers) if self._writers \
            else PostgresJournal(engine)

    async def journal(self, entries: Sequence[Row]) -> dict[tuple[str, str], int]:
        """Journal webhook messages ({channel, external_id, message, accepted_at} each) in one
        transaction. A (channel, external_id) already journalled is skipped, so a provider's
        retry adds nothing; returns the id of each entry that was new, by key."""
        return await self._journal.write(entries)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A writing transaction: commits when the block ends, rolls back on an exception.
        Not to be nested: on SQLite a second one in the same task would wait forever."""
        async with self._writers or contextlib.nullcontext(), self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield Tx(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only transaction (no write lock on SQLite)."""
        async with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    async def close(self) -> None:
        await self.engine.dispose()
        await self._journal.close()
