"""Customer satisfaction (CSAT) from the surveys residents answered after an agent resolved
their conversation (`inbox.surveys`).

Definitions, per group, over the surveys sent in [start, end):
- `surveys`: questions sent; `answered`: those answered within their expiry;
- `response_rate`: answered / surveys;
- `average`: the mean score (1-5) of the answers;
- `csat`: the share of answers that are 4 or 5 ("satisfied"), the industry's usual CSAT.
Queue, agent, channel and category are the survey's own, recorded when it was sent (who
resolved it, where the conversation stood); a tag groups by the tags the conversation
carries now, one survey under each of its tags, as the summary's tag grouping does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.storage.schema import conversations, surveys

GROUPS = {"queue": "queue", "agent": "agent_id", "channel": "channel", "category": "category",
          "tag": None}
SATISFIED = 4   # scores from here up count as satisfied


def csat_rows(answers: Iterable[tuple[Sequence[Any], int | None]]) -> list[dict[str, Any]]:
    """CSAT rows from (keys, score or None) per survey, one row per key, sorted by key (a
    survey without a key under None)."""
    groups: dict[Any, list[int | None]] = {}
    for keys, score in answers:
        for key in keys or (None,):
            groups.setdefault(key, []).append(score)
    rows = []
    for key in sorted(groups, key=lambda k: (k is None, str(k))):
        scores = groups[key]
        given = [s for s in scores if s is not None]
        rows.append({
            "key": key, "surveys": len(scores), "answered": len(given),
            "response_rate": round(len(given) / len(scores), 4),
            "average": round(sum(given) / len(given), 2) if given else None,
            "csat": round(sum(1 for s in given if s >= SATISFIED) / len(given), 4)
            if given else None,
        })
    return rows


async def csat(engine: AsyncEngine, *, start: datetime, end: datetime,
               group_by: str) -> list[dict[str, Any]]:
    """CSAT per queue, agent, channel, category or tag (ValueError for anything else)."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    column = GROUPS[group_by]
    async with engine.connect() as conn:
        result = await conn.execute(
            select(surveys, conversations.c.tags.label("conversation_tags"))
            .join(conversations, conversations.c.id == surveys.c.conversation_id)
            .where(surveys.c.sent_at >= start, surveys.c.sent_at < end))
        rows = [row._mapping for row in result]
    if column is None:
        return csat_rows((tuple(row["conversation_tags"] or ()), row["score"]) for row in rows)
    return csat_rows(((row[column],) if row[column] is not None else (), row["score"])
                     for row in rows)
