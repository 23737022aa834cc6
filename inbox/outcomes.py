"""An operator records how a registration or support case ended: approved, rejected (with
the reason), documents ready for pickup at a DOST centre, or more information needed.

Recording writes the outcome and its `outcome_recorded` event in one transaction; telling
the resident is the notifications consumer's work (`inbox.notifications`), which reads the
event, so the API answers at once and a worker restart sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from inbox.actions import ActionError, Actor, _conversation
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.lifecycle import announce
from inbox.storage import Row, UnitOfWork, utcnow
from settings.model import OUTCOME_KINDS

# Outcomes belong to cases: a bare inquiry has nothing to approve or reject.
CASE_CATEGORIES = ("registration", "support")
MAX_REASON_CHARS = 1000


def checked(ctx: InboxContext, body: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(kind, reason, centre) of a request, or ActionError naming what is wrong."""
    kind = body.get("kind")
    if kind not in OUTCOME_KINDS:
        raise ActionError(f"kind must be one of {', '.join(OUTCOME_KINDS)}", 400,
                          code="outcome_kind_unknown")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ActionError("reason must be text", 400, code="outcome_reason_required")
    reason = " ".join((reason or "").split()) or None
    if kind == "rejected" and reason is None:
        raise ActionError("a rejection needs its reason", 400, code="outcome_reason_required")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise ActionError(f"reason must be at most {MAX_REASON_CHARS} characters", 400,
                          code="outcome_reason_too_long", max=MAX_REASON_CHARS)
    centre = body.get("centre")
    if kind == "pickup":
        if not isinstance(centre, str) or ctx.config.dost_centre(centre) is None:
            raise ActionError("centre must be one of the configured DOST centres", 400,
                              code="outcome_centre_unknown")
    elif centre is not None:
        raise ActionError("only a pickup names a centre", 400, code="outcome_centre_unknown")
    return kind, (reason if kind in ("rejected", "more_info") else None), centre


async def record(ctx: InboxContext, actor: Actor, conversation_id: int,
                 body: dict[str, Any]) -> int:
    """Record the outcome of the case in this conversation; its id. The resident is told by
    the notifications consumer."""
    kind, reason, centre = checked(ctx, body)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        if conversation["category"] not in CASE_CATEGORIES:
            raise ActionError("only a registration or support case has an outcome", 409,
                              code="outcome_not_a_case")
        outcome_id = await tx.outcomes.add(conversation_id=conversation_id, kind=kind,
                                           reason=reason, centre=centre, actor_id=actor.id,
                                           created_at=now)
        await tx.events.add(conversation_id, EventType.OUTCOME_RECORDED,
                            {"outcome_id": outcome_id, "kind": kind}, actor_id=actor.id,
                            at=now)
    await announce(ctx, conversation_id)
    return outcome_id


async def of_conversation(tx: UnitOfWork, conversation_id: int, zone) -> list[dict[str, Any]]:
    """The conversation's outcomes, newest last, each with its notification attempts and
    their delivery state: what the operator sees on the case."""
    rows = await tx.outcomes.of_conversation(conversation_id)
    attempts = await tx.outcomes.attempts([row["id"] for row in rows])
    return [view(row, [a for a in attempts if a["outcome_id"] == row["id"]], zone)
            for row in rows]


def notification_state(attempts: list[Row]) -> str:
    """One word for the operator: pending (nothing tried yet, or the latest on its way),
    delivered, failed (every channel tried failed), or sending."""
    if not attempts:
        return "pending"
    latest = attempts[-1]
    status = latest["delivery_status"]
    if status in ("delivered", "read"):
        return "delivered"
    if status is None or status == "failed":
        return "failed"
    return "sent" if status == "sent" else "pending"


def view(row: Row, attempts: list[Row], zone) -> dict[str, Any]:
    return {
        "id": row["id"], "kind": row["kind"], "reason": row["reason"], "centre": row["centre"],
        "actor_id": row["actor_id"], "created_at": row["created_at"].astimezone(zone).isoformat(),
        "notification": notification_state(attempts),
        "attempts": [{
            "attempt": a["attempt"], "channel": a["channel"], "message_id": a["message_id"],
            "delivery_status": a["delivery_status"],
            "error": a["error"] or a["delivery_error"],
            "created_at": a["created_at"].astimezone(zone).isoformat()} for a in attempts],
    }
