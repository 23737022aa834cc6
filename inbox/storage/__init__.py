"""Storage: the only package that speaks SQL. Everything else asks it in domain terms.

`Store.transaction()` yields a `UnitOfWork` whose parts, one per kind of record
(`messages`, `conversations`, `contacts`, `events`, `users`, `journal`), run inside one
database transaction, so a caller can compose several steps (dedupe, contact, conversation,
message, event) and have them commit or vanish together.
"""

from inbox.storage.conversations import ConversationFilter
from inbox.storage.records import DELIVERY_ORDER, Duplicate, Row, utcnow
from inbox.storage.unit import Store, UnitOfWork

__all__ = ["DELIVERY_ORDER", "ConversationFilter", "Duplicate", "Row", "Store", "UnitOfWork",
           "utcnow"]
