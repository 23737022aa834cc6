"""Erasing a resident deletes what Twilio keeps of their messages, calls and voicemails:
through the real twilio client to the fake Twilio, on the real database (SQLite and
PostgreSQL) and Redis. The records are listed in the erasure's own transaction and deleted
by the worker's job; while Twilio fails they are tried again after a growing pause, and a
record Twilio no longer holds counts as gone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from rq import Queue

from channels import provider_records
from channels.delivery import deliver_message
from channels.registry import scheduled_jobs
from channels.twilio.messaging import SMS_TRAITS
from inbox import actions, erasure
from inbox import provider_erasures as provider_erasures_module
from inbox.actions import Actor
from inbox.ingest import ingest
from inbox.jobs import DEFAULT_QUEUE, FORGET_INTERVAL_S, FORGET_JOB
from inbox.messages import CALL_TEXT
from inbox.storage import utcnow
from inbox.storage.schema import audit_events, provider_erasures
from tests.channels.twilio.test_messaging import (  # noqa: F401 (fixtures)
    acknowledgement,
    all_messages,
    client,
    fake_twilio,
)
from tests.inbox.test_erasure import admin, row
from tests.inbox.test_matching import carrier, contact_of


async def erased_sms_resident(client, ctx, fake, *, twilio_holds_inbound: bool = True):  # noqa: F811
    """A resident's SMS, its acknowledgement sent through Twilio, the conversation resolved
    and the resident erased: (the erasure, the inbound sid, the sent sid)."""
    ack = await acknowledgement(client, ctx)
    [inbound] = [m for m in await all_messages(ctx) if m["direction"] == "in"]
    if twilio_holds_inbound:
        fake.add_message("+994125550142", "+994501234567", inbound["body"], utcnow(),
                         sid=inbound["external_id"])
    assert await deliver_message(ctx, ack["id"]) == "sent"
    [sent_sid] = fake.sids
    boss, _ = await admin(ctx)
    await actions.set_status(ctx, Actor(boss, "admin", ()), ack["conversation_id"],
                             "resolved")
    contact_id = await contact_of(ctx, ack["conversation_id"])
    done = await erasure.erase_contact(ctx, contact_id, reason="resident_request",
                                       actor_id=boss)
    return done, inbound["external_id"], sent_sid


async def test_an_erasure_deletes_the_residents_messages_at_twilio(client, ctx,  # noqa: F811
                                                                   fake_twilio):  # noqa: F811
    done, inbound_sid, sent_sid = await erased_sms_resident(client, ctx, fake_twilio)

    # Listed with the erasure, and the job queued right after it.
    assert done.at_providers == 2
    listed = await row(ctx, provider_erasures)
    assert {(r["channel"], r["external_id"]) for r in listed} == {
        ("sms", inbound_sid), ("sms", sent_sid)}
    [audit] = await row(ctx, audit_events, action="contact.erased")
    assert audit["details"]["at_providers"] == 2
    queued = Queue(DEFAULT_QUEUE, connection=ctx.jobs.connection).jobs
    assert [job.func_name for job in queued] == [FORGET_JOB]
    assert {m["sid"] for m in fake_twilio.messages} == {inbound_sid, sent_sid}

    assert await provider_records.forget_due(ctx) == (2, 0)

    assert sorted(fake_twilio.deletes) == sorted([inbound_sid, sent_sid])
    assert fake_twilio.messages == []
    for record in await row(ctx, provider_erasures):
        assert record["done_at"] is not None and record["next_attempt_at"] is None
    # Nothing is due any more: a periodic run deletes nothing twice.
    assert await provider_records.forget_due(ctx) == (0, 0)
    assert len(fake_twilio.deletes) == 2


async def test_while_twilio_fails_a_deletion_is_tried_again_later(client, ctx,  # noqa: F811
                                                                  fake_twilio):  # noqa: F811
    _, inbound_sid, sent_sid = await erased_sms_resident(client, ctx, fake_twilio,
                                                         twilio_holds_inbound=False)
    fake_twilio.fail_next(503, None, times=2)
    now = utcnow()

    assert await provider_records.forget_due(ctx, now=now) == (0, 2)

    records = await row(ctx, provider_erasures)
    for record in records:
        assert (record["attempts"], record["done_at"]) == (1, None)
        assert "503" in record["error"]
        assert record["next_attempt_at"] - now == timedelta(seconds=60)
    # Not due before its pause is over...
    assert await provider_records.forget_due(ctx, now=now + timedelta(seconds=30)) == (0, 0)
    # ...then deleted; the inbound message Twilio no longer holds (404) counts as gone.
    assert await provider_records.forget_due(ctx, now=now + timedelta(seconds=61)) == (2, 0)
    assert fake_twilio.deletes.count(sent_sid) == 2 and inbound_sid in fake_twilio.deletes
    assert fake_twilio.messages == []
    for record in await row(ctx, provider_erasures):
        assert (record["attempts"], record["error"]) == (2, None)


async def test_wrong_credentials_keep_the_deletion_due_with_a_growing_pause(
        client, ctx, fake_twilio, monkeypatch):  # noqa: F811
    await erased_sms_resident(client, ctx, fake_twilio)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")
    now = utcnow()
    for attempt, pause in enumerate((60, 300, 900), start=1):
        assert await provider_records.forget_due(ctx, now=now) == (0, 2)
        for record in await row(ctx, provider_erasures):
            assert record["attempts"] == attempt and "credentials" in record["error"]
            assert record["next_attempt_at"] - now == timedelta(seconds=pause)
        now = record["next_attempt_at"]
    assert len(fake_twilio.messages) == 2
    # Operators see it: two deletions failing.
    metrics = await (await client.get("/metrics")).text()
    assert 'cc_provider_erasures_pending{state="failing"} 2.0' in metrics
    assert 'cc_provider_erasures_pending{state="due"} 0.0' in metrics


@pytest.mark.parametrize("attempts, pause_s", [(1, 60), (2, 300), (4, 3600), (6, 86400),
                                               (40, 86400)])
def test_the_pause_grows_to_a_day(attempts, pause_s):
    assert provider_erasures_module.pause_after(attempts) == timedelta(seconds=pause_s)


def test_the_worker_runs_the_deletion_wherever_twilio_is_configured(config):
    assert SMS_TRAITS.kept_by_provider
    assert scheduled_jobs(config)[FORGET_JOB] == FORGET_INTERVAL_S
    sections = {name: section for name, section in config.channels.sections.items()
                if name != "twilio"}
    without = replace(config, channels=replace(config.channels, sections=sections))
    assert FORGET_JOB not in scheduled_jobs(without)


async def test_a_callers_call_record_and_voicemail_recording_are_deleted_at_twilio(
        client, ctx, fake_twilio):  # noqa: F811
    call_sid, recording_sid = "CA" + "7e" * 16, "RE" + "3b" * 16
    call = await ingest(ctx, carrier("voice", CALL_TEXT, call_sid))
    await ingest(ctx, carrier("voice", "Salam, pensiyam haqqında zəng edirəm.", recording_sid))
    fake_twilio.calls.add(call_sid)
    fake_twilio.recordings.add(recording_sid)
    boss, _ = await admin(ctx)
    await actions.set_status(ctx, Actor(boss, "admin", ()), call.conversation_id, "resolved")
    done = await erasure.erase_contact(ctx, await contact_of(ctx, call.conversation_id),
                                       reason="legal_order", actor_id=boss)
    assert done.at_providers == 2

    assert await provider_records.forget_due(ctx) == (2, 0)

    assert sorted(fake_twilio.deletes) == sorted([call_sid, recording_sid])
    assert fake_twilio.calls == fake_twilio.recordings == set()
