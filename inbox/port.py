"""The inbox as a channel sees it: the one interface `channels/` use to store and read.

A channel takes a resident's message in (`ingest`), shows a resident their conversation
(`history`), records what its provider says about an outbound message (the id it gave each
part, a delivery status) and keeps the media it fetched. Everything here is said in domain
terms; the store's transactions and records stay behind it, so no channel opens one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from inbox import amend, matching, outbox, provider_erasures, surveys
from inbox.clock import utcnow
from inbox.context import InboxContext
from inbox.guided_intake import dialogue as guided
from inbox.ingest import IngestResult, ingest, ingest_many
from inbox.kept_mail import NAMING_KEYS
from inbox.messages import InboundMessage, OutboundMessage
from inbox.storage import Row


class ChannelPort:
    def __init__(self, ctx: InboxContext):
        self._ctx = ctx

    # --- inbound ---------------------------------------------------------------------------

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Store a resident's message once, routed, and announce it (`inbox.ingest`); in
        the app, in the intake drainer's next batch."""
        if self._ctx.take_in is not None:
            return await self._ctx.take_in(message)
        return await ingest(self._ctx, message)

    async def ingest_many(self, messages: Sequence[InboundMessage]
                          ) -> list[IngestResult | Exception]:
        """Store many messages a channel fetched itself (a mailbox's poll) in few
        transactions, each once, a resident's in order; each one's result, or the exception
        that kept that one out while the others went in (`inbox.ingest.ingest_many`)."""
        return await ingest_many(self._ctx, messages)

    def taking_in_a_backlog(self) -> AbstractAsyncContextManager[None]:
        """Wrap a backlog's `ingest_many` calls (a mailbox's first poll): the database's
        upkeep a young installation needs meanwhile (`Store.keeping_statistics`)."""
        return self._ctx.store.keeping_statistics()

    async def forget_at_providers(self, forget: provider_erasures.Forget,
                                  now: datetime | None = None) -> tuple[int, int]:
        """Delete at the providers, with `forget`, what they keep of erased residents'
        messages and is due; (deleted, failed) (`inbox.provider_erasures`)."""
        return await provider_erasures.forget_due(self._ctx, forget, now)

    async def edit_message(self, channel: str, external_id: str, text: str,
                           edited_at: datetime) -> bool:
        """The resident edited a message they sent: its text is replaced and an event keeps
        the earlier one; False when it is not stored or already says so (`inbox.amend`)."""
        return await amend.edit_message(self._ctx, channel, external_id, text, edited_at)

    async def vouch_phone(self, channel: str, address: str, phone: str) -> str:
        """The provider vouched that the resident at `address` holds `phone` (a contact they
        shared of themselves): their contact joins the one with that phone (`inbox.amend`)."""
        return await amend.vouch_phone(self._ctx, channel, address, phone)

    async def stored_message_id(self, channel: str, external_id: str) -> int | None:
        """The id of the message stored under the provider's id, if it is stored."""
        async with self._ctx.store.read() as tx:
            row = await tx.messages.by_external_id(channel, external_id)
        return None if row is None else row["id"]

    async def has_open_conversation(self, channel: str, address: str) -> bool:
        """Whether the resident at `address` has a conversation a new message would join."""
        async with self._ctx.store.read() as tx:
            _, conversation = await tx.contacts.identity_and_open_conversation(channel, address)
        return conversation is not None

    async def history(self, channel: str, address: str) -> list[Row]:
        """The messages the resident at `address` may see of their latest conversation,
        resolved or not (notes left out), oldest first; none for an unknown address."""
        async with self._ctx.store.read() as tx:
            identity = await tx.contacts.identity(channel, address)
            conversation = await tx.conversations.latest_of_identity(identity["id"]) \
                if identity else None
            return await tx.messages.of_conversation(conversation["id"], include_notes=False) \
                if conversation else []

    async def history_after(self, channel: str, address: str, after: int) -> list[Row]:
        """The messages the resident at `address` may see whose id is above `after`, in
        whichever of their conversations, oldest first: a window resuming from the last
        message it showed."""
        async with self._ctx.store.read() as tx:
            identity = await tx.contacts.identity(channel, address)
            return await tx.messages.of_identity_after(identity["id"], after) \
                if identity else []

    async def open_questions(self, channel: str, address: str) -> frozenset[int]:
        """The ids of the messages whose offered answers (`choices`) the resident at
        `address` may still pick: the satisfaction question while its survey waits for a
        rating, the guided intake's question while the bot waits for its answer. A window
        replaying its history shows those as buttons again, no other."""
        async with self._ctx.store.read() as tx:
            identity = await tx.contacts.identity(channel, address)
            if identity is None:
                return frozenset()
            latest = await tx.conversations.latest_of_identity(identity["id"])
            found = (await surveys.open_question(tx, latest, utcnow()),
                     await guided.open_question(tx, latest))
        return frozenset(message_id for message_id in found if message_id is not None)

    async def latest_conversation(self, channel: str, address: str) -> Row | None:
        """The latest conversation of the resident at `address`, resolved or not."""
        async with self._ctx.store.read() as tx:
            identity = await tx.contacts.identity(channel, address)
            return await tx.conversations.latest_of_identity(identity["id"]) \
                if identity else None

    async def agents_online(self, queue: str) -> int:
        """How many agents of `queue` are online now."""
        async with self._ctx.store.read() as tx:
            return (await tx.users.online_by_queue()).get(queue, 0)

    async def message(self, message_id: int) -> Row | None:
        async with self._ctx.store.read() as tx:
            return await tx.messages.get(message_id)

    async def conversation_messages(self, conversation_id: int) -> tuple[Row | None, list[Row]]:
        """A conversation and its messages (notes left out), oldest first: what a channel
        that threads its replies (e-mail's In-Reply-To and References) answers from."""
        async with self._ctx.store.read() as tx:
            conversation = await tx.conversations.get(conversation_id)
            if conversation is None:
                return None, []
            return conversation, await tx.messages.of_conversation(conversation_id,
                                                                   include_notes=False)

    async def reply_to_of(self, channel: str, address: str) -> dict[str, Any] | None:
        """Where the resident at `address` asked answers to go while away, if anywhere."""
        async with self._ctx.store.read() as tx:
            identity = await tx.contacts.identity(channel, address)
        return (identity or {}).get("reply_to")

    async def reply_to(self, conversation_id: int) -> tuple[Row | None, dict[str, Any] | None]:
        """A conversation, and where its resident asked answers to go while away
        (`inbox.reply_to`; None when they gave nothing)."""
        async with self._ctx.store.read() as tx:
            conversation = await tx.conversations.get(conversation_id)
            identity = await tx.contacts.identity_by_id(conversation["identity_id"]) \
                if conversation else None
        return conversation, (identity or {}).get("reply_to")

    async def keep_attachments(self, message_id: int, attachments: list[dict[str, Any]]) -> None:
        """Store a message's attachments as the media job left them (fetched, or refused
        with a reason)."""
        async with self._ctx.store.transaction() as tx:
            await tx.messages.update(message_id, attachments=attachments)

    # --- reading mailboxes (the e-mail channel's poll) -------------------------------------

    async def mail_cursor(self, mailbox: str, folder: str) -> Row | None:
        """How far a mailbox's folder was read: {uidvalidity, last_uid}; None at first."""
        async with self._ctx.store.read() as tx:
            return await tx.mail.cursor(mailbox, folder)

    async def advance_mail_cursor(self, mailbox: str, folder: str, uidvalidity: int,
                                  last_uid: int, read: Sequence[str] = ()) -> None:
        """The folder is read up to `last_uid`; the failed attempts counted against the
        mails `read` (raw hashes) now stored are forgotten."""
        async with self._ctx.store.transaction() as tx:
            await tx.mail.forget_attempts(mailbox, read)
            await tx.mail.set_cursor(mailbox, folder, uidvalidity, last_uid)

    async def count_mail_failure(self, mailbox: str, digest: str, error: str) -> int:
        """One more failed attempt at the mail with raw hash `digest`; how many so far."""
        async with self._ctx.store.transaction() as tx:
            return await tx.mail.count_attempt(mailbox, digest, error)

    async def bury_mail(self, mailbox: str, folder: str, uid: int, digest: str, raw: bytes,
                        error: str, attempts: int, sender: str | None = None) -> int:
        """Keep a mail that cannot be taken in as a dead letter, found by its `sender`'s
        digest when a resident who sent it is erased; its id."""
        found_by = matching.sender_digest(self._ctx.claim_key, sender) if sender else None
        async with self._ctx.store.transaction() as tx:
            return await tx.mail.bury(mailbox, folder, uid, digest, raw, error, attempts,
                                      found_by)

    async def buried_mails(self, mailbox: str, digests: Sequence[str]) -> set[str]:
        """Which of these mails (raw hashes) are dead letters already."""
        async with self._ctx.store.read() as tx:
            return await tx.mail.buried_digests(mailbox, digests)

    async def stored_messages(self, channel: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these provider ids are messages stored already."""
        async with self._ctx.store.read() as tx:
            found = await tx.messages.stored_external_ids(
                (channel, external_id) for external_id in external_ids)
        return {external_id for _channel, external_id in found}

    async def kept_mail_named(self, channel: str, kept: Sequence[str],
                              since: datetime) -> set[str]:
        """Which of the `kept` raw-mail files (paths under the media directory) a message of
        `channel` created since `since` names (`inbox.kept_mail`)."""
        async with self._ctx.store.read() as tx:
            found: set[str] = set()
            for key in NAMING_KEYS:
                found |= await tx.messages.kept_mail_named(channel, key, kept, since)
        return found

    async def dead_letters(self, limit: int = 200) -> list[Row]:
        async with self._ctx.store.read() as tx:
            return await tx.mail.dead_letters(limit)

    async def dead_letter(self, letter_id: int) -> Row | None:
        async with self._ctx.store.read() as tx:
            return await tx.mail.dead_letter(letter_id)

    async def dead_letter_failed_again(self, letter_id: int, error: str) -> None:
        async with self._ctx.store.transaction() as tx:
            await tx.mail.note_replay_failure(letter_id, error)

    async def remove_dead_letter(self, letter_id: int) -> None:
        async with self._ctx.store.transaction() as tx:
            await tx.mail.remove_dead_letter(letter_id)

    # --- outbound --------------------------------------------------------------------------

    async def record_part(self, message: OutboundMessage, part: int, external_id: str) -> None:
        """The provider accepted part `part` (0 first) of `message` as `external_id`."""
        await outbox.record_part(self._ctx, message, part, external_id)

    async def parts_of_other_messages(self, message: OutboundMessage,
                                      external_ids: list[str]) -> set[str]:
        """Which of these provider ids already stand for parts of other messages."""
        return await outbox.parts_of_other_messages(self._ctx, message, external_ids)

    async def mark_delivery_status(self, message_id: int, status: str) -> bool:
        """A later state the channel learnt (delivered, read); never moves backwards."""
        return await outbox.mark_delivery_status(self._ctx, message_id, status)

    async def apply_delivery_report(self, channels: Sequence[str], external_id: str,
                                    status: str | None, error: str) -> bool:
        """Record a provider's report on the outbound message it knows as `external_id` on
        one of `channels` (looked in, in order): `status` is ours (sent, delivered, read,
        failed; None changes nothing) and `error` the reason a failure gives. Consoles hear
        of it. False when no outbound message has that id."""
        row = None
        async with self._ctx.store.read() as tx:
            for channel in channels:
                row = await tx.messages.by_external_id(channel, external_id)
                if row is not None:
                    break
        if row is None or row["direction"] != "out":
            return False
        if status == "failed":
            # Once delivered, a late "undelivered" from another part is not this message's fate.
            if row["delivery_status"] not in ("delivered", "read", "failed"):
                await outbox.mark_failed(self._ctx, row["id"], error)
        elif status is not None:
            await outbox.mark_delivery_status(self._ctx, row["id"], status)
        await outbox.announce_delivery(self._ctx, row["id"])
        return True

    async def sent_external_ids(self, channel: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these provider ids are our outbound messages': one look for the bounces
        of a whole poll, so those naming none of ours cost no transaction of their own."""
        async with self._ctx.store.read() as tx:
            rows = await tx.messages.outbound_by_external_ids(channel, external_ids)
        return {row["external_id"] for row in rows}

    async def mark_bounced(self, channel: str, external_ids: Sequence[str], reason: str,
                           report: InboundMessage | None = None) -> list[int]:
        """A bounce names our messages by their provider ids (an e-mail's Message-IDs): each
        is marked failed with `reason`, which the agent reads beside it, and `report` (the
        bounce as taken in) is kept as a system note in the conversation. Returns the ids of
        the messages it named; none when it names none of ours, and then nothing is stored
        (the caller may take the mail in as any machine-written mail). See
        `outbox.mark_bounced`."""
        return await outbox.mark_bounced(self._ctx, channel, external_ids, reason, report)

    async def announce_delivery(self, message_id: int) -> None:
        """Tell consoles a message's delivery state or attachments changed."""
        await outbox.announce_delivery(self._ctx, message_id)
