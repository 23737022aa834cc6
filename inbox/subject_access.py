"""What the contact centre holds about a resident, as one document: for an admin answering
the resident's request to see their personal data (the counterpart of `inbox.erasure`).

It holds the contact (name, numbers, language, identities and where they asked answers to
go), the identifiers they typed as kept (masked: the clear values are not held), and each
conversation with the messages exchanged with them, outcomes and survey answers. Staff's
internal notes and whispers are the centre's own records and stay out. Each export is in
the audit trail, with its counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inbox.actions import unmerged_contact
from inbox.context import InboxContext
from inbox.serialize import iso, message_view
from inbox.storage.records import utcnow

# The message view's keys a resident's copy leaves out: the console's own (who sent it by
# which staff account id, a whisper's mark).
_STAFF_ONLY = ("author", "whisper", "sent_by", "conversation_id")


async def export_contact(ctx: InboxContext, contact_id: int, actor_id: int,
                         now: datetime | None = None, form: str = "json") -> dict[str, Any]:
    """The resident's document; ActionError 404 for no such contact, 409 for one merged
    into another (export that one). `form` is what the admin takes it as (JSON, a printed
    page), for the audit trail."""
    now = now or utcnow()
    zone = ctx.zone
    async with ctx.store.transaction() as tx:
        contact = await unmerged_contact(tx, contact_id, "export")
        identities = await tx.contacts.identities_of(contact_id)
        claims = await tx.contacts.claims_of(contact_id)
        conversations = []
        messages = 0
        for conversation in reversed(await tx.conversations.of_contact(contact_id)):
            rows = await tx.messages.of_conversation(conversation["id"], include_notes=False)
            messages += len(rows)
            conversations.append({
                "id": conversation["id"], "channel": conversation["channel"],
                "status": conversation["status"], "category": conversation["category"],
                "language": conversation["language"], "queue": conversation["queue"],
                "created_at": iso(conversation["created_at"], zone),
                "resolved_at": iso(conversation["resolved_at"], zone),
                "messages": [_resident_copy(message_view(row, zone)) for row in rows],
                "outcomes": [{"kind": o["kind"], "reason": o["reason"], "centre": o["centre"],
                              "created_at": iso(o["created_at"], zone)}
                             for o in await tx.outcomes.of_conversation(conversation["id"])],
                "surveys": [{"score": s["score"], "comment": s["comment"],
                             "answered_at": iso(s["answered_at"], zone)}
                            for s in await tx.surveys.of_conversation(conversation["id"])
                            if s["answered_at"] is not None],
            })
        await tx.audit.record(actor_id, "contact.exported", "contact", contact_id,
                              {"conversations": len(conversations), "messages": messages,
                               "format": form})
    return {
        "exported_at": iso(now, zone),
        "contact": {
            "id": contact["id"], "name": contact["name"], "phone": contact["phone"],
            "email": contact["email"], "language": contact["language"],
            "preferred_channel": contact["preferred_channel"],
            "created_at": iso(contact["created_at"], zone),
            "erased_at": iso(contact["erased_at"], zone),
            "identities": [{"channel": i["channel"], "address": i["address"],
                            "display_name": i["display_name"], "reply_to": i["reply_to"],
                            "created_at": iso(i["created_at"], zone)} for i in identities],
        },
        "typed_identifiers": [{"kind": c["kind"], "value": c["masked"],
                               "found_at": iso(c["found_at"], zone)} for c in claims],
        "conversations": conversations,
    }


def _resident_copy(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key not in _STAFF_ONLY}
