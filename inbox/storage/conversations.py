"""Conversations: finding, listing, queue positions, assignment claims and SLA candidates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from inbox.storage.records import Records, Row
from inbox.storage.schema import (
    contacts,
    conversations,
    guided_intakes,
    messages,
    users,
)


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



class ConversationRecords(Records):
    async def open_of_identity(self, identity_id: int) -> Row | None:
        return await self._one(
            select(conversations)
            .where(conversations.c.identity_id == identity_id,
                   conversations.c.status != "resolved")
            .order_by(conversations.c.id.desc()).limit(1))

    async def answered_elsewhere(self, channel: str, mail_ids: Sequence[str],
                                 resolved_since: datetime | None) -> list[Row]:
        """Conversations of any channel holding one of our messages sent on `channel` under
        one of these ids (an answer that left the chat by e-mail: `outbox.divert`), joinable
        as in `threads_of_contacts` and shaped alike, each with the message's `id`
        (`message_id`) and `extra` (`sent_extra`: where it went). Found through the unique
        (channel, external id) key."""
        mail_ids = sorted(set(mail_ids))
        if not mail_ids:
            return []
        c, m = conversations, messages
        joinable = c.c.status != "resolved"
        if resolved_since is not None:
            joinable = or_(joinable, c.c.resolved_at >= resolved_since)
        return await self._all(
            select(c.c.id, c.c.status, c.c.queue, c.c.assignee_id, c.c.thread_key,
                   c.c.resolved_at, users.c.presence.label("assignee_presence"),
                   m.c.id.label("message_id"), m.c.extra.label("sent_extra"),
                   m.c.external_id)
            .select_from(m.join(c, c.c.id == m.c.conversation_id)
                         .outerjoin(users, users.c.id == c.c.assignee_id))
            .where(m.c.channel == channel, self.one_of(m.c.external_id, mail_ids),
                   m.c.direction == "out", joinable)
            .order_by(m.c.id.desc()))

    async def threads_of_contacts(self, contact_ids: Sequence[int], channel: str,
                                  resolved_since: datetime | None) -> dict[int, list[Row]]:
        """Each contact's conversations on `channel` a reply in their thread may join: the
        unresolved ones and those resolved at or after `resolved_since` (None: none of the
        resolved), newest first, each shaped as `ContactRecords.identity_and_open_conversation`
        gives one (its assignee's presence along) with its thread key; contacts with none are
        left out. Found through the contacts' conversations, which are few, so the thread key
        needs no index of its own; one statement for a whole batch."""
        contact_ids = sorted(set(contact_ids))
        if not contact_ids:
            return {}
        c = conversations
        joinable = c.c.status != "resolved"
        if resolved_since is not None:
            joinable = or_(joinable, c.c.resolved_at >= resolved_since)
        found: dict[int, list[Row]] = {}
        for row in await self._all(
                select(c.c.id, c.c.contact_id, c.c.status, c.c.queue, c.c.assignee_id,
                       c.c.thread_key, c.c.resolved_at,
                       users.c.presence.label("assignee_presence"))
                .select_from(c.outerjoin(users, users.c.id == c.c.assignee_id))
                .where(self.one_of(c.c.contact_id, contact_ids), c.c.channel == channel, joinable)
                .order_by(c.c.id.desc())):
            found.setdefault(row.pop("contact_id"), []).append(row)
        return found

    async def latest_of_identity(self, identity_id: int) -> Row | None:
        return await self._one(
            select(conversations).where(conversations.c.identity_id == identity_id)
            .order_by(conversations.c.id.desc()).limit(1))

    async def create(self, **values: Any) -> int:
        values.setdefault("priority", 0)
        return await self._insert(conversations, values)

    async def create_many(self, rows: list[dict[str, Any]]) -> list[int]:
        """Conversations (each with the same keys) in one statement; their ids in order."""
        return await self._insert_many(conversations, [{"priority": 0, **row} for row in rows])

    async def touch_many(self, changes: list[dict[str, Any]]) -> None:
        """A resident wrote into each of these conversations: set their `last_message_at`,
        `last_inbound_at` and `status` ({id, at, status} each) in one executemany."""
        if not changes:
            return
        c = conversations
        await self.conn.execute(
            update(c).where(c.c.id == bindparam("conversation"))
            .values(last_message_at=bindparam("at"), last_inbound_at=bindparam("at"),
                    status=bindparam("new_status")),
            [{"conversation": change["id"], "at": change["at"], "new_status": change["status"]}
             for change in changes])

    async def with_contacts(self, conversation_ids: Sequence[int]) -> list[Row]:
        """`with_contact` of many conversations, in id order."""
        if not conversation_ids:
            return []
        return await self._all(self._with_contact()
                               .where(self.one_of(conversations.c.id, sorted(conversation_ids)))
                               .order_by(conversations.c.id))

    async def get(self, conversation_id: int, *, for_update: bool = False) -> Row | None:
        query = select(conversations).where(conversations.c.id == conversation_id)
        if for_update:
            query = query.with_for_update()
        return await self._one(query)

    async def update(self, conversation_id: int, **values: Any) -> None:
        await self.conn.execute(update(conversations)
                                .where(conversations.c.id == conversation_id).values(**values))

    async def update_many(self, changes: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """`update` for each (id, values), every `values` with the same keys, in one
        executemany."""
        if not changes:
            return
        await self.conn.execute(
            update(conversations).where(conversations.c.id == bindparam("conversation")),
            [{"conversation": conversation_id, **values} for conversation_id, values in changes])

    async def of_contact(self, contact_id: int) -> list[Row]:
        return await self._all(select(conversations)
                               .where(conversations.c.contact_id == contact_id)
                               .order_by(conversations.c.id.desc()))

    async def unrouted(self, before: datetime, limit: int = 200) -> list[int]:
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
                       contacts.c.email.label("contact_email"),
                       contacts.c.erased_at.label("contact_erased_at"))
                .join(contacts, contacts.c.id == c.c.contact_id))

    async def with_contact(self, conversation_id: int) -> Row | None:
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

    async def list(self, f: ConversationFilter) -> list[Row]:
        c = conversations
        query = self._with_contact()
        if f.allowed_queues is not None:
            query = query.where(self.one_of(c.c.queue, f.allowed_queues))
        if f.statuses:
            query = query.where(self.one_of(c.c.status, f.statuses))
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

    async def open_loads(self, agent_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Open conversations per agent and channel: what counts against capacity."""
        if not agent_ids:
            return {}
        c = conversations
        rows = await self.conn.execute(
            select(c.c.assignee_id, c.c.channel, func.count())
            .where(self.one_of(c.c.assignee_id, agent_ids), c.c.status == "open")
            .group_by(c.c.assignee_id, c.c.channel))
        loads: dict[int, dict[str, int]] = {}
        for agent_id, channel, count in rows:
            loads.setdefault(agent_id, {})[channel] = count
        return loads

    async def claim(self, conversation_id: int, agent_id: int, now: datetime,
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
            select(c).where(self.one_of(c.c.queue, queues), c.c.status == "waiting",
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
        """Live conversations whose clock may still change state (not yet breached), each
        with `intake_finished_at`: when the guided intake that held it ended, else None."""
        c, g = conversations, guided_intakes
        return await self._all(
            select(c, g.c.finished_at.label("intake_finished_at"))
            .select_from(c.outerjoin(g, g.c.conversation_id == c.c.id))
            .where(c.c.status != "resolved", c.c.sla_state != "breached",
                   c.c.sla_due_at.is_not(None))
            .order_by(c.c.sla_due_at).limit(limit))

    async def pending_offers(self) -> list[Row]:
        return await self._all(select(conversations).where(
            conversations.c.offered_at.is_not(None), conversations.c.status == "open"))
