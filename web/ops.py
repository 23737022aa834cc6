"""Endpoints for the people who run the system: health, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from web.appkeys import CONTEXT

routes = web.RouteTableDef()

REQUESTS = Counter("cc_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cc_http_request_seconds", "HTTP request latency", ["route"])
# Set by the app to read its intake (inbox.intake): provider webhooks answered, not yet in
# the inbox. A backlog that keeps growing means ingesting cannot keep up.
INTAKE_BACKLOG = Gauge("cc_intake_backlog", "Journalled webhook messages not yet ingested")
INTAKE_LAG = Gauge("cc_intake_lag_seconds", "How long the oldest journalled message has waited")


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
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
