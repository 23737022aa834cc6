"""Report endpoints of the agent API: summaries, volumes, ministry totals, the wall-board.
For supervisors and admins; CSV with `format=csv`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from inbox.storage import utcnow
from reports import live
from reports.csat import csat
from reports.presence import presence_report
from reports.queries import summary, to_csv, totals, volumes
from web.api import SESSION
from web.appkeys import CONTEXT
from web.http import bad_request, http_error

routes = web.RouteTableDef()
SUPERVISING = frozenset({"supervisor", "admin"})
FORMATS = ("json", "csv")
# Nothing is older than the Unix epoch, and the calendar's last years leave no room for the
# day added to `to`, the 30 days before it or the shift to UTC: outside these, a 400.
REPORT_YEARS = (1970, 9998)


def _require_supervisor(request: web.Request) -> None:
    if request[SESSION].user["role"] not in SUPERVISING:
        raise http_error(web.HTTPForbidden, "reports are for supervisors and admins",
                         code="supervisors_only")


def _interval(request: web.Request) -> tuple[datetime, datetime]:
    """`from` and `to` as ISO dates or datetimes in the deployment's zone (default: the last
    30 days); `to` is exclusive, and a bare date means its whole day."""
    ctx = request.app[CONTEXT]

    def parse(name: str, default: datetime) -> datetime:
        text = request.query.get(name)
        if not text:
            return default
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise bad_request(f"{name} must be an ISO 8601 date or time",
                              code="report_date_invalid") from exc
        if not REPORT_YEARS[0] <= value.year <= REPORT_YEARS[1]:
            raise bad_request(f"{name} must lie in the years {REPORT_YEARS[0]} to "
                              f"{REPORT_YEARS[1]}", code="report_date_invalid")
        if value.tzinfo is None:
            value = value.replace(tzinfo=ctx.zone)
        if name == "to" and len(text) == 10:
            value += timedelta(days=1)
        return value

    now = utcnow().astimezone(ctx.zone)
    end = parse("to", now)
    start = parse("from", end - timedelta(days=30))
    if start >= end:
        raise bad_request("from must be before to (the range is backwards or empty)",
                          code="report_range_backwards")
    return start, end


def _answer(request: web.Request, rows: list[dict], name: str) -> web.Response:
    if request.query.get("format") == "csv":
        return web.Response(text=to_csv(rows), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"'})
    return web.json_response(rows)


async def _report(request: web.Request, compute) -> Any:
    """Supervisors only; `compute(ctx, start, end)` over the requested interval, its
    ValueError (an unknown group or period) answered as a 400."""
    _require_supervisor(request)
    ctx = request.app[CONTEXT]
    if request.query.get("format", "json") not in FORMATS:
        raise bad_request(f"format must be one of {', '.join(FORMATS)}")
    start, end = _interval(request)
    try:
        return await compute(ctx, start, end)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


@routes.get("/api/v1/reports/summary")
async def report_summary(request: web.Request) -> web.Response:
    rows = await _report(request, lambda ctx, start, end: summary(
        ctx.store.engine, start=start, end=end,
        group_by=request.query.get("group_by", "channel"), calendar=ctx.calendar))
    return _answer(request, rows, "summary")


@routes.get("/api/v1/reports/csat")
async def report_csat(request: web.Request) -> web.Response:
    """Satisfaction survey answers per queue, agent, channel, category or tag."""
    rows = await _report(request, lambda ctx, start, end: csat(
        ctx.store.engine, start=start, end=end,
        group_by=request.query.get("group_by", "queue")))
    return _answer(request, rows, "csat")


@routes.get("/api/v1/reports/presence")
async def report_presence(request: web.Request) -> web.Response:
    rows = await _report(request, lambda ctx, start, end: presence_report(
        ctx.store.engine, start=start, end=end, now=utcnow()))
    return _answer(request, rows, "presence")


@routes.get("/api/v1/reports/volumes")
async def report_volumes(request: web.Request) -> web.Response:
    rows = await _report(request, lambda ctx, start, end: volumes(
        ctx.store.engine, start=start, end=end, period=request.query.get("period", "day"),
        group_by=request.query.get("group_by"), calendar=ctx.calendar))
    return _answer(request, rows, "volumes")


@routes.get("/api/v1/reports/totals")
async def report_totals(request: web.Request) -> web.Response:
    result = await _report(request, lambda ctx, start, end: totals(
        ctx.store.engine, start, end, calendar=ctx.calendar))
    return web.json_response(result)


@routes.get("/api/v1/wallboard")
async def wallboard(request: web.Request) -> web.Response:
    _require_supervisor(request)
    ctx = request.app[CONTEXT]
    board = await live.wallboard(ctx.store.engine, ctx.config, ctx.calendar, utcnow(),
                                 ctx.channels)
    return web.json_response(board)
