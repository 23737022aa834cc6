"""Endpoints for the people who run the system: health, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from inbox import mailboxes
from inbox.jobs import queue_depths
from inbox.outage import REDIS_UNAVAILABLE
from web.appkeys import CONTEXT, READINESS

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

REQUESTS = Counter("cc_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cc_http_request_seconds", "HTTP request latency", ["route"])
# Set by the app to read its intake (inbox.intake): provider webhooks answered, not yet in
# the inbox. A backlog that keeps growing means ingesting cannot keep up.
INTAKE_BACKLOG = Gauge("cc_intake_backlog", "Journalled webhook messages not yet ingested")
INTAKE_LAG = Gauge("cc_intake_lag_seconds", "How long the oldest journalled message has waited")
# Read from Redis at each scrape: jobs waiting per rq queue (a delivery job carries up to 100
# messages). `replies` should stay near 0; `delivery` is a storm's backlog of automatic sends.
QUEUE_DEPTH = Gauge("cc_job_queue_depth", "Jobs waiting in an rq queue (scheduled retries aside)",
                    ["queue"])
# Read from Redis at each scrape, as the worker's polls left them (inbox.mailboxes): 1 while
# a mailbox's last poll worked; polls failed in a row (by the error's kind while failing).
MAILBOX_UP = Gauge("cc_mailbox_up", "Whether the mailbox's last poll worked", ["mailbox"])
MAILBOX_FAILURES = Gauge("cc_mailbox_failures", "The mailbox's polls failed in a row",
                         ["mailbox", "error"])
MAILBOX_POLLED = Gauge("cc_mailbox_last_poll_timestamp_seconds",
                       "When the mailbox was last polled successfully", ["mailbox"])
# Read from the database at each scrape: erased residents' messages still to delete at the
# providers (inbox.provider_erasures), and those whose deletion failed at least once. A
# failing count that stays up means the provider refuses (a wrong credential, say).
PROVIDER_ERASURES = Gauge("cc_provider_erasures_pending",
                          "Erased residents' messages still to delete at the providers",
                          ["state"])


@web.middleware
async def measure(request: web.Request, handler):
    started = time.perf_counter()
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        REQUESTS.labels(request.method, name, str(status)).inc()
        LATENCY.labels(name).observe(time.perf_counter() - started)


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    checks = {"database": ctx.store.ping(), "redis": ctx.redis.ping()}
    failing = []
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, timeout=2)
        except Exception:
            failing.append(name)
    if failing:
        return web.json_response({"status": "unavailable", "failing": failing}, status=503)
    try:
        health = await asyncio.wait_for(mailboxes.health(ctx.redis), timeout=2)
    except (TimeoutError, *REDIS_UNAVAILABLE):
        health = {}
    body: dict = {"status": "ok"}
    if health:
        # A failing mailbox leaves the app able to serve: it is named, the app stays ready.
        body["status"] = "ok" if all(state.ok for state in health.values()) else "degraded"
        body["mailboxes"] = {name: _mailbox_detail(state)
                             for name, state in sorted(health.items())}
    details = await _channel_details(request)
    if details:
        body["details"] = details
    return web.json_response(body)


def _mailbox_detail(state: mailboxes.MailboxHealth) -> dict:
    if state.ok:
        return {"ok": True}
    return {"ok": False, "error": state.error, "failures": state.failures,
            "since": _iso(state.since)}


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else \
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


async def _channel_details(request: web.Request) -> dict:
    """What channels report of their provider (Telegram's webhook info): shown, never a
    reason to be unready, since the inbox works without them."""
    details = {}
    for name, check in request.app.get(READINESS, {}).items():
        try:
            detail = await asyncio.wait_for(check(request.app[CONTEXT]), timeout=2)
        except Exception as exc:
            detail = {"error": f"no answer ({type(exc).__name__})"}
        if detail is not None:
            details[name] = detail
    return details


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        depths = await asyncio.wait_for(queue_depths(ctx.redis), timeout=2)
    except (TimeoutError, *REDIS_UNAVAILABLE) as exc:
        ctx.redis_outage.failed(exc)   # the metrics still answer, without the queues' depths
    else:
        for queue, jobs in depths.items():
            QUEUE_DEPTH.labels(queue).set(jobs)
    try:
        health = await asyncio.wait_for(mailboxes.health(ctx.redis), timeout=2)
    except (TimeoutError, *REDIS_UNAVAILABLE) as exc:
        ctx.redis_outage.failed(exc)
    else:
        _set_mailbox_metrics(health)
    try:
        async with ctx.store.read() as tx:
            pending, failing = await asyncio.wait_for(tx.provider_erasures.pending(), timeout=2)
    except Exception as exc:   # the metrics still answer; /readyz says what is down
        log.warning("metrics: provider erasures not counted: %s", type(exc).__name__)
    else:
        PROVIDER_ERASURES.labels("due").set(pending - failing)
        PROVIDER_ERASURES.labels("failing").set(failing)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _set_mailbox_metrics(health: dict[str, mailboxes.MailboxHealth]) -> None:
    for gauge in (MAILBOX_UP, MAILBOX_FAILURES, MAILBOX_POLLED):
        gauge.clear()   # a mailbox taken out of the configuration leaves no series behind
    for name, state in health.items():
        MAILBOX_UP.labels(name).set(1 if state.ok else 0)
        MAILBOX_FAILURES.labels(name, state.error or "none").set(state.failures)
        if state.polled_at is not None:
            MAILBOX_POLLED.labels(name).set(state.polled_at)
