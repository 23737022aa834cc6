"""Whole guided intakes over the web chat's real WebSocket: the bot's questions arrive as
frames, the resident's answers go in as frames, and the case ends in its queue."""

from __future__ import annotations

import json

import pytest

from app import create_app
from inbox.events import EventType
from settings import load_config
from tests.channels.webchat.test_widget_protocol import replayed
from tests.conftest import TEST_CONFIG
from tests.inbox.guided_intake.support import (
    HAPPY_AZ,
    conversation,
    deliver_bot_messages,
    intake_of,
    with_intake,
)
from tests.inbox.test_auth import LEYLA, NIGAR, add_staff, bearer, login
from tests.inbox.test_live import EventStream, heard_everything

REGISTER_AZ = "Salam, ilkin qeydiyyatdan keçmək istəyirəm"


@pytest.fixture
def config():
    return with_intake(load_config(TEST_CONFIG, env={}))


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def hello(ws, language: str = "az", session: str | None = None) -> dict:
    await ws.send_json({"type": "hello", "session": session, "name": "Aynur Məmmədova",
                        "language": language})
    welcome = await ws.receive_json(timeout=5)
    assert welcome["type"] == "welcome"
    return welcome


async def say(ws, ctx, client_id: str, text: str) -> tuple[int, list[str], list[list[str]]]:
    """Send `text`; the message's id, the bot's answers as the window shows them, and the
    buttons each offers (the widget shows choices as buttons)."""
    await ws.send_json({"type": "message", "id": client_id, "text": text})
    ack = await ws.receive_json(timeout=5)
    assert ack["type"] == "ack", ack
    sent = await deliver_bot_messages(ctx)
    bodies, choices = [], []
    for _ in sent:
        frame = await ws.receive_json(timeout=5)
        while frame["type"] != "message":
            frame = await ws.receive_json(timeout=5)
        bodies.append(frame["message"]["body"])
        choices.append(frame["message"].get("choices", []))
    return ack["message_id"], bodies, choices


async def conversation_of(ctx, message_id: int) -> int:
    async with ctx.store.read() as tx:
        return (await tx.messages.get(message_id))["conversation_id"]


async def test_a_whole_intake_in_azerbaijani_ends_waiting_in_the_registration_queue(
        client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws)
        first, bodies, buttons = await say(ws, ctx, "c-0", REGISTER_AZ)
        conversation_id = await conversation_of(ctx, first)
        held = await conversation(ctx, conversation_id)
        # Held for the bot: no agent is offered it, no clock runs.
        assert (held["status"], held["queue"], held["sla_due_at"]) == \
            ("intake", "migration-registration", None)
        [offer] = bodies          # one message a turn: its parts arrive in order
        assert offer.startswith("Salam, Aynur Məmmədova!")
        assert "FİN" in offer
        assert offer.endswith("Razısınızmı?")       # the answers are the window's buttons
        assert buttons == [["Bəli, razıyam", "Xeyr, operatorla danışım"]]
        for i, answer in enumerate(HAPPY_AZ, start=1):
            _, bodies, _ = await say(ws, ctx, f"c-{i}", answer)
        assert "Doğum haqqında şəhadətnamə" in bodies[-1]       # the service's documents
        _, bodies, _ = await say(ws, ctx, "c-done", "hazırdır")
    assert bodies == [f"Təşəkkür edirik! Müraciətiniz qeydə alındı (istinad nömrəsi "
                      f"{conversation_id}) və qeydiyyat operatorlarının növbəsindədir. "
                      "Nəticəni seçdiyiniz kanalla bildirəcəyik."]
    done = await conversation(ctx, conversation_id)
    assert done["status"] == "waiting" and done["sla_due_at"] is not None
    row = await intake_of(ctx, conversation_id)
    assert row["status"] == "complete"
    assert row["state"]["answers"] == {
        "consent": True, "full_name": "Aynur Məmmədova", "fin": "5ZK2QJ7",
        "id_card": "AZE12345678", "birth_date": "1987-03-14",
        "address": "Xankəndi, Mehmandarov küç. 12", "service": "reintegration",
        "result_channel": "same", "documents": 0}
    async with ctx.store.read() as tx:
        types = [e["type"] for e in await tx.events.of_conversation(conversation_id)]
    assert EventType.INTAKE_STARTED in types and EventType.INTAKE_COMPLETED in types


def offering(history: dict[int, dict]) -> list[tuple[int, list[str]]]:
    return [(m["id"], m["choices"]) for m in history.values() if "choices" in m]


async def test_a_replayed_question_offers_its_buttons_while_the_bot_waits_for_its_answer(
        client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        token = (await hello(ws))["session"]
        first, _, [consent] = await say(ws, ctx, "c-0", REGISTER_AZ)
    for after in (None, first):
        history = await replayed(client, token, after)
        # The consent question, the latest message, as its live frame offered it.
        assert offering(history) == [(max(history), consent)], after

    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws, session=token)
        await say(ws, ctx, "c-1", HAPPY_AZ[0])                   # consent given
    # The bot asks for the name now, which offers nothing; the consent's buttons are spent.
    assert offering(await replayed(client, token, first)) == []

    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws, session=token)
        for i, answer in enumerate(HAPPY_AZ[1:6], start=2):      # through the address
            _, _, buttons = await say(ws, ctx, f"c-{i}", answer)
    assert buttons[-1] and "Bəli, razıyam" not in buttons[-1]   # the service question's
    for after in (None, first):
        history = await replayed(client, token, after)
        # Only the question the bot waits for now; the answered consent offers nothing.
        assert offering(history) == [(max(history), buttons[-1])], after

    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws, session=token)
        await say(ws, ctx, "c-op", "operator lazımdır")           # handed over: none waits
    assert offering(await replayed(client, token)) == []


async def test_a_wrong_fin_is_corrected_then_operator_midway_hands_over(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws)
        first, _, _ = await say(ws, ctx, "c-0", REGISTER_AZ)
        conversation_id = await conversation_of(ctx, first)
        await say(ws, ctx, "c-1", "bəli")
        await say(ws, ctx, "c-2", "Aynur Məmmədova")
        _, bodies, _ = await say(ws, ctx, "c-3", "5ZK2QJ")
        assert bodies[0].startswith("FİN 7 simvoldan ibarətdir")
        assert (await conversation(ctx, conversation_id))["status"] == "intake"
        _, bodies, _ = await say(ws, ctx, "c-4", "5zk 2qj7")
        assert bodies[0].startswith("Şəxsiyyət vəsiqəsinin seriya")
        _, bodies, _ = await say(ws, ctx, "c-5", "operator lazımdır")
    assert bodies == [f"Müraciətinizi operatora ötürdük (istinad nömrəsi {conversation_id}). "
                      "O, topladığımız məlumatla davam edəcək."]
    row = await intake_of(ctx, conversation_id)
    assert (row["status"], row["reason"]) == ("handed_over", "the resident asked for an operator")
    assert row["state"]["answers"]["fin"] == "5ZK2QJ7"
    assert (await conversation(ctx, conversation_id))["status"] == "waiting"


async def test_three_wrong_answers_hand_over(client, ctx):
    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws)
        first, _, _ = await say(ws, ctx, "c-0", REGISTER_AZ)
        conversation_id = await conversation_of(ctx, first)
        for i, answer in enumerate(["bəli", "Aynur Məmmədova", "5ZK2QJ7", "AZ123",
                                    "AZE1234", "12345678"], start=1):
            _, bodies, _ = await say(ws, ctx, f"c-{i}", answer)
    assert bodies[0].startswith("Müraciətinizi operatora ötürdük")
    row = await intake_of(ctx, conversation_id)
    assert row["reason"] == "3 failed answers to id_card"
    assert (await conversation(ctx, conversation_id))["status"] == "waiting"


async def test_the_case_shows_the_answers_with_the_fin_only_to_its_queues_operators(
        client, ctx):
    await add_staff(ctx)
    async with client.ws_connect("/chat/ws") as ws:
        await hello(ws)
        first, _, _ = await say(ws, ctx, "c-0", REGISTER_AZ)
        for i, answer in enumerate(HAPPY_AZ, start=1):
            await say(ws, ctx, f"c-{i}", answer)
        await say(ws, ctx, "c-done", "keç")
    conversation_id = await conversation_of(ctx, first)
    operator = await login(client, LEYLA)            # an agent of migration-registration
    response = await client.get(f"/api/v1/conversations/{conversation_id}",
                                headers=bearer(operator["token"]))
    view = await response.json()
    assert view["status"] == "waiting"
    intake = view["intake"]
    assert (intake["status"], intake["consent"], intake["documents"]) == ("complete", True, [])
    fields = {f["id"]: f for f in intake["fields"]}
    assert list(fields) == ["full_name", "fin", "id_card", "birth_date", "address", "service",
                            "result_channel"]
    assert (fields["fin"]["value"], fields["fin"]["masked"]) == ("5ZK2QJ7", False)
    assert fields["service"]["labels"]["en"] == \
        "Joining the reintegration process (initial registration)"
    assert "5ZK2QJ7" in [m["body"] for m in view["messages"]]

    supervisor = await login(client, NIGAR)          # sees every queue, works none of them
    response = await client.get(f"/api/v1/conversations/{conversation_id}",
                                headers=bearer(supervisor["token"]))
    raw = await response.text()
    assert "5ZK2QJ7" not in raw and "AZE12345678" not in raw
    fields = {f["id"]: f for f in (await response.json())["intake"]["fields"]}
    assert (fields["fin"]["value"], fields["fin"]["masked"]) == ("5ZK****", True)
    assert fields["id_card"]["masked"] and fields["full_name"]["value"] == "Aynur Məmmədova"


async def test_live_events_carry_the_typed_fin_only_to_the_queues_operators(client, ctx):
    await add_staff(ctx)
    streams = {}
    for name, email in (("leyla", LEYLA), ("nigar", NIGAR)):
        token = (await login(client, email))["token"]
        response = await client.get("/api/v1/stream", headers=bearer(token))
        assert await response.content.readline() == b": connected\n"
        streams[name] = EventStream(response)
    try:
        async with client.ws_connect("/chat/ws") as ws:
            await hello(ws)
            await say(ws, ctx, "c-0", REGISTER_AZ)
            for i, answer in enumerate(HAPPY_AZ[:4], start=1):   # through the ID card
                await say(ws, ctx, f"c-{i}", answer)
        await heard_everything(ctx, streams)
        operator = [data["message"]["body"] for kind, data in streams["leyla"].events
                    if kind == "message.created"]
        supervisor = [data["message"]["body"] for kind, data in streams["nigar"].events
                      if kind == "message.created"]
    finally:
        for stream in streams.values():
            await stream.close()
    assert "5ZK2QJ7" in operator and "AZE12345678" in operator
    assert len(supervisor) == len(operator) and "Aynur Məmmədova" in supervisor
    assert not any("5ZK2QJ7" in body or "12345678" in body for body in supervisor)
    assert not any("masked_message" in json.dumps(data) for _, data in
                   streams["leyla"].events + streams["nigar"].events)
