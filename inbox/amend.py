"""What a channel learns of a resident after their message was stored: they edited it, or
their provider vouched for their phone number (a Telegram contact shared of themselves).

Both are idempotent, so a provider's re-delivery changes nothing the second time: an edit
whose text is already stored records no second event, a phone already on the contact joins
nothing again.
"""

from __future__ import annotations

from datetime import datetime

from inbox import matching
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.lifecycle import announce
from inbox.storage import utcnow
from routing.entities import Entity


async def edit_message(ctx: InboxContext, channel: str, external_id: str, text: str,
                       edited_at: datetime) -> bool:
    """The resident edited their stored message: its text becomes `text`, and an event
    keeps what it said before. False when no such message is stored or it already says so."""
    async with ctx.store.transaction() as tx:
        row = await tx.messages.by_external_id(channel, external_id)
        if row is None or row["direction"] != "in" or row["body"] == text:
            return False
        await tx.messages.update(row["id"], body=text)
        await tx.events.add(row["conversation_id"], EventType.MESSAGE_EDITED,
                            {"message_id": row["id"], "previous": row["body"],
                             "edited_at": edited_at.isoformat()}, at=utcnow())
    await announce(ctx, row["conversation_id"])
    return True


async def vouch_phone(ctx: InboxContext, channel: str, address: str, phone: str) -> str:
    """The provider vouched that the resident at `address` holds `phone`: their contact
    becomes the one that phone already belongs to (the resident's SMS, WhatsApp and calls),
    or takes the phone when no contact has it. A contact with another phone of its own is
    only offered to agents as a possible match. Returns what happened: "joined", "phone set",
    "possible match", "already" or "unknown" (no identity at that address)."""
    now = utcnow()
    async with ctx.store.transaction() as tx:
        identity = await tx.contacts.identity(channel, address)
        if identity is None:
            return "unknown"
        mine = await tx.contacts.get(identity["contact_id"])
        if mine["merged_into"] is not None:
            mine = await tx.contacts.get(mine["merged_into"])
        owner = await tx.contacts.by_phone(phone)
        if owner is not None and owner["id"] == mine["id"]:
            return "already"
        if owner is None:
            if mine["phone"]:
                return "already"
            await tx.contacts.update(mine["id"], phone=phone)
            await matching.match_vouched_phone(tx, ctx.claim_key, mine["id"], phone, now)
            return "phone set"
        if mine["phone"]:
            masked = Entity("phone", phone, 0, len(phone)).masked()
            await tx.contacts.add_match(mine["id"], owner["id"], "phone", masked, now)
            return "possible match"
        await tx.contacts.merge(owner["id"], mine["id"])
        joined = [c["id"] for c in await tx.conversations.of_contact(owner["id"])]
        for conversation_id in joined:
            await tx.events.add(conversation_id, EventType.CONTACTS_MERGED,
                                {"from": mine["id"], "into": owner["id"],
                                 "by": f"the phone number {channel} vouched for"}, at=now)
    for conversation_id in joined:
        await announce(ctx, conversation_id)
    return "joined"
