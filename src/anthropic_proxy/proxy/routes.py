"""The forwarding surface: /v1/* plus the probes Claude Code sends to its base URL."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiohttp import web

from anthropic_proxy import __version__
from anthropic_proxy.errors import (
    BadRequest,
    LoopDetected,
    ProxyError,
    UpstreamBroken,
    error_response,
)
from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.proxy import chain, translated
from anthropic_proxy.proxy.body import (
    JSON_ROUTES,
    check_json_content_type,
    check_json_object,
    parse_json_body,
    read_body,
)
from anthropic_proxy.proxy.headers import LOOP_HEADER, client_key
from anthropic_proxy.routing.model import Provider
from anthropic_proxy.routing.published import published
from anthropic_proxy.routing.router import Router
from anthropic_proxy.routing.walk import Step
from anthropic_proxy.state import STATE, AppState

log = logging.getLogger("anthropic_proxy")
ROUTED = frozenset({"/v1/messages", "/v1/messages/count_tokens"})
"""Paths whose route depends on the request (model, traits); the rest go to the upstreams."""


async def forward(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.headers.get(LOOP_HEADER) == state.hop_token:
        return error_response(
            LoopDetected(
                "request loop: this request already passed through this proxy; check ANTHROPIC_UPSTREAM_URL"
            )
        )
    mode = state.config.mode
    capture = Capture(
        id=state.new_id(),
        method=request.method,
        path=request.path,
        query=request.query_string,
        client_addr=request.remote or "",
        request_headers=list(request.headers.items()),
        request_body=b"",
        mode=mode,
    )
    try:
        return await _serve(request, state, capture)
    except ProxyError as error:
        return _failed(capture, error)
    except asyncio.CancelledError:
        _client_left(capture)
        raise
    except ConnectionResetError:
        # The client hung up before its response could start (a wrk run ending, Claude Code
        # cancelled): nobody to answer. aiohttp ends a returned response quietly on the closed
        # connection, where a raised error was logged with its traceback.
        _client_left(capture)
        return web.Response(status=499)
    except Exception as exc:
        if capture.t_headers is not None:  # the response has started: nothing else to send
            raise
        log.exception("internal error serving %s %s", capture.method, capture.path)
        internal = ProxyError(f"internal proxy error ({type(exc).__name__}); see the proxy log")
        return _failed(capture, internal)
    finally:
        if capture.t_end is None:
            capture.finish(State.ERROR, "internal", "the proxy failed while serving this request")
        if not capture.handed_over:
            state.recorder.finish(capture)


def _client_left(capture: Capture) -> None:
    if capture.t_end is None:  # else the upstream's end came first: that is the outcome
        capture.finish(State.CLIENT_CLOSED, "client_closed", "the client disconnected")


async def _serve(request: web.Request, state: AppState, capture: Capture) -> web.StreamResponse:
    capture.request_body = await read_body(request, state.settings.max_body_bytes)
    state.recorder.begin(capture)
    router = state.router
    body: dict[str, Any] | None = None
    if capture.path in JSON_ROUTES and capture.method == "POST":
        check_json_content_type(request.headers.get("Content-Type"))
        if router.routing.needs_body:
            body = parse_json_body(capture.request_body)
        else:
            check_json_object(capture.request_body)
    if capture.path == "/v1/models" and router.routing.preset != "anthropic":
        routed = None if router.routing.preset == "openrouter" else published(router.routing)
        return await translated.serve_models(request, capture, {}, state.translation, routed)
    plan = _plan(request, router, capture, body)
    translating = any(step.provider.kind == "openai" for step in plan)
    if translating and body is None and capture.path in JSON_ROUTES:
        body = parse_json_body(capture.request_body)
    if capture.path != "/v1/messages" and plan[0].provider.kind == "openai":
        return await translated.serve_count_tokens(request, capture, body or {}, state.translation)
    if capture.path != "/v1/messages":  # only messages are translated; the rest pass through
        plan = [step for step in plan if step.provider.kind == "anthropic"]
    return await chain.serve(
        request,
        capture,
        state.session,
        router,
        plan,
        state.hop_token,
        state.recorder.finish,
        body,
        state.translation,
    )


def _plan(
    request: web.Request, router: Router, capture: Capture, body: dict[str, Any] | None
) -> list[Step]:
    """The steps to try: the route's for messages and token counts, the upstreams' otherwise."""
    if capture.path not in ROUTED:
        return router.plan(router.upstream_route, client_key(request.headers))
    route = router.route(request.headers, body, len(capture.request_body))
    if route is None:
        model = (body or {}).get("model")
        raise BadRequest(f"no route matches this request (model {model!r}): add a catch-all route")
    return router.plan(route, client_key(request.headers))


def _failed_state(error: ProxyError) -> State:
    """The state of an exchange the proxy answered with this error."""
    if isinstance(error, UpstreamBroken):
        return State.UPSTREAM_BROKEN
    return State.TIMEOUT if error.error_type == "timeout_error" else State.ERROR


def _failed(capture: Capture, error: ProxyError) -> web.Response:
    response = error_response(error)
    capture.status = response.status
    capture.response_headers = [(k, v) for k, v in response.headers.items()]
    capture.chunks.append(response.body if isinstance(response.body, bytes) else b"")
    capture.chunk_times.append(capture.elapsed())
    capture.finish(_failed_state(error), error.kind, error.message)
    return response


async def probe(request: web.Request) -> web.Response:
    """HEAD / and /api/hello: Claude Code's connectivity checks."""
    return web.Response(status=200)


async def root(request: web.Request) -> web.StreamResponse:
    if request.method == "HEAD":
        return web.Response(status=200)
    raise web.HTTPFound("/monitor")


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    recorder = state.recorder
    body = {
        "status": "healthy",
        "version": __version__,
        "mode": state.config.mode,
        # where the next request goes: the translation backend in translation mode
        "upstream": state.config.base_url
        if state.config.mode == "openrouter"
        else state.upstream_url,
        "upstreams": [p.base_url for p in _upstreams(state)],
        "timestamp": time.time(),
        "recorder": {
            "queued": recorder.depth,
            "backlog_bytes": recorder.backlog_bytes,
            "backlog_age_s": recorder.backlog_age_s,
            "written": recorder.written,
            "dropped": recorder.dropped,
            "drop_reason": recorder.drop_reason,
            "failed_writes": recorder.failed_writes,
            "restarts": recorder.restarts,
        },
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _upstreams(state: AppState) -> list[Provider]:
    routing = state.router.routing
    return [routing.providers[name] for name in routing.upstreams]


async def telemetry(request: web.Request) -> web.Response:
    """Claude Code's event logging, sent to the base URL by some versions: accepted and dropped."""
    await request.read()
    return web.Response(status=200, body=b"{}", content_type="application/json")


def routes() -> list[web.RouteDef]:
    return [
        web.route("*", "/v1/{tail:.*}", forward),
        web.route("HEAD", "/", root),
        web.get("/", root, allow_head=False),
        web.get("/health", health),
        web.route("*", "/api/hello", probe),
        web.post("/api/event_logging/batch", telemetry),
    ]
