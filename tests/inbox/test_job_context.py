"""A worker job's context (`inbox.context.run_in_job_context`): opened for the job, closed
whatever the job does."""

from __future__ import annotations

import pytest

from inbox import context


@pytest.fixture
def opened(monkeypatch) -> list:
    """The contexts the jobs opened, each with whether it was closed."""
    found: list = []
    open_context = context.open_context

    def recording(*args, **kwargs):
        ctx = open_context(*args, **kwargs)
        close, entry = ctx.close, {"ctx": ctx, "closed": False, "pool": kwargs.get("pool")}

        async def closing():
            entry["closed"] = True
            await close()

        ctx.close = closing
        found.append(entry)
        return ctx

    monkeypatch.setattr(context, "open_context", recording)
    return found


def test_a_job_runs_in_a_context_of_its_own_closed_after_it(opened):
    async def work(ctx):
        return ctx.media_dir, await ctx.redis.ping()

    media_dir, answered = context.run_in_job_context(work)
    assert answered is True
    [entry] = opened
    assert entry["closed"] and entry["pool"] is False and media_dir == entry["ctx"].media_dir


def test_a_failing_job_still_closes_its_context(opened):
    async def work(ctx):
        raise LookupError("message 404 is not stored")

    with pytest.raises(LookupError, match="message 404"):
        context.run_in_job_context(work)
    assert [entry["closed"] for entry in opened] == [True]
