"""Senders this process has just stored a message of, into a conversation that was open then:
a hint, never a fact. A batch classifies the messages that will open conversations before its
write transaction (so SQLite's one writer is not held while the model runs), which costs a
read; a sender seen moments ago almost surely writes into the same conversation, so a batch of
such follow-ups (a web chat's stream of messages) skips that read. When the hint is wrong (the
conversation was resolved meanwhile), the transaction classifies the opener itself, as it does
for any it was not handed."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

Sender = tuple[str, str]   # (channel, address)

# Long enough to cover a resident typing, short enough that a resolved conversation's next
# message is rarely taken for a follow-up; bounded so a storm of new senders cannot grow it.
FRESH_S = 10.0
MAX_SENDERS = 20_000


class RecentSenders:
    def __init__(self, fresh_s: float = FRESH_S, max_senders: int = MAX_SENDERS) -> None:
        self.fresh_s, self.max_senders = fresh_s, max_senders
        self._seen: OrderedDict[Sender, float] = OrderedDict()

    def saw(self, senders: Iterable[Sender], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for sender in senders:
            self._seen[sender] = now
            self._seen.move_to_end(sender)
        while len(self._seen) > self.max_senders:
            self._seen.popitem(last=False)

    def fresh(self, sender: Sender, now: float | None = None) -> bool:
        seen = self._seen.get(sender)
        now = time.monotonic() if now is None else now
        return seen is not None and now - seen < self.fresh_s
