"""What agents do to conversations: reply, note, assign, transfer, change status and category.

Each action checks its input, writes in one transaction with an event that records who did
what, then tells every console through a live event. Permission checks happen in the API
layer before an action is called; actions trust their caller's `user`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inbox import agent_uploads, assignment, dispatch, lifecycle, outbox
from inbox.channel_traits import ChannelTraits
from inbox.context import InboxContext
from inbox.events import EventType
from inbox.lifecycle import SETTABLE_STATUSES, announce
from inbox.live import publish_event, publish_to_chat
from inbox.messages import WHISPER
from inbox.storage import UnitOfWork, utcnow
from routing import CATEGORIES
from settings.model import LANGUAGES

MAX_REPLY_CHARS = 10_000
MAX_SUBJECT_CHARS = 250    # a mail's subject an agent types (RFC 5322 asks lines under 998)
MAX_CONTACT_NAME = 200     # contacts.name


class ActionError(Exception):
    """A request that cannot be carried out; `status` is the HTTP status to answer with,
    `code` the stable name clients match on and translate (None: the status's), `values`
    what its translated text names."""

    def __init__(self, message: str, status: int = 422, *, code: str | None = None,
                 **values: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.values = values


@dataclass(frozen=True)
class Actor:
    id: int
    role: str
    queues: tuple[str, ...]

    @property
    def sees_all_queues(self) -> bool:
        return self.role in ("supervisor", "admin")

    def may_see_queue(self, queue: str | None) -> bool:
        return self.sees_all_queues or (queue is not None and queue in self.queues)


async def _conversation(tx: UnitOfWork, conversation_id: int) -> dict[str, Any]:
    conversation = await tx.conversations.get(conversation_id, for_update=True)
    if conversation is None:
        raise ActionError(f"conversation {conversation_id} not found", 404,
                          code="conversation_not_found")
    return conversation


async def unmerged_contact(tx: UnitOfWork, contact_id: int, verb: str) -> dict[str, Any]:
    """The contact an admin acts on as a whole (erases, exports). ActionError: none (404),
    or one merged into another, whose data is that one's now (409, naming it)."""
    contact = await tx.contacts.get(contact_id)
    if contact is None:
        raise ActionError(f"contact {contact_id} not found", 404, code="contact_not_found")
    if contact["merged_into"] is not None:
        raise ActionError(f"contact {contact_id} was merged into {contact['merged_into']}: "
                          f"{verb} that one", 409, code="contact_merged",
                          into=contact["merged_into"])
    return contact


def mail_subject(value: Any) -> str | None:
    """The subject an agent typed for a mail reply: one line of visible text, or None (blank)
    for the channel's own. A line break would end the Subject header and start another, so
    control and line-separator characters are refused, never cleaned."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError("subject must be a string", 400, code="subject_invalid")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
        raise ActionError("subject must be one line without control characters", 400,
                          code="subject_invalid")
    subject = value.strip()
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ActionError(f"subject must be at most {MAX_SUBJECT_CHARS} characters", 400,
                          code="subject_too_long", max=MAX_SUBJECT_CHARS)
    return subject or None


def _message_body(body: str | None, *, with_files: bool = False) -> str:
    body = (body or "").strip()
    if not body and not with_files:
        raise ActionError("body must not be empty", code="body_empty")
    if len(body) > MAX_REPLY_CHARS:
        raise ActionError(f"body is longer than {MAX_REPLY_CHARS} characters", 413,
                          code="body_too_long", max=MAX_REPLY_CHARS)
    return body


async def reply(ctx: InboxContext, actor: Actor, conversation_id: int, body: str,
                private: bool = False, *, extra: dict[str, str] | None = None,
                subject: str | None = None,
                uploads: Sequence[agent_uploads.Held] = ()) -> dict[str, Any]:
    """An agent's reply (queued for delivery on the conversation's channel) or private note.
    `extra` carries channel send options: an approved template may go out of the window.
    `subject`, on a channel whose replies are mail, replaces the reply's own. `uploads`: the
    files it carries (`inbox.agent_uploads`); with them the text may be empty."""
    body = _message_body(body, with_files=bool(uploads))
    subject = mail_subject(subject)
    if subject is not None and private:
        raise ActionError("a private note has no subject")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        contact = await tx.contacts.get(conversation["contact_id"])
        if contact is not None and contact["erased_at"] is not None:
            # Nobody to write to, and a note would keep about them what was erased.
            raise ActionError("the resident's personal data was erased", 409,
                              code="contact_erased")
        if private:
            message_id = await tx.messages.insert(
                conversation_id=conversation_id, channel=conversation["channel"],
                direction="note", body=body, author_kind="agent", author_id=actor.id,
                created_at=now, delivery_status="received")
            await tx.events.add(conversation_id, EventType.NOTED, {"message_id": message_id},
                                actor_id=actor.id, at=now)
        else:
            channel = ctx.channels[conversation["channel"]]
            if subject is not None and channel.composer is None:
                raise ActionError(f"{channel.name} messages have no subject")
            if extra is None and not channel.free_text_allowed(
                    conversation["last_inbound_at"], now):
                raise ActionError(
                    f"{channel.name} accepts free text only within "
                    f"{channel.free_text_window.total_seconds() / 3600:.0f} "
                    "hours of the resident's last message; send an approved template instead",
                    409, code="free_text_window_closed",
                    hours=round(channel.free_text_window.total_seconds() / 3600))
            if uploads:
                identity = await tx.contacts.identity_by_id(conversation["identity_id"])
                _check_files(channel, identity["address"] if identity else "", uploads)
            stored = {**(extra or {}), "email": {"subject": subject}} if subject else extra
            message_id = await outbox.queue_message(tx, conversation, body,
                                                    author_kind="agent", author_id=actor.id,
                                                    extra=stored)
            first = conversation["first_response_at"] is None
            changes: dict[str, Any] = {"last_message_at": now, "offered_at": None,
                                       **lifecycle.first_response(ctx, conversation, now)}
            if conversation["status"] == "resolved":
                # Writing to a resolved conversation reopens it, and reports count that.
                changes.update(await lifecycle.change_status(
                    tx, conversation, "open", at=now, actor_id=actor.id,
                    reason="agent replied"))
            else:
                changes.update(lifecycle.taken(conversation))
            if conversation["assignee_id"] is None:
                # Whoever answers an unassigned conversation owns it from then on.
                changes.update(assignee_id=actor.id, assigned_at=now)
                await tx.events.add(conversation_id, EventType.ASSIGNED,
                                    {"agent_id": actor.id, "reason": "answered it"},
                                    actor_id=actor.id, at=now)
            await tx.conversations.update(conversation_id, **changes)
            await tx.events.add(conversation_id, EventType.REPLIED,
                                {"message_id": message_id, "first_response": first},
                                actor_id=actor.id, at=now)
        if uploads:
            # Moved last, inside the transaction: a move that fails stores no message that
            # names files it does not have.
            items = agent_uploads.described(message_id, uploads)
            await tx.messages.update(message_id, attachments=items)
            await agent_uploads.place(ctx, items, uploads)
        message = await tx.messages.get(message_id)
    if not private:
        # A reply whose job could not be queued (Redis down) stays `queued`; the sweep
        # re-drives it once it is overdue.
        with ctx.redis_outage.best_effort():
            await ctx.jobs.enqueue_delivery_async([message_id], "agent")
    await announce(ctx, conversation_id, message)
    return message


def _check_files(channel: ChannelTraits, address: str,
                 uploads: Sequence[agent_uploads.Held]) -> None:
    """Each file can go to the resident on the conversation's channel (checked again at the
    reply: the upload was judged for this conversation, but it may have moved channel)."""
    for upload in uploads:
        refusal = channel.file_refusal(address, upload.content_type, upload.size)
        if refusal is not None:
            raise ActionError(f"{channel.label} cannot carry {upload.filename}: "
                              f"{refusal.code}", 422, code=refusal.code, **refusal.values)


async def whisper(ctx: InboxContext, actor: Actor, conversation_id: int,
                  body: str | None) -> dict[str, Any]:
    """A supervisor's whisper: an internal note (direction `note`, so no channel and no chat
    window ever carries it) marked as a whisper, which consoles show apart and which the
    assigned agent is told of at once (`conversation.whisper`)."""
    body = _message_body(body)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        message_id = await tx.messages.insert(
            conversation_id=conversation_id, channel=conversation["channel"],
            direction="note", body=body, extra={WHISPER: True}, author_kind="agent",
            author_id=actor.id, created_at=now, delivery_status="received")
        await tx.events.add(conversation_id, EventType.NOTED,
                            {"message_id": message_id, "whisper": True},
                            actor_id=actor.id, at=now)
        message = await tx.messages.get(message_id)
    await announce(ctx, conversation_id, message)
    with ctx.redis_outage.best_effort():
        # To the same consoles as the note itself (the queue's, supervisors'): the one whose
        # assignee it names highlights it.
        await publish_event(ctx.redis, "conversation.whisper", conversation["queue"], {
            "conversation_id": conversation_id, "message_id": message_id,
            "assignee": conversation["assignee_id"], "author": actor.id, "body": body})
    return message


async def take_over(ctx: InboxContext, actor: Actor, conversation_id: int) -> None:
    """A supervisor takes a conversation they watch: it becomes theirs, so they may answer."""
    await assign(ctx, actor, conversation_id, actor.id, reason="taken over")


async def template_reply(ctx: InboxContext, actor: Actor, conversation_id: int, name: str,
                         values: dict[str, str]) -> dict[str, Any]:
    """Send one of the channel's approved templates: the only kind of message a channel with
    a free-text window accepts once it has closed."""
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
    if conversation is None:
        raise ActionError(f"conversation {conversation_id} not found", 404,
                          code="conversation_not_found")
    catalogue = ctx.channels[conversation["channel"]].templates
    if catalogue is None or name not in catalogue.approved(ctx.config):
        raise ActionError(f"no approved template {name!r} for {conversation['channel']}",
                          code="unknown_template")
    try:
        send = catalogue.prepare(ctx.config, name, values)
    except ValueError as exc:
        raise ActionError(str(exc), code="template_values") from exc
    return await reply(ctx, actor, conversation_id, send.body, extra=send.extra)


async def assign(ctx: InboxContext, actor: Actor, conversation_id: int, agent_id: int | None,
                 queue: str | None = None, *, reason: str = "assigned by a person") -> None:
    """Assign to an agent, unassign (agent_id None), or transfer to another queue."""
    if queue is not None and queue not in ctx.config.queue_ids:
        raise ActionError(f"unknown queue {queue!r}", code="unknown_queue")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        target_queue = queue or conversation["queue"]
        changes: dict[str, Any] = {}
        if queue is not None and queue != conversation["queue"]:
            changes["queue"] = queue
            await tx.events.add(conversation_id, EventType.TRANSFERRED,
                                {"from": conversation["queue"], "to": queue},
                                actor_id=actor.id, at=now)
        if agent_id is not None:
            agent = await tx.users.get(agent_id)
            if agent is None or not agent["active"]:
                raise ActionError(f"agent {agent_id} not found", 404, code="agent_not_found")
            if agent["role"] == "agent" and target_queue not in (agent["queues"] or []):
                raise ActionError(f"agent {agent_id} does not work queue {target_queue!r}",
                                  code="agent_not_in_queue")
            changes.update(assignee_id=agent_id, assigned_at=now, offered_at=None,
                           **lifecycle.taken(conversation))
            await tx.events.add(conversation_id, EventType.ASSIGNED,
                                {"agent_id": agent_id, "reason": reason},
                                actor_id=actor.id, at=now)
        elif conversation["assignee_id"] is not None or queue is not None:
            changes.update(assignee_id=None, assigned_at=None, offered_at=None,
                           **lifecycle.returned(conversation))
            await tx.events.add(conversation_id, EventType.UNASSIGNED,
                                {"agent_id": conversation["assignee_id"]},
                                actor_id=actor.id, at=now)
        if changes:
            await tx.conversations.update(conversation_id, **changes)
    await announce(ctx, conversation_id)
    if changes.get("status") == "waiting":
        await assignment.assign_waiting(ctx, conversation_id,
                                        exclude={conversation["assignee_id"]} - {None})


async def set_status(ctx: InboxContext, actor: Actor, conversation_id: int, status: str) -> None:
    if status not in SETTABLE_STATUSES:
        raise ActionError(f"status must be one of {', '.join(SETTABLE_STATUSES)}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        previous = conversation["status"]
        if previous == status:
            return
        if status == "resolved":
            _check_wrap_up(ctx, conversation)
        changes = await lifecycle.change_status(tx, conversation, status, at=now,
                                                actor_id=actor.id)
        await tx.conversations.update(conversation_id, **changes)
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
    await announce(ctx, conversation_id)
    if "resolved" in (status, previous):
        # A resident's open chat window shows the conversation closed (or open again), so
        # nobody writes into a closed one unknowingly. Nobody listens on other channels.
        with ctx.redis_outage.best_effort():
            await publish_to_chat(ctx.redis, identity["address"], {
                "type": "conversation", "conversation_id": conversation_id, "status": status})
    if previous == "open" and conversation["assignee_id"] is not None:
        # The agent has room again: offer the next in line at once.
        await assignment.fill_agent(ctx, conversation["assignee_id"])


def _check_wrap_up(ctx: InboxContext, conversation: dict[str, Any]) -> None:
    """A queue that wants to know how its conversations end is resolved with a wrap-up code."""
    queue = next((q for q in ctx.config.queues if q.id == conversation["queue"]), None)
    if queue is None or not queue.wrap_up_required:
        return
    if not any((tag := ctx.config.tag(t)) is not None and tag.wrap_up
               for t in conversation["tags"] or ()):
        raise ActionError(f"a conversation of {queue.id} is resolved with a wrap-up code: "
                          "tag it first", 409, code="wrap_up_required")


MAX_TAGS = 20


async def set_tags(ctx: InboxContext, actor: Actor, conversation_id: int, tags: Any) -> None:
    """The conversation's tags become `tags` (ids from config, in that order); the event
    records what was added and removed. Tags config no longer lists stay until removed."""
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ActionError("tags must be a list of tag ids", 400, code="tags_invalid")
    wanted = list(dict.fromkeys(tags))
    if len(wanted) > MAX_TAGS:
        raise ActionError(f"a conversation has at most {MAX_TAGS} tags", 400,
                          code="too_many_tags", max=MAX_TAGS)
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        current = list(conversation["tags"] or ())
        added = [t for t in wanted if t not in current]
        unknown = [t for t in added if ctx.config.tag(t) is None]
        if unknown:
            raise ActionError(f"unknown tag {unknown[0]!r}", 400, code="unknown_tag")
        removed = [t for t in current if t not in wanted]
        if not added and not removed:
            return
        await tx.conversations.update(conversation_id, tags=wanted)
        await tx.events.add(conversation_id, EventType.TAGGED,
                            {"added": added, "removed": removed}, actor_id=actor.id, at=now)
    await announce(ctx, conversation_id)


async def agent_typing(ctx: InboxContext, conversation_id: int) -> None:
    """An agent is writing a reply: the resident sees it where their channel can show it
    (`ChannelTraits.typing`). Nothing is stored; other channels hear nothing."""
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(conversation_id)
        if conversation is None:
            raise ActionError(f"conversation {conversation_id} not found", 404,
                          code="conversation_not_found")
        identity = await tx.contacts.identity_by_id(conversation["identity_id"])
    signal = ctx.channels[conversation["channel"]].typing
    if signal is not None:
        await signal.show(ctx, identity["address"])


async def set_category(ctx: InboxContext, actor: Actor, conversation_id: int, category: str,
                       reroute: bool = False) -> None:
    """A human's correction of the classifier, kept as training data."""
    if category not in CATEGORIES:
        raise ActionError(f"category must be one of {', '.join(CATEGORIES)}")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        # The text the classifier read (for a call, its voicemail's transcript), so the
        # correction teaches it about words, not about the call's placeholder.
        await tx.events.add_correction(conversation_id=conversation_id,
                                text=await dispatch.text_to_classify(tx, conversation_id),
                                language=conversation["language"],
                                predicted=conversation["category"], corrected=category,
                                user_id=actor.id, created_at=now)
        await tx.conversations.update(conversation_id, category=category,
                                     category_confidence=1.0, category_source="human")
        await tx.events.add(conversation_id, EventType.RECLASSIFIED,
                            {"from": conversation["category"], "to": category},
                            actor_id=actor.id, at=now)
        if reroute:
            await tx.conversations.update(conversation_id, routed_at=None, assignee_id=None,
                                         status="waiting", category_hint=category)
    if reroute:
        await dispatch.route_conversation(ctx, conversation_id, acknowledge=False)
    await announce(ctx, conversation_id)


async def mark_opened(ctx: InboxContext, actor: Actor, conversation_id: int) -> None:
    """The assignee opened the conversation: the offer is taken."""
    async with ctx.store.transaction() as tx:
        conversation = await _conversation(tx, conversation_id)
        if conversation["assignee_id"] == actor.id and conversation["opened_at"] is None:
            await tx.conversations.update(conversation_id, opened_at=utcnow(), offered_at=None)


async def merge_contacts(ctx: InboxContext, actor: Actor, into: int, other: int, *,
                         match_id: int | None = None) -> list[int]:
    """Two contacts are one resident: `other`'s identities and conversations join `into`.
    With `match_id`, the agent confirms that possible match of the two (`inbox.matching`);
    either way an event on each of the resident's conversations names the agent."""
    if into == other:
        raise ActionError("a contact cannot be merged into itself")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        for contact_id in (into, other):
            contact = await tx.contacts.get(contact_id)
            if contact is None or contact["merged_into"] is not None:
                raise ActionError(f"contact {contact_id} not found", 404,
                                  code="contact_not_found")
        merged: dict[str, Any] = {"from": other, "into": into, "by": "a person"}
        if match_id is not None:
            match = await tx.contacts.match(match_id, for_update=True)
            if match is None or {match["contact_id"], match["other_contact_id"]} != {into, other}:
                raise ActionError(f"no possible match {match_id} of these contacts", 404,
                          code="match_not_found")
            if match["status"] != "open":
                raise ActionError(f"possible match {match_id} is already {match['status']}", 409,
                          code="match_decided")
            merged["match"] = {"id": match_id, "kind": match["kind"], "value": match["masked"]}
        moved = await tx.contacts.merge(into, other, decided_by=actor.id)
        # Every conversation of the resident now shows who joined the two, and why.
        joined = [c["id"] for c in await tx.conversations.of_contact(into)]
        for conversation_id in joined:
            await tx.events.add(conversation_id, EventType.CONTACTS_MERGED, merged,
                                actor_id=actor.id, at=now)
    for conversation_id in joined:
        await announce(ctx, conversation_id)
    return moved


async def dismiss_match(ctx: InboxContext, actor: Actor, contact_id: int, match_id: int) -> None:
    """An agent judged a possible match of `contact_id` to be two residents: it is no longer
    shown, and the same identifier does not raise it again. The match keeps who and when."""
    async with ctx.store.transaction() as tx:
        match = await tx.contacts.match(match_id, for_update=True)
        if match is None or contact_id not in (match["contact_id"], match["other_contact_id"]):
            raise ActionError(f"no possible match {match_id} of contact {contact_id}", 404,
                          code="match_not_found")
        if match["status"] != "open":
            raise ActionError(f"possible match {match_id} is already {match['status']}", 409,
                          code="match_decided")
        await tx.contacts.decide_match(match_id, "dismissed", actor.id, utcnow())


def contact_name(value: Any) -> str:
    """A contact's name as an agent may set it: one line of visible text."""
    if not isinstance(value, str):
        raise ActionError("name must be a string", 400, code="name_invalid")
    name = " ".join(value.split())
    if not name:
        raise ActionError("name must not be empty", 400, code="name_empty")
    if len(name) > MAX_CONTACT_NAME:
        raise ActionError(f"name must be at most {MAX_CONTACT_NAME} characters", 400,
                          code="name_too_long", max=MAX_CONTACT_NAME)
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        raise ActionError("name must not contain control characters", 400, code="name_invalid")
    return name


CONTACT_FIELDS = ("name", "language", "preferred_channel")


async def update_contact(ctx: InboxContext, actor: Actor, contact_id: int,
                         changes: dict[str, Any]) -> None:
    """An agent sets the resident's name, language (what replies and notices are written
    in) or preferred channel (one the resident has written on, where results go first).
    Each of the contact's conversations records who changed what from what, and consoles
    showing them update. Nothing is written unless every field is valid."""
    unknown = sorted(set(changes) - set(CONTACT_FIELDS))
    if unknown or not changes:
        raise ActionError(f"only {', '.join(CONTACT_FIELDS)} may be changed", 400,
                          code="contact_field_fixed")
    wanted: dict[str, Any] = {}
    if "name" in changes:
        wanted["name"] = contact_name(changes["name"])
    if "language" in changes:
        if changes["language"] not in LANGUAGES:
            raise ActionError(f"language must be one of {', '.join(LANGUAGES)}", 400,
                              code="unknown_language")
        wanted["language"] = changes["language"]
    now = utcnow()
    async with ctx.store.transaction() as tx:
        contact = await tx.contacts.get(contact_id)
        if contact is None or contact["merged_into"] is not None:
            raise ActionError(f"contact {contact_id} not found", 404, code="contact_not_found")
        if "preferred_channel" in changes:
            channel = changes["preferred_channel"]
            known = {i["channel"] for i in await tx.contacts.identities_of(contact_id)}
            if channel is not None and (not isinstance(channel, str) or channel not in known):
                raise ActionError("preferred_channel must be null or a channel the resident "
                                  f"has written on ({', '.join(sorted(known))})", 400,
                                  code="unknown_preferred_channel")
            wanted["preferred_channel"] = channel
        changed = {k: v for k, v in wanted.items() if contact[k] != v}
        if not changed:
            return
        await tx.contacts.update(contact_id, **changed)
        conversation_ids = [c["id"] for c in await tx.conversations.of_contact(contact_id)]
        for conversation_id in conversation_ids:
            for field, value in changed.items():
                if field == "name":
                    await tx.events.add(conversation_id, EventType.CONTACT_RENAMED,
                                        {"contact_id": contact_id, "from": contact["name"],
                                         "to": value}, actor_id=actor.id, at=now)
                else:
                    await tx.events.add(conversation_id, EventType.CONTACT_UPDATED,
                                        {"contact_id": contact_id, "field": field,
                                         "from": contact[field], "to": value},
                                        actor_id=actor.id, at=now)
    for conversation_id in conversation_ids:
        await announce(ctx, conversation_id)


async def merge_conversations(ctx: InboxContext, actor: Actor, into: int, other: int) -> None:
    """The same matter opened twice: `other`'s messages move into `into`, `other` closes."""
    if into == other:
        raise ActionError("a conversation cannot be merged into itself")
    now = utcnow()
    async with ctx.store.transaction() as tx:
        target = await _conversation(tx, into)
        source = await _conversation(tx, other)
        if target["contact_id"] != source["contact_id"]:
            raise ActionError("both conversations must belong to one contact; merge the "
                              "contacts first")
        moved = [m["id"] for m in await tx.messages.of_conversation(other)]
        await tx.messages.move(moved, into)
        last = max(target["last_message_at"], source["last_message_at"])
        await tx.conversations.update(into, last_message_at=last)
        await tx.conversations.update(other, status="resolved", resolved_at=now,
                                     assignee_id=None, offered_at=None)
        await tx.events.add(into, EventType.CONVERSATIONS_MERGED,
                            {"from": other, "messages": moved}, actor_id=actor.id, at=now)
        await tx.events.add(other, EventType.MERGED_INTO, {"conversation": into, "messages": moved},
                            actor_id=actor.id, at=now)
    await announce(ctx, into)
    await announce(ctx, other)


async def split_conversation(ctx: InboxContext, actor: Actor, conversation_id: int,
                             from_message_id: int) -> int:
    """A new matter began at `from_message_id`: it and every later message move to a new
    conversation of the same contact, which waits in the same queue."""
    now = utcnow()
    async with ctx.store.transaction() as tx:
        source = await _conversation(tx, conversation_id)
        messages = await tx.messages.of_conversation(conversation_id)
        if from_message_id not in {m["id"] for m in messages}:
            raise ActionError(f"message {from_message_id} is not in this conversation")
        moving = [m for m in messages if m["id"] >= from_message_id]
        if len(moving) == len(messages):
            raise ActionError("splitting at the first message would leave nothing behind")
        first_moved = moving[0]
        new_id = await tx.conversations.create(
            contact_id=source["contact_id"], identity_id=source["identity_id"],
            channel=source["channel"], status="waiting", category=source["category"],
            category_confidence=source["category_confidence"], category_source="human",
            language=source["language"], queue=source["queue"], priority=source["priority"],
            thread_key=source["thread_key"], created_at=first_moved["created_at"],
            routed_at=now, sla_due_at=source["sla_due_at"],
            last_message_at=moving[-1]["created_at"],
            last_inbound_at=max((m["created_at"] for m in moving if m["direction"] == "in"),
                                default=None))
        await tx.messages.move([m["id"] for m in moving], new_id)
        await tx.conversations.update(conversation_id,
                                     last_message_at=messages[len(messages) - len(moving) - 1]
                                     ["created_at"])
        moved_ids = [m["id"] for m in moving]
        await tx.events.add(conversation_id, EventType.SPLIT,
                            {"into": new_id, "messages": moved_ids}, actor_id=actor.id, at=now)
        await tx.events.add(new_id, EventType.SPLIT_FROM, {"conversation": conversation_id,
                                                  "messages": moved_ids},
                            actor_id=actor.id, at=now)
    await announce(ctx, conversation_id)
    await announce(ctx, new_id)
    await assignment.assign_waiting(ctx, new_id)
    return new_id
