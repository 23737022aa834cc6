"""Where an answer goes when the resident is not there to read it on the channel they wrote
from: the phone number or e-mail address they typed in the web chat's offline form.

Typed, so vouched for by nobody (README, "One resident, one contact"): it is kept on the
identity it was given on (`contact_identities.reply_to`), in clear only because the answer
must be sent there, and, as any typed identifier, becomes a claim that raises possible
matches (`inbox.matching`). It never joins contacts and never becomes the contact's own
phone or e-mail. Pure functions; ingest stores, the web chat's send reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.messages import ReplyTo
from routing.entities import Entity, find_entities

# The channels an answer can take instead of the chat, in the order they are preferred: a
# text reaches a phone within seconds and needs no mail program.
ROUTES = (("phone", "sms"), ("email", "email"))


@dataclass(frozen=True)
class Route:
    channel: str   # a registered channel: sms | email
    address: str   # E.164 number, or the e-mail address


def entities(reply_to: ReplyTo) -> tuple[Entity, ...]:
    """What the resident typed, as normalised identifiers (E.164, a lower-case address):
    only what could be delivered to; a phone the number parser does not read is left out."""
    found: list[Entity] = []
    for kind, value in (("phone", reply_to.phone), ("email", reply_to.email)):
        if value:
            found += [e for e in find_entities(value) if e.kind == kind][:1]
    return tuple(found)


def stored(reply_to: ReplyTo, at: datetime) -> dict[str, Any] | None:
    """As kept on the identity: the latest the resident gave replaces what they gave before
    (their latest wish), None when nothing in it can be delivered to."""
    values = {e.kind: e.value for e in entities(reply_to)}
    return {**values, "given_at": at.isoformat()} if values else None


def same(kept: Mapping[str, Any], earlier: Mapping[str, Any] | None) -> bool:
    """Whether two kept addresses are the same, whenever each was given."""
    return all(kept.get(kind) == (earlier or {}).get(kind) for kind, _ in ROUTES)


def route(kept: Mapping[str, Any] | None, available: frozenset[str]) -> Route | None:
    """Where an answer goes instead of the chat: the first of ROUTES the resident gave an
    address for and the deployment can send on (`available` channels); None when none."""
    for kind, channel in ROUTES:
        address = (kept or {}).get(kind)
        if address and channel in available:
            return Route(channel, address)
    return None
