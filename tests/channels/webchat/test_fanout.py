"""Frames published for a session reach its window in order through the live hub, with no
task held by an idle window; a reply whose delivery cannot be recorded does not hold up the
frames behind it. Against the real app (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

import asyncio

from inbox.live import publish_to_chat
from inbox.port import ChannelPort
from tests.channels.webchat.test_channel import say_hello
from tests.channels.webchat.test_offline_replies import session_of
from tests.channels.webchat.test_widget_protocol import client, frame_of  # noqa: F401


def reply_frame(message_id: int, body: str) -> dict:
    return {"type": "message", "message": {
        "id": message_id, "direction": "out", "body": body, "attachments": [],
        "created_at": None, "author": {"kind": "agent"}, "delivery_status": "sent"}}


async def test_frames_arrive_in_order_past_one_whose_delivery_is_not_recorded(
        client, ctx, monkeypatch):  # noqa: F811
    recorded = []

    async def mark(self, message_id: int, status: str) -> bool:
        recorded.append(message_id)
        if message_id == 1:
            await asyncio.sleep(0.3)   # the frames behind it arrive meanwhile
            raise ConnectionError("the database went away")
        return False

    monkeypatch.setattr(ChannelPort, "mark_delivery_status", mark)
    async with client.ws_connect("/chat/ws") as ws:
        session = session_of(await say_hello(ws))
        for message_id, body in ((1, "Salam"), (2, "Sənədləriniz hazırdır"), (3, "Sağ olun")):
            await publish_to_chat(ctx.redis, session, reply_frame(message_id, body))
        bodies = [(await frame_of(ws, "message"))["message"]["body"] for _ in range(3)]
        assert bodies == ["Salam", "Sənədləriniz hazırdır", "Sağ olun"]
        await asyncio.sleep(0.1)
    assert recorded == [1, 2, 3]
