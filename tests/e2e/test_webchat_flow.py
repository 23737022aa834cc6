"""The whole path on the real system: a resident's web-chat message reaches an agent, and the
agent's reply comes back through the worker's delivery job; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from inbox.storage import Store
from inbox.storage.db import make_engine
from tests.e2e.support import System, receive

pytestmark = pytest.mark.e2e

AGENT = ("leyla.mammadova@example.gov.az", "çay-və-limon-42")
ALL_QUEUES = ("migration-registration,migration-support,dost-baku-1,dost-baku-2,"
              "call-centre-142,triage")


@pytest.fixture
async def system(environment, tmp_path):
    running = System(environment, tmp_path)
    running.add_user(AGENT[0], "agent", ALL_QUEUES, AGENT[1])
    yield running
    running.stop()


async def _login(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with http.post(f"{base}/api/v1/auth/login",
                         json={"email": AGENT[0], "password": AGENT[1]}) as response:
        assert response.status == 200
        token = (await response.json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def _hello(http, base: str, session: str | None = None):
    ws = await http.ws_connect(f"{base}/chat/ws")
    await ws.send_json({"type": "hello", "session": session, "name": "Rəşad Quliyev",
                        "language": "az"})
    welcome = await receive(ws, "welcome", 10)
    return ws, welcome


async def _message_status(http, base, auth, conversation_id, message_id) -> str:
    async with http.get(f"{base}/api/v1/conversations/{conversation_id}",
                        headers=auth) as response:
        body = await response.json()
    return next(m["delivery_status"] for m in body["messages"] if m["id"] == message_id)


async def test_message_to_agent_and_reply_back(system: System):
    await system.start_app()
    system.start_worker()
    base = system.base_url
    async with aiohttp.ClientSession() as http:
        ws, welcome = await _hello(http, base)
        assert welcome["history"] == []
        text = "Salam! Reintegrasiya üçün ilkin qeydiyyatdan keçmək istəyirəm, nə etməliyəm?"
        await ws.send_json({"type": "message", "id": "m-1", "text": text})
        ack = await receive(ws, "ack", 10)
        await ws.send_json({"type": "message", "id": "m-1", "text": text})
        again = await receive(ws, "ack", 10)
        assert again["message_id"] == ack["message_id"]
        auto_reply = await receive(ws, "message", 15)
        assert auto_reply["message"]["author"] == {"kind": "system"}
        assert "qəbul edildi" in auto_reply["message"]["body"]

        auth = await _login(http, base)
        async with http.get(f"{base}/api/v1/conversations", headers=auth) as response:
            items = (await response.json())["items"]
        assert len(items) == 1
        conversation = items[0]
        assert conversation["channel"] == "webchat"
        assert conversation["contact"]["name"] == "Rəşad Quliyev"
        async with http.get(f"{base}/api/v1/conversations/{conversation['id']}",
                            headers=auth) as response:
            detail = await response.json()
        inbound = [m for m in detail["messages"] if m["direction"] == "in"]
        assert [m["body"] for m in inbound] == [text]

        reply_text = "Salam, Rəşad bəy. Qeydiyyat üçün şəxsiyyət vəsiqənizin nömrəsini yazın."
        started = time.monotonic()
        async with http.post(f"{base}/api/v1/conversations/{conversation['id']}/messages",
                             json={"body": reply_text}, headers=auth) as response:
            assert response.status == 201
            reply = await response.json()
        delivered = await receive(ws, "message", 5)
        latency = time.monotonic() - started
        assert delivered["message"]["id"] == reply["id"]
        assert delivered["message"]["body"] == reply_text
        assert latency < 1.0, f"the reply took {latency:.2f} s to reach the chat"
        await ws.close()

        for _ in range(50):
            status = await _message_status(http, base, auth, conversation["id"], reply["id"])
            if status == "delivered":
                break
            await asyncio.sleep(0.1)
        assert status == "delivered"

        ws, welcome = await _hello(http, base, welcome["session"])
        history = [(m["direction"], m["body"]) for m in welcome["history"]]
        assert history[0] == ("in", text)
        assert history[-1] == ("out", reply_text)
        assert [d for d, _ in history] == ["in", "out", "out"]
        await ws.close()


async def test_reply_survives_a_worker_killed_mid_send(system: System):
    await system.start_app()
    base = system.base_url
    async with aiohttp.ClientSession() as http:
        ws, _welcome = await _hello(http, base)
        first = system.start_worker()
        await ws.send_json({"type": "message", "id": "m-1", "text": "Pensiyam gəlməyib"})
        await receive(ws, "ack", 10)
        await receive(ws, "message", 15)          # the acknowledgement, delivered normally
        System.kill(first, signal.SIGTERM)
        auth = await _login(http, base)
        async with http.get(f"{base}/api/v1/conversations", headers=auth) as response:
            conversation_id = (await response.json())["items"][0]["id"]

        slow = system.start_worker({"CC_FAULT_DELIVERY_DELAY_S": "600"})
        async with http.post(f"{base}/api/v1/conversations/{conversation_id}/messages",
                             json={"body": "Müraciətinizə baxırıq."},
                             headers=auth) as response:
            reply = await response.json()
        # Wait until the slow worker has claimed the reply: its attempt counter moves.
        store = Store(make_engine(system.env["DATABASE_URL"], pool=False))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with store.read() as tx:
                row = await tx.messages.get(reply["id"])
            if row["delivery_status"] == "sending":
                break
            await asyncio.sleep(0.1)
        assert row["delivery_status"] == "sending", system.logs()
        System.kill(slow)

        killed_at = time.monotonic()
        system.start_worker()
        received = []
        while time.monotonic() - killed_at < 60:
            try:
                frame = await receive(ws, "message", 2)
            except TimeoutError:
                if any(m["id"] == reply["id"] for m in received):
                    break
                continue
            received.append(frame["message"])
        assert [m["id"] for m in received].count(reply["id"]) == 1, system.logs()
        async with store.read() as tx:
            row = await tx.messages.get(reply["id"])
        await store.close()
        assert row["delivery_status"] == "delivered"
        # The killed worker claimed it but died before publishing; the re-driven attempt is
        # the only send. (A worker killed after Twilio took an SMS: tests/e2e/test_sms_delivery.)
        assert row["attempts"] == 2
        await ws.close()
