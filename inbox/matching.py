"""Which identifiers may join a resident's contacts, and possible matches for the rest.

A contact is joined automatically only on what a provider vouches for: the number a carrier
delivered (SMS, WhatsApp, a call), and an identity's own (channel, address). Anything a
resident typed (a FIN, an ID card number, a phone number, an e-mail address) could be anyone's:
a web-chat visitor typing another resident's FIN must not be shown that resident's history.
A typed identifier is kept as a claim (a keyed digest and a masked form, never in clear), and
when another contact typed the same one, or was vouched for it, the two become a possible
match that agents see on both contacts and may confirm (a merge) or dismiss.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from inbox.channel_traits import ChannelTraits
from inbox.storage import UnitOfWork
from routing.entities import Entity, find_entities

# Typed entities that could identify a resident, kept as claims.
CLAIMED_KINDS = frozenset({"fin", "id_card", "phone", "email"})

# Longer is no FIN, number or deliverable address (RFC 5321 caps an address at 254).
_MAX_IDENTIFIER = 254

# Possible matches one typed identifier raises at most (`_nearest`).
MAX_MATCHES_PER_IDENTIFIER = 10

# Kinds a contact may hold as vouched for, in the contact's own column.
_VOUCHED_COLUMNS = {"phone": "phone", "email": "email"}


def vouched_phone(channel: ChannelTraits, phone: str | None) -> str | None:
    """The number a contact may be joined on, if the channel's carrier delivered it
    (`ChannelTraits.vouches_phone`)."""
    return phone if channel.vouches_phone else None


def digest(key: bytes, kind: str, value: str) -> str:
    """The keyed digest an identifier is found by; `value` as `find_entities` normalised it."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def sender_digest(key: bytes, address: str) -> str:
    """The keyed digest a mail's sender is found by where only that is kept (a dead letter)."""
    return digest(key, "mail-sender", address.strip().lower())


def search_digests(key: bytes, text: str) -> tuple[str, ...]:
    """Digests of the identifiers in an agent's search text, to find who typed them."""
    return tuple(digest(key, e.kind, e.value) for e in find_entities(text)
                 if e.kind in CLAIMED_KINDS)


def residents_own(entities: Iterable[Entity], service: frozenset[tuple[str, str]]
                  ) -> tuple[Entity, ...]:
    """The identifiers of `entities` that may be the resident's: not the service's own
    (`InboxContext.service_identifiers`)."""
    return tuple(e for e in entities if (e.kind, e.value) not in service)


async def record_claims(tx: UnitOfWork, key: bytes, contact_id: int, conversation_id: int,
                        entities: Iterable[Entity], at: datetime) -> list[int]:
    """Keep what the resident typed as claims of `contact_id`, and raise a possible match with
    each other contact that typed the same identifier or was vouched for it. Returns the new
    matches' ids."""
    found = []
    for entity in entities:
        if entity.kind not in CLAIMED_KINDS or len(entity.value) > _MAX_IDENTIFIER:
            continue
        entity_digest = digest(key, entity.kind, entity.value)
        masked = entity.masked()
        await tx.contacts.add_claim(contact_id, entity.kind, entity_digest, masked,
                                    conversation_id, at)
        others = set(await tx.contacts.claiming(entity_digest, other_than=contact_id))
        column = _VOUCHED_COLUMNS.get(entity.kind)
        if column:
            others |= set(await tx.contacts.vouched(column, entity.value,
                                                    other_than=contact_id))
        for other in _nearest(others):
            if match_id := await tx.contacts.add_match(contact_id, other, entity.kind, masked, at):
                found.append(match_id)
    return found


async def record_claims_many(
        tx: UnitOfWork, key: bytes,
        typed: Iterable[tuple[int, int, Iterable[Entity]]], at: datetime) -> list[int]:
    """`record_claims` of a batch ((contact id, conversation id, entities) each) in a few
    statements whatever its size: one look-up of who claimed or was vouched for each
    identifier, one insert of the new claims. Returns the new matches' ids."""
    claims: dict[tuple[int, str], tuple[Entity, int]] = {}
    for contact_id, conversation_id, entities in typed:
        for entity in entities:
            if entity.kind in CLAIMED_KINDS and len(entity.value) <= _MAX_IDENTIFIER:
                claims.setdefault((contact_id, digest(key, entity.kind, entity.value)),
                                  (entity, conversation_id))
    if not claims:
        return []
    claimers = await tx.contacts.claiming_any({d for _, d in claims})
    vouched: dict[tuple[str, str], list[int]] = {}
    for kind, column in _VOUCHED_COLUMNS.items():
        values = {e.value for e, _ in claims.values() if e.kind == kind}
        for value, contact_ids in (await tx.contacts.vouched_any(column, values)).items():
            vouched[(kind, value)] = contact_ids
    await tx.contacts.add_claims([
        {"contact_id": contact_id, "kind": entity.kind, "digest": claim_digest,
         "masked": entity.masked(), "conversation_id": conversation_id, "found_at": at}
        for (contact_id, claim_digest), (entity, conversation_id) in claims.items()
        if contact_id not in claimers.get(claim_digest, ())])
    in_batch: dict[str, set[int]] = {}   # contacts of this batch that typed each identifier
    for contact_id, claim_digest in claims:
        in_batch.setdefault(claim_digest, set()).add(contact_id)
    candidates = []
    for (contact_id, claim_digest), (entity, _) in claims.items():
        others = set(claimers.get(claim_digest, ())) | in_batch[claim_digest] \
            | set(vouched.get((entity.kind, entity.value), ()))
        others.discard(contact_id)
        candidates += [(contact_id, other, entity.kind, entity.masked())
                       for other in _nearest(others)]
    return await tx.contacts.add_matches(candidates, at)


async def match_vouched_phone(tx: UnitOfWork, key: bytes, contact_id: int, phone: str,
                              at: datetime) -> list[int]:
    """A contact a carrier just vouched `phone` for: contacts that typed that number may be
    the same resident."""
    return await match_vouched_phones(tx, key, {phone: contact_id}, at)


async def match_vouched_phones(tx: UnitOfWork, key: bytes, contacts: dict[str, int],
                               at: datetime) -> list[int]:
    """`match_vouched_phone` for many new contacts ({phone: contact id}) in one look-up:
    most numbers were typed by nobody."""
    digests = {digest(key, "phone", phone): phone for phone in contacts}
    found = []
    for phone_digest, others in (await tx.contacts.claiming_any(digests)).items():
        phone = digests[phone_digest]
        contact_id = contacts[phone]
        masked = Entity("phone", phone, 0, len(phone)).masked()
        for other in _nearest([o for o in others if o != contact_id]):
            if match_id := await tx.contacts.add_match(other, contact_id, "phone", masked, at):
                found.append(match_id)
    return found


def _nearest(others: Iterable[int]) -> list[int]:
    """The contacts one identifier raises possible matches with: the latest
    `MAX_MATCHES_PER_IDENTIFIER`. An identifier that many residents typed (an example FIN on
    a poster, an office's number) identifies nobody, and matching each new contact with
    every earlier one would grow without bound."""
    return sorted(others)[-MAX_MATCHES_PER_IDENTIFIER:]
