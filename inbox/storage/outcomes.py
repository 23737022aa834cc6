"""Cases' outcomes and each attempt to notify the resident; satisfaction surveys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from inbox.storage.records import Duplicate, Records, Row
from inbox.storage.schema import messages, notification_attempts, outcomes, surveys


class OutcomeRecords(Records):
    async def add(self, **values: Any) -> int:
        return await self._insert(outcomes, values)

    async def get(self, outcome_id: int) -> Row | None:
        return await self._one(select(outcomes).where(outcomes.c.id == outcome_id))

    async def of_conversation(self, conversation_id: int) -> list[Row]:
        return await self._all(select(outcomes)
                               .where(outcomes.c.conversation_id == conversation_id)
                               .order_by(outcomes.c.id))

    async def attempt(self, outcome_id: int, attempt: int) -> Row | None:
        return await self._one(select(notification_attempts).where(
            notification_attempts.c.outcome_id == outcome_id,
            notification_attempts.c.attempt == attempt))

    async def add_attempt(self, **values: Any) -> int:
        """Record an attempt. A second one with the same (outcome, attempt) raises
        Duplicate: two runs of the consumer racing, of which one rolls back."""
        try:
            return await self._insert(notification_attempts, values)
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def set_attempt_message(self, attempt_id: int, message_id: int) -> None:
        await self.conn.execute(update(notification_attempts)
                                .where(notification_attempts.c.id == attempt_id)
                                .values(message_id=message_id))

    async def attempt_of_message(self, message_id: int) -> Row | None:
        return await self._one(select(notification_attempts)
                               .where(notification_attempts.c.message_id == message_id))

    async def attempts(self, outcome_ids: list[int]) -> list[Row]:
        """The attempts of these outcomes, with their message's delivery state."""
        if not outcome_ids:
            return []
        return await self._all(
            select(notification_attempts, messages.c.delivery_status,
                   messages.c.delivery_error)
            .outerjoin(messages, messages.c.id == notification_attempts.c.message_id)
            .where(self.one_of(notification_attempts.c.outcome_id, outcome_ids))
            .order_by(notification_attempts.c.outcome_id, notification_attempts.c.attempt))


class SurveyRecords(Records):
    async def of_resolution(self, event_id: int) -> Row | None:
        return await self._one(select(surveys).where(surveys.c.resolution_event_id == event_id))

    async def add(self, **values: Any) -> int:
        """Record a survey. A second one for the same resolution raises Duplicate."""
        try:
            return await self._insert(surveys, values)
        except IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc

    async def set_message(self, survey_id: int, message_id: int) -> None:
        await self.conn.execute(update(surveys).where(surveys.c.id == survey_id)
                                .values(message_id=message_id))

    async def open_for(self, conversation_id: int, at: datetime) -> Row | None:
        """The conversation's latest survey still waiting for its answer at `at`."""
        return await self._one(
            select(surveys).where(surveys.c.conversation_id == conversation_id,
                                  surveys.c.answered_at.is_(None),
                                  surveys.c.expires_at > at)
            .order_by(surveys.c.id.desc()).limit(1))

    async def answer(self, survey_id: int, score: int, comment: str | None,
                     at: datetime) -> bool:
        result = await self.conn.execute(
            update(surveys).where(surveys.c.id == survey_id, surveys.c.answered_at.is_(None))
            .values(score=score, comment=comment, answered_at=at))
        return result.rowcount == 1

    async def of_conversation(self, conversation_id: int) -> list[Row]:
        return await self._all(select(surveys).where(surveys.c.conversation_id
                                                     == conversation_id)
                               .order_by(surveys.c.id))
