"""Contacts, their identities on each channel, typed-identifier claims and possible matches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from inbox.storage.records import Duplicate, Records, Row, utcnow
from inbox.storage.schema import (
    contact_claims,
    contact_identities,
    contact_matches,
    contacts,
    conversations,
    users,
)


def match_counterpart(match: Row, contact_id: int) -> int:
    """The other contact of a possible match (`contact_matches`) of `contact_id`."""
    return match["other_contact_id"] if match["contact_id"] == contact_id \
        else match["contact_id"]



def _identity_and_conversation(row: Row) -> tuple[Row, Row | None]:
    identity = {"id": row["id"], "contact_id": row["contact_id"],
                "contact_name": row["contact_name"], "reply_to": row["reply_to"]}
    if row["conversation_id"] is None:
        return identity, None
    return identity, {"id": row["conversation_id"], "status": row["status"],
                      "queue": row["queue"], "assignee_id": row["assignee_id"],
                      "assignee_presence": row["assignee_presence"]}


class ContactRecords(Records):
    async def identity(self, channel: str, address: str) -> Row | None:
        return await self._one(select(contact_identities).where(
            contact_identities.c.channel == channel, contact_identities.c.address == address))

    async def identity_and_open_conversation(self, channel: str, address: str
                                             ) -> tuple[Row | None, Row | None]:
        """The identity of (channel, address) and its latest unresolved conversation, in one
        round trip (the hot path of every inbound message)."""
        found = await self.identities_and_open_conversations([(channel, address)])
        return found.get((channel, address), (None, None))

    async def identities_and_open_conversations(
            self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[Row, Row | None]]:
        """The identities of many (channel, address) keys in one query, by key, each with its
        newest unresolved conversation or None."""
        by_channel: dict[str, list[str]] = {}
        for channel, address in keys:
            by_channel.setdefault(channel, []).append(address)
        if not by_channel:
            return {}
        i, c = contact_identities, conversations
        # Open conversations of one identity are few (usually one): join them all, keep the
        # newest. Both sides are found through their indexes. The assignee's presence comes
        # along: a resident writing to an agent who left means the conversation goes back to
        # its queue.
        rows = await self._all(
            select(i.c.id, i.c.contact_id, i.c.channel, i.c.address, i.c.reply_to,
                   contacts.c.name.label("contact_name"),
                   c.c.id.label("conversation_id"), c.c.status, c.c.queue, c.c.assignee_id,
                   users.c.presence.label("assignee_presence"))
            .select_from(i.join(contacts, contacts.c.id == i.c.contact_id)
                         .outerjoin(c, and_(c.c.identity_id == i.c.id,
                                            c.c.status != "resolved"))
                         .outerjoin(users, users.c.id == c.c.assignee_id))
            .where(or_(*(and_(i.c.channel == channel, self.one_of(i.c.address, addresses))
                         for channel, addresses in sorted(by_channel.items()))))
            .order_by(c.c.id))
        # Ordered by conversation, so the newest open one of each identity comes last.
        return {(row["channel"], row["address"]): _identity_and_conversation(row)
                for row in rows}

    async def create_many(self, rows: list[dict[str, Any]]) -> list[int]:
        now = utcnow()
        return await self._insert_many(contacts, [
            {"created_at": now, "updated_at": now, **row} for row in rows])

    async def create_identities(self, rows: list[dict[str, Any]]) -> list[int]:
        """Identities ({contact_id, channel, address, display_name} each) in one statement; a
        taken (channel, address) raises Duplicate for the whole batch."""
        now = utcnow()
        try:
            return await self._insert_many(contact_identities,
                                           [{"created_at": now, **row} for row in rows])
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def by_phones(self, phones: Iterable[str]) -> dict[str, Row]:
        """`by_phone` of many numbers: the oldest contact (not merged away) of each found."""
        found: dict[str, Row] = {}
        phones = sorted(set(phones))
        if not phones:
            return found
        for row in await self._all(select(contacts)
                                   .where(self.one_of(contacts.c.phone, phones),
                                          contacts.c.merged_into.is_(None))
                                   .order_by(contacts.c.id.desc())):
            found[row["phone"]] = row     # the oldest is the last written
        return found

    async def claiming_any(self, digests: Iterable[str]) -> dict[str, list[int]]:
        """`claiming` of many digests in one query: the contacts (not merged away) that typed
        each, by digest. Most digests of a batch are claimed by nobody."""
        digests = sorted(set(digests))
        claimed: dict[str, list[int]] = {}
        if not digests:
            return claimed
        k = contact_claims
        for digest, contact_id in await self.conn.execute(
                select(k.c.digest, k.c.contact_id)
                .join(contacts, contacts.c.id == k.c.contact_id)
                .where(self.one_of(k.c.digest, digests), contacts.c.merged_into.is_(None))
                .order_by(k.c.contact_id)):
            claimed.setdefault(digest, []).append(contact_id)
        return claimed

    async def identity_by_id(self, identity_id: int) -> Row | None:
        return await self._one(select(contact_identities)
                               .where(contact_identities.c.id == identity_id))

    async def create(self, **values: Any) -> int:
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

    async def by_phone(self, phone: str) -> Row | None:
        return await self._one(select(contacts).where(contacts.c.phone == phone,
                                                      contacts.c.merged_into.is_(None))
                               .order_by(contacts.c.id).limit(1))

    async def merge(self, into: int, other: int, *, decided_by: int | None = None
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
        survivor, absorbed = await self.get(into), await self.get(other)
        missing = {k: absorbed[k] for k in ("name", "phone", "email", "language")
                   if not survivor[k] and absorbed[k]}
        await self.update(other, merged_into=into)
        if missing:
            await self.update(into, **missing)
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

    async def add_claim(self, contact_id: int, kind: str, digest: str, masked: str,
                        conversation_id: int | None, at: datetime) -> None:
        """Keep a typed identifier's digest on the contact, once."""
        k = contact_claims
        if await self._one(select(k.c.id).where(k.c.contact_id == contact_id,
                                                k.c.digest == digest)) is None:
            await self._insert(k, {"contact_id": contact_id, "kind": kind, "digest": digest,
                                   "masked": masked, "conversation_id": conversation_id,
                                   "found_at": at})

    async def claims_of(self, contact_id: int) -> list[Row]:
        """The identifiers the contact typed, as kept (kind, masked, when), first first."""
        k = contact_claims
        return await self._all(select(k.c.kind, k.c.masked, k.c.found_at)
                               .where(k.c.contact_id == contact_id).order_by(k.c.id))

    async def add_claims(self, rows: list[dict[str, Any]]) -> None:
        """Claims none of whose (contact, digest) is kept yet, in one statement."""
        await self._insert_many(contact_claims, rows)

    async def vouched_any(self, column: str, values: Iterable[str]) -> dict[str, list[int]]:
        """`vouched` of many values: the contacts (not merged away) with each, by value."""
        values = sorted(set(values))
        found: dict[str, list[int]] = {}
        if not values:
            return found
        for value, contact_id in await self.conn.execute(
                select(contacts.c[column], contacts.c.id)
                .where(self.one_of(contacts.c[column], values), contacts.c.merged_into.is_(None))
                .order_by(contacts.c.id)):
            found.setdefault(value, []).append(contact_id)
        return found

    async def claiming(self, digest: str, other_than: int) -> list[int]:
        """Contacts (not merged away) that typed the identifier with this digest."""
        k = contact_claims
        rows = await self.conn.execute(
            select(k.c.contact_id).join(contacts, contacts.c.id == k.c.contact_id)
            .where(k.c.digest == digest, k.c.contact_id != other_than,
                   contacts.c.merged_into.is_(None)))
        return [r[0] for r in rows]

    async def vouched(self, column: str, value: str, other_than: int) -> list[int]:
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

    async def add_matches(self, candidates: list[tuple[int, int, str, str]],
                          at: datetime) -> list[int]:
        """`add_match` of many (contact, other, kind, masked) pairs in two statements: one
        look-up of the pairs already matched, one insert of the rest (each pair once, in
        whichever order it came). The new matches' ids."""
        m = contact_matches
        wanted: dict[tuple[int, int, str], dict[str, Any]] = {}
        for contact_id, other, kind, masked in candidates:
            wanted.setdefault((min(contact_id, other), max(contact_id, other), kind), {
                "contact_id": contact_id, "other_contact_id": other, "kind": kind,
                "masked": masked, "found_at": at, "status": "open"})
        if not wanted:
            return []
        ids = {contact_id for pair in wanted for contact_id in pair[:2]}
        for row in await self._all(select(m.c.contact_id, m.c.other_contact_id, m.c.kind)
                                   .where(self.one_of(m.c.contact_id, ids),
                                          self.one_of(m.c.other_contact_id, ids))):
            first, second = row["contact_id"], row["other_contact_id"]
            wanted.pop((min(first, second), max(first, second), row["kind"]), None)
        return await self._insert_many(m, list(wanted.values())) if wanted else []

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

    async def get(self, contact_id: int) -> Row | None:
        return await self._one(select(contacts).where(contacts.c.id == contact_id))

    async def update(self, contact_id: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        await self.conn.execute(update(contacts).where(contacts.c.id == contact_id)
                                .values(**values))

    async def name_if_unnamed(self, contact_id: int, name: str) -> bool:
        """Set the name of a contact that has none; False when it had one meanwhile."""
        result = await self.conn.execute(
            update(contacts).where(contacts.c.id == contact_id,
                                   or_(contacts.c.name.is_(None), contacts.c.name == ""))
            .values(name=name, updated_at=utcnow()))
        return result.rowcount > 0

    async def set_reply_to(self, identity_id: int, reply_to: dict[str, Any]) -> None:
        """Where the resident of this identity asked answers to go while away
        (`inbox.reply_to`)."""
        await self.conn.execute(update(contact_identities)
                                .where(contact_identities.c.id == identity_id)
                                .values(reply_to=reply_to))

    async def identities_of(self, contact_id: int) -> list[Row]:
        return await self._all(select(contact_identities)
                               .where(contact_identities.c.contact_id == contact_id)
                               .order_by(contact_identities.c.id))
