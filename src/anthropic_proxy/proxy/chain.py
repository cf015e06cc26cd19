"""Walk a route's chain: try each step until one answers, while nothing has reached the client.

A step is a target (provider + model) with one key. Anthropic-kind steps are relayed byte for
byte (`passthrough`), openai-kind steps translated (`translated`, `backend/client`). Every
attempt is noted on the Capture (provider, model, masked key, status, error, when, how long)
and teaches `Health` (circuit breakers, benched keys). A failed attempt's response is closed
unread and the next step tried; the last possible step's answer is served as it is (in
pass-through an upstream error reaches the client unmodified). Once a status has been
committed to the client nothing is retried: a request is not idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp
from aiohttp import web

from anthropic_proxy.backend import client
from anthropic_proxy.backend.client import Call, Destination, TranslationContext
from anthropic_proxy.errors import (
    ProxyError,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from anthropic_proxy.exchange import Capture
from anthropic_proxy.proxy import passthrough, translated
from anthropic_proxy.proxy.headers import client_key
from anthropic_proxy.routing import failover, walk
from anthropic_proxy.routing.failover import Next, Verdict
from anthropic_proxy.routing.preset import OPENROUTER, OPENROUTER_KEY_ENV
from anthropic_proxy.routing.router import Router
from anthropic_proxy.wire import JSON

SERVE = Verdict(Next.SERVE)
MODES = {"anthropic": "anthropic", "openai": "openrouter"}
"""Capture.mode by provider kind: how the recorder reads and prices the exchange."""


class _Failed(Exception):
    """An attempt that produced no response: the verdict, and the error if it was the last."""

    def __init__(self, verdict: Verdict, error: ProxyError) -> None:
        super().__init__(error.message)
        self.verdict, self.error = verdict, error


async def serve(
    request: web.Request,
    capture: Capture,
    session: aiohttp.ClientSession,
    router: Router,
    plan: list[walk.Step],
    hop: str,
    completed: passthrough.Completed,
    body: JSON | None = None,
    ctx: TranslationContext | None = None,
) -> web.StreamResponse:
    """Serve a request over `plan`; `body` (parsed) and `ctx` are needed for openai steps."""
    index: int | None = 0
    while index is not None:
        step = plan[index]
        started = capture.elapsed()
        call: Call | None = None
        try:
            if step.provider.kind == "openai":
                assert body is not None and ctx is not None
                if ctx.catalog is not None:  # the first request waits briefly for the model list
                    seed = is_seed_backend(step, ctx)
                    base = ctx.config.base_url if seed else step.provider.base_url
                    await ctx.catalog.ready(base, "" if seed else step.key or "")
                call = _prepare(request, capture, body, ctx, step)
                local = await translated.local_reply(request, capture, body, call, ctx)
                if local is not None:  # answered without the backend
                    _served(capture, step)
                    return local
                upstream = await _send_translated(session, call)
            else:
                upstream = await _open_passthrough(request, capture, session, step, hop)
        except _Failed as failed:
            note(capture, step, None, failed.verdict.error, started)
            if failed.verdict.error != "no_key":
                walk.record(router.health, step, failed.verdict)
            index = walk.following(plan, index, failed.verdict)
            if index is None:
                raise failed.error from failed
            continue
        verdict = judge(step, upstream.status, upstream.headers)
        walk.record(router.health, step, verdict)
        note(capture, step, upstream.status, verdict.error, started)
        following = walk.following(plan, index, verdict)
        if following is None:
            _served(capture, step)
            if call is not None:
                assert body is not None and ctx is not None
                return await translated.reply(request, capture, body, call, upstream, ctx)
            return await passthrough.relay(request, capture, upstream, completed)
        upstream.close()
        index = following
    raise AssertionError("unreachable: a plan always ends in a served step")


async def _open_passthrough(
    request: web.Request,
    capture: Capture,
    session: aiohttp.ClientSession,
    step: walk.Step,
    hop: str,
) -> aiohttp.ClientResponse:
    if step.key is None:
        raise _Failed(Verdict(Next.TARGET, "no_key"), Unauthorized(_no_key_message(step)))
    path_qs = request.rel_url.raw_path_qs
    try:
        return await passthrough.open_upstream(request, capture, session, step, path_qs, hop)
    except (TimeoutError, aiohttp.ClientError) as exc:
        verdict = failover.on_connect_error(isinstance(exc, TimeoutError))
        raise _Failed(verdict, _unreachable(exc)) from exc


def _prepare(
    request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext, step: walk.Step
) -> Call:
    try:
        return _call(request, capture, body, ctx, step)
    except Unauthorized as error:  # no key for this backend: the next target may have one
        raise _Failed(Verdict(Next.TARGET, "no_key"), error) from error


def _call(
    request: web.Request, capture: Capture, body: JSON, ctx: TranslationContext, step: walk.Step
) -> Call:
    if is_seed_backend(step, ctx):  # the seed backend keeps its own key rules
        return client.prepare(request.headers, capture, body, ctx)
    key = step.key
    if step.provider.client_key:
        key = _non_anthropic(client_key(request.headers))
    elif key is None:
        raise _Failed(Verdict(Next.TARGET, "no_key"), Unauthorized(_no_key_message(step)))
    p = step.provider
    dest = Destination(p.base_url, key or "", step.target.model, p.headers, p.timeout_s)
    return client.prepare(request.headers, capture, body, ctx, dest)


async def _send_translated(session: aiohttp.ClientSession, call: Call) -> aiohttp.ClientResponse:
    try:
        return await client.send(session, call)
    except (UpstreamTimeout, UpstreamUnavailable) as error:
        raise _Failed(
            failover.on_connect_error(isinstance(error, UpstreamTimeout)), error
        ) from error


def is_seed_backend(step: walk.Step, ctx: TranslationContext) -> bool:
    p = step.provider
    return (
        p.name == OPENROUTER
        and p.key_env == (OPENROUTER_KEY_ENV,)
        and p.base_url == ctx.config.base_url
    )


def _non_anthropic(key: str) -> str:
    """A client's own key for an openai-kind provider; an Anthropic credential is never sent."""
    return "" if key.startswith("sk-ant-") else key


def _served(capture: Capture, step: walk.Step) -> None:
    capture.provider = step.provider.name
    capture.mode = MODES[step.provider.kind]
    if step.provider.kind == "anthropic" and capture.upstream_request is not None:
        # an earlier translated attempt failed: what it would have sent is not what served
        capture.upstream_request, capture.upstream_model = None, None
        capture.translation_changes = []


def judge(step: walk.Step, status: int, headers: Mapping[str, str]) -> Verdict:
    """A success with the client's own key needs no header reading (the hot path)."""
    if status < 400 and step.key_name == "client":
        return SERVE
    return failover.on_status(status, headers, time.time())


def note(
    capture: Capture, step: walk.Step, status: int | None, error: str | None, started: float
) -> None:
    """A tuple on the hot path; the recorder turns it into a dict (`record/build.py`)."""
    attempt = (step.provider.name, step.target.model, step.key_label, status, error, started)
    capture.attempts.append((*attempt, capture.elapsed()))


def _unreachable(exc: BaseException) -> UpstreamTimeout | UpstreamUnavailable:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("timed out connecting to the upstream")
    return UpstreamUnavailable(f"upstream unreachable: {exc}")


def _no_key_message(step: walk.Step) -> str:
    names = ", ".join(step.provider.key_env)
    return f"provider {step.provider.name!r} has no key: set {names} in the proxy's environment"
