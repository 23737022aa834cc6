"""Whether anyone can answer in the chat now: within business hours (`business_hours`) and
with an agent of the chat's queue online (`channels.webchat.queue`, else routing's default
queue). When not, the window says so before the resident writes and asks where the answer
should go (a phone or an e-mail address)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.port import ChannelPort
from routing.sla import BusinessCalendar


@dataclass(frozen=True)
class Availability:
    online: bool
    reason: str | None = None   # closed (outside business hours) | no_agent

    def view(self) -> dict[str, object]:
        return {"online": self.online, "reason": self.reason}


def decide(calendar: BusinessCalendar, now: datetime, agents_online: int) -> Availability:
    if not calendar.is_open(now):
        return Availability(False, "closed")
    if agents_online == 0:
        return Availability(False, "no_agent")
    return Availability(True)


def chat_queue(ctx: InboxContext) -> str:
    return ctx.config.channels.webchat.queue or ctx.config.routing.default_queue


async def availability(ctx: InboxContext) -> Availability:
    now = utcnow()
    if not ctx.calendar.is_open(now):   # no database read when closed anyway
        return Availability(False, "closed")
    return decide(ctx.calendar, now, await ChannelPort(ctx).agents_online(chat_queue(ctx)))
