"""Handlers for the dashboard pages and `/api/monitor/*`, the route table and `setup(app)`.

Handlers are glue: parse the query, run one library function in a worker thread (store calls
are synchronous), render JSON. Errors are ProxyErrors, rendered in Anthropic's shape by the
app's error middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy import __version__
from anthropic_proxy.errors import BadRequest, NotFound
from anthropic_proxy.monitor import (
    analyze,
    anatomy,
    anatomy_totals,
    details,
    events,
    export,
    queries,
    sessions,
    stats,
)
from anthropic_proxy.settings import Settings
from anthropic_proxy.state import STATE, AppState
from anthropic_proxy.usage import quota, report

WEB = Path(__file__).parent.parent / "web"
NO_CACHE = {"Cache-Control": "no-cache"}
HUB = web.AppKey("hub", events.EventHub)
FORMAT_PARAM = frozenset({"format"})
USAGE_PARAMS = frozenset({"report", "by", "tzOffset"})
ANATOMIST = web.AppKey("anatomist", anatomy.Anatomist)


def _state(request: web.Request) -> AppState:
    return request.app[STATE]


def _hub(request: web.Request) -> events.EventHub:
    hub = request.app[HUB]
    return hub


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(WEB / name, headers=NO_CACHE)


async def monitor_page(request: web.Request) -> web.StreamResponse:
    return _page("monitor.html")


async def config_page(request: web.Request) -> web.StreamResponse:
    return _page("config.html")


async def list_requests(request: web.Request) -> web.Response:
    queries.check_params(request.query, queries.PAGE_PARAMS)
    f, page = queries.parse_filters(request.query), queries.parse_page(request.query)
    return _json(await asyncio.to_thread(queries.list_exchanges, _state(request).store, f, page))


async def get_request(request: web.Request) -> web.Response:
    exchange_id = request.match_info["id"]
    found = await asyncio.to_thread(details.get_exchange, _state(request).store, exchange_id)
    if found is None:
        raise NotFound(f"no exchange {exchange_id!r}")
    if found["kind"] == "messages" and isinstance(found.get("request"), dict):
        found["anatomy"] = await asyncio.to_thread(
            anatomy.of_exchange, request.app[ANATOMIST], found
        )
    return _json(found)


async def get_stats(request: web.Request) -> web.Response:
    queries.check_params(request.query, stats.GROUP_BY_PARAM)
    f = queries.parse_filters(request.query)
    state = _state(request)
    result: dict[str, Any] = {**await asyncio.to_thread(stats.compute, state.store, f)}
    for name in stats.group_by(request.query.get("groupBy", "")):
        result[stats.GROUPINGS[name][0]] = await asyncio.to_thread(
            stats.grouped_by, state.store, f, name
        )
    # the seed's "Total Size": the whole store, whatever the filters, and its retention limit
    size = await asyncio.to_thread(state.store.size_bytes)
    result["storage"] = {"bytes": size, "limitBytes": state.settings.max_db_bytes or 0}
    return _json(result)


async def stream(request: web.Request) -> web.StreamResponse:
    return await events.stream(request, _hub(request))


async def clear(request: web.Request) -> web.Response:
    await asyncio.to_thread(_state(request).store.clear)
    _hub(request).cleared()
    return _json({"success": True})


async def server_config(request: web.Request) -> web.Response:
    """Server facts for the UI; never a secret (not even a masked one)."""
    state = _state(request)
    s = state.settings
    return _json(
        {
            "version": __version__,
            "logLevel": s.log_level,
            "host": s.host,
            "port": s.port,
            "mode": state.config.mode,
            "upstream": state.upstream_url,
            "authRequired": bool(s.auth_token) or not s.is_loopback,
            "database": "postgresql" if s.database_url.startswith("postgres") else "sqlite",
            "retention": {
                "maxRecords": s.max_records,
                "maxAgeS": s.max_age_s,
                "maxDbBytes": s.max_db_bytes,
            },
            "recorder": {
                "queued": state.recorder.depth,
                "backlogBytes": state.recorder.backlog_bytes,
                "backlogAgeS": state.recorder.backlog_age_s,
                "written": state.recorder.written,
                "dropped": state.recorder.dropped,
                "dropReason": state.recorder.drop_reason,
                "failedWrites": state.recorder.failed_writes,
            },
        }
    )


async def export_requests(request: web.Request) -> web.StreamResponse:
    queries.check_params(request.query, FORMAT_PARAM)
    fmt = request.query.get("format", "json")
    if fmt not in export.FORMATS:
        raise BadRequest(f"format: use one of {', '.join(export.FORMATS)}")
    f = queries.parse_filters(request.query)
    return await export.respond(request, _state(request).store, fmt, f)


async def analyze_report(request: web.Request) -> web.StreamResponse:
    """JSON with ?format=json (or Accept: application/json); otherwise the HTML view."""
    wants_json = request.query.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )
    queries.check_params(request.query, FORMAT_PARAM)
    f = queries.parse_filters(request.query)
    if not wants_json:
        return _page("analyze.html")
    return _json(await asyncio.to_thread(analyze.report, _state(request).store, f))


async def list_sessions(request: web.Request) -> web.Response:
    queries.check_params(request.query, queries.PAGE_PARAMS)
    f = queries.parse_filters(request.query)
    limit = queries.parse_page(request.query).limit
    return _json(
        {"data": await asyncio.to_thread(sessions.list_sessions, _state(request).store, f, limit)}
    )


async def get_session(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    found = await asyncio.to_thread(sessions.session_report, _state(request).store, session_id)
    if found is None:
        raise NotFound(f"no exchanges recorded for session {session_id!r}")
    return _json(found)


async def get_quota(request: web.Request) -> web.Response:
    queries.check_params(request.query)
    return _json(await asyncio.to_thread(quota.quota, _state(request).store))


async def get_usage(request: web.Request) -> web.Response:
    """A usage report (`report=daily|weekly|monthly|blocks|session|project|tag`, `by=model`),
    over the monitor's filters; days in the browser's zone (`tzOffset`, JS minutes)."""
    queries.check_params(request.query, USAGE_PARAMS)
    kind = request.query.get("report", "daily")
    if kind not in report.KINDS:
        raise BadRequest(f"report: use one of {', '.join(report.KINDS)}")
    f = queries.parse_filters(request.query)
    scope = report.Scope(
        since=f.since, until=f.until, project=f.project, tag=f.tag, session=f.session,
        model=f.models[0] if f.models else None,
    )  # fmt: skip
    try:
        offset = int(request.query.get("tzOffset", "0"))
    except ValueError:
        raise BadRequest(
            "tzOffset: minutes west of UTC, as JavaScript's getTimezoneOffset()"
        ) from None
    tz = timezone(timedelta(minutes=-offset)) if "tzOffset" in request.query else None
    by_model = request.query.get("by") == "model"
    store = _state(request).store
    return _json(await asyncio.to_thread(report.report, store, kind, scope, by_model, tz))


async def get_anatomy(request: web.Request) -> web.Response:
    """Context tokens and input cost by category, tool and MCP server over the filters."""
    queries.check_params(request.query)
    f = queries.parse_filters(request.query)
    store, anatomist = _state(request).store, request.app[ANATOMIST]
    return _json(await asyncio.to_thread(anatomy_totals.aggregate, store, anatomist, f))


async def get_session_context(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    store, anatomist = _state(request).store, request.app[ANATOMIST]
    found = await asyncio.to_thread(anatomy_totals.session_context, store, anatomist, session_id)
    if found is None:
        raise NotFound(f"no finished exchanges of the main agent in session {session_id!r}")
    return _json(found)


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/monitor", monitor_page),
        web.get("/config", config_page),
        web.static("/static", WEB),
        web.get("/api/monitor/requests", list_requests),
        web.get("/api/monitor/requests/{id}", get_request),
        web.get("/api/monitor/stats", get_stats),
        web.get("/api/monitor/stream", stream),
        web.post("/api/monitor/clear", clear),
        web.get("/api/monitor/config", server_config),
        web.get("/api/monitor/export", export_requests),
        web.get("/api/monitor/analyze", analyze_report),
        web.get("/api/monitor/sessions", list_sessions),
        web.get("/api/monitor/sessions/{id}", get_session),
        web.get("/api/monitor/quota", get_quota),
        web.get("/api/monitor/usage", get_usage),
        web.get("/api/monitor/anatomy", get_anatomy),
        web.get("/api/monitor/sessions/{id}/context", get_session_context),
    ]


def setup(app: web.Application, settings: Settings) -> None:
    """Everything the monitor adds to the app: the routes and the event hub's lifespan. Call
    it in `create_app` after the app's own lifespan is registered (the hub needs the store and
    recorder)."""
    app[ANATOMIST] = anatomy.Anatomist()
    app.router.add_routes(routes())
    app.cleanup_ctx.append(_hub_lifespan)
    app.on_shutdown.append(_stop_hub)


async def _hub_lifespan(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    hub = events.EventHub(state.store)
    hub.start()
    state.recorder.listen(hub.on_rows)
    app[HUB] = hub
    yield
    await hub.stop()


async def _stop_hub(app: web.Application) -> None:
    """Ends open SSE streams before the server waits for its handlers."""
    hub = app.get(HUB)
    if hub is not None:
        await hub.stop()
