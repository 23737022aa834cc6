"""Supervising in a real browser against the real system: a supervisor watches an agent's web-chat
conversation read-only (no reply tab, a banner, messages arriving live), whispers to the agent
(who sees it apart, with a toast, while the resident's chat page never shows it), then takes the
conversation over and answers the resident, typing shown both ways. The wall-board names the
queues whose SLA is at risk and the agents over capacity.

Screenshots of the steps go to var/test-artifacts/supervise/ (git-ignored)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from inbox.context import open_context
from tests.browser.conftest import AGENT, SUPERVISOR, TIMEOUT_MS, Resident, sign_in
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "var" / "test-artifacts" / "supervise"
QUESTION = "Salam, reintegrasiya üçün ilkin qeydiyyat necə olur? FİN: 5ZK2QJ7"
FOLLOW_UP = "Sənədlərin siyahısını da göndərə bilərsiniz?"
WHISPER = "Leyla, DOST mərkəzinin arayışını xatırlat — sakin iki dəfə yazıb."
AGENT_REPLY = "Salam! Qeydiyyat üçün şəxsiyyət vəsiqəsi lazımdır."
SUPERVISOR_REPLY = "Salam, mən növbə rəhbəriyəm: sənədlərin siyahısını göndərirəm."


async def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def _resident_page(browser, base_url: str):
    context = await browser.new_context(viewport={"width": 420, "height": 760},
                                        locale="en-GB", timezone_id="Asia/Baku")
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(base_url + "/chat?lang=en")
    await page.wait_for_function("document.getElementById('status').textContent === 'Connected'")
    if await page.locator("#name").is_visible():
        await page.fill("#name", "Rəşad Quliyev")
    await page.fill("#phone", "+994 70 111 22 33")
    await page.check("#consent")
    await page.click("#prechat button[type=submit]")
    return context, page, errors


async def _say(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await page.locator("#messages li.in[data-message-id]", has_text=text).wait_for()


async def test_a_supervisor_watches_whispers_and_takes_over(system, browser, open_page):
    context, resident, resident_errors = await _resident_page(browser, system.base_url)
    await _say(resident, QUESTION)

    agent = await open_page(1280, 860)
    await sign_in(agent, system.base_url, AGENT)
    row = agent.page.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev")
    await row.click()
    await agent.page.locator("#thread .msg-in", has_text=QUESTION).wait_for()
    await agent.page.click("#act-assign-me")
    await expect(agent.page.locator("#act-assign-me")).to_be_hidden()
    # An agent has no whisper tab and watches nothing.
    assert await agent.page.locator('.composer-tabs button[data-mode="whisper"]').count() == 0
    assert await agent.page.locator("#watching").is_hidden()

    supervisor = await open_page(1280, 860)
    await sign_in(supervisor, system.base_url, SUPERVISOR)
    sup = supervisor.page
    await sup.locator("#conversation-list .conv-row", has_text="Rəşad Quliyev").click()
    await sup.locator("#thread .msg-in", has_text=QUESTION).wait_for()
    # Read-only: a banner naming the agent, no reply tab, the whisper tab chosen.
    banner = sup.locator("#watching")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(f"You are watching {AGENT[2]}'s conversation")
    await expect(sup.locator('.composer-tabs button[data-mode="reply"]')).to_be_hidden()
    assert await sup.get_attribute("#composer", "data-mode") == "whisper"
    assert await sup.text_content("#composer-send") == "Send whisper"

    # Messages arrive live in the watched conversation, both ways.
    await _say(resident, FOLLOW_UP)
    await sup.locator("#thread .msg-in", has_text=FOLLOW_UP).wait_for()
    await agent.page.fill("#composer-text", AGENT_REPLY)
    await agent.page.click("#composer-send")
    await sup.locator("#thread .msg-out", has_text=AGENT_REPLY).wait_for()
    await resident.locator("#messages li.out", has_text=AGENT_REPLY).wait_for()
    await _shot(sup, "1-supervisor-watching")

    # The whisper: apart in both consoles, a toast for the agent, nothing for the resident.
    await sup.fill("#composer-text", WHISPER)
    await sup.click("#composer-send")
    await sup.locator("#thread .msg-whisper", has_text=WHISPER).wait_for()
    whispered = agent.page.locator("#thread .msg-whisper", has_text=WHISPER)
    await whispered.wait_for()
    assert await whispered.locator(".note-tag").text_content() == "Whisper"
    await agent.page.locator(".toast", has_text="Supervisor's whisper on").wait_for()
    await _shot(agent.page, "2-agent-sees-whisper")

    # Nothing the supervisor typed while watching went to the resident; a reload replays the
    # history, which has no note either.
    await resident.wait_for_timeout(1000)
    assert WHISPER not in await resident.locator("#messages").inner_text()
    assert await resident.locator("#typing").is_hidden()   # a whisper is not "typing"
    await resident.reload()
    await resident.locator("#messages li.out", has_text=AGENT_REPLY).wait_for()
    assert WHISPER not in await resident.locator("#messages").inner_text()
    assert await resident.locator("#typing").is_hidden()
    await _shot(resident, "3-resident-without-whisper")

    # Take over: the conversation becomes the supervisor's, the reply tab comes back.
    await sup.click("#take-over")
    await sup.locator(".toast", has_text="is yours now").wait_for()
    await expect(banner).to_be_hidden()
    await expect(sup.locator('.composer-tabs button[data-mode="reply"]')).to_be_visible()
    assert await sup.get_attribute("#composer", "data-mode") == "reply"
    # Typing both ways between the console and the chat page.
    await resident.wait_for_timeout(2100)   # the resident's typing goes at most every 2 s
    await resident.locator("#text").press_sequentially("Bir sual da")
    await sup.locator("#resident-typing").wait_for()
    await sup.locator("#composer-text").press_sequentially("Salam")
    await resident.locator("#typing").filter(has_text="An officer is typing…").wait_for()
    await _shot(resident, "4a-resident-sees-typing")
    await sup.fill("#composer-text", SUPERVISOR_REPLY)
    await sup.click("#composer-send")
    await resident.locator("#messages li.out", has_text=SUPERVISOR_REPLY).wait_for()
    await _shot(sup, "4-supervisor-took-over")
    await _shot(resident, "5-resident-gets-supervisor-reply")
    # The agent's console sees the conversation is no longer theirs.
    await expect(agent.page.locator("#conv-meta")).to_contain_text(SUPERVISOR[2])

    assert agent.errors == [] and supervisor.errors == [] and resident_errors == []
    await context.close()


async def test_the_wallboard_names_queues_at_risk_and_agents_over_capacity(system, open_page,
                                                                          http):
    first = Resident(http, system.base_url, "Nigar Səfərova")
    second = Resident(http, system.base_url, "Tural Babayev")
    await first.say("Salam, DOST mərkəzində pensiya arayışı necə alınır?")
    await second.say("Salam, əlilliyə görə müavinət nə vaxt köçürülür?")
    # Leyla holds both chats with room for one; one of them is close to its SLA.
    ctx = open_context(pool=False)
    try:
        async with ctx.store.read() as tx:
            leyla = await tx.users.by_email(AGENT[0])
            conversations = await tx.conversations.waiting_in(list(system_queues(ctx)))
        assert len(conversations) == 2
        async with ctx.store.transaction() as tx:
            await tx.users.update(leyla["id"], capacity={"chat": 1})
            for conversation in conversations:
                await tx.conversations.update(conversation["id"], assignee_id=leyla["id"],
                                              status="open")
            await tx.conversations.update(conversations[0]["id"], sla_state="at_risk")
        at_risk_queue = conversations[0]["queue"]
    finally:
        await ctx.close()

    watched = await open_page()
    page = watched.page
    await sign_in(watched, system.base_url, SUPERVISOR, start="/wallboard")
    tile = page.locator(f'.tile[data-queue="{at_risk_queue}"]')
    await expect(tile.locator('[data-role="sla-risk"]')).to_have_text("SLA at risk: 1")
    await expect(tile).to_have_class(re.compile(r"\bwarn\b|\balert\b"))
    assert await page.locator('[data-role="sla-risk"]').count() == 1
    await expect(page.locator("#total-over-capacity")).to_have_text("1")
    row = page.locator("#agent-rows tr.over-capacity")
    await expect(row).to_contain_text(AGENT[2])
    await expect(row).to_contain_text("over capacity")
    await _shot(page, "6-wallboard-risk-and-capacity")
    assert watched.errors == []
    await first.close()
    await second.close()


def system_queues(ctx) -> tuple[str, ...]:
    return tuple(ctx.config.queue_ids)
