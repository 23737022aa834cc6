"""What the guided intake's dialogue tests share: the test config with the intake on, and
sending what the bot queued the way the worker would."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from channels.delivery import deliver_message
from inbox.storage.records import as_rows
from inbox.storage.schema import messages
from settings import Config

HAPPY_AZ = ["1", "Aynur Məmmədova", "5ZK2QJ7", "AZE12345678", "14.03.1987",
            "Xankəndi, Mehmandarov küç. 12", "1", "1"]


def with_intake(config: Config) -> Config:
    return dataclasses.replace(config, guided_intake=dataclasses.replace(
        config.guided_intake, enabled=True))


async def queued_bot_messages(ctx) -> list[dict]:
    async with ctx.store.read() as tx:
        return as_rows(await tx.conn.execute(
            select(messages).where(messages.c.direction == "out",
                                   messages.c.author_kind == "system",
                                   messages.c.delivery_status == "queued")
            .order_by(messages.c.id)))


async def deliver_bot_messages(ctx) -> list[dict]:
    """Send every queued bot message, as the delivery job does; the rows sent."""
    sent = await queued_bot_messages(ctx)
    for row in sent:
        assert await deliver_message(ctx, row["id"]) == "sent"
    return sent


async def intake_of(ctx, conversation_id: int) -> dict | None:
    async with ctx.store.read() as tx:
        return await tx.intakes.get(conversation_id)


async def conversation(ctx, conversation_id: int) -> dict:
    async with ctx.store.read() as tx:
        return await tx.conversations.get(conversation_id)
