"""The audit trail of admin changes: appended in the change's own unit of work, read newest
first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from inbox.storage.records import Records, Row, utcnow
from inbox.storage.schema import audit_events


class AuditRecords(Records):
    async def record(self, actor_id: int | None, action: str, target_kind: str, target_id: Any,
                     details: dict[str, Any] | None = None) -> int:
        return await self._insert(audit_events, {
            "actor_id": actor_id, "action": action, "target_kind": target_kind,
            "target_id": str(target_id), "details": details or {}, "created_at": utcnow(),
        })

    async def record_many(self, actor_id: int | None, action: str, target_kind: str,
                          targets: list[tuple[Any, dict[str, Any]]]) -> None:
        """The same action on many targets ((target id, details) each), in one statement."""
        if targets:
            now = utcnow()
            await self._insert_many(audit_events, [
                {"actor_id": actor_id, "action": action, "target_kind": target_kind,
                 "target_id": str(target_id), "details": details, "created_at": now}
                for target_id, details in targets])

    async def recent(self, limit: int, before_id: int | None = None,
                     target_kind: str | None = None,
                     target_id: Any | None = None) -> list[Row]:
        """Newest first; `before_id` pages back from an earlier page's last id."""
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit_events.c.id < before_id)
        if target_kind is not None:
            query = query.where(audit_events.c.target_kind == target_kind)
        if target_id is not None:
            query = query.where(audit_events.c.target_id == str(target_id))
        return await self._all(query)
