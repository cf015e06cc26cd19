"""Walk a route's chain: try each step until one answers, while nothing has reached the client.

Every attempt is noted on the Capture (provider, model, masked key, status, error, when, how
long) and teaches `Health` (circuit breakers, benched keys). A failed attempt's response is
closed unread and the next step is tried; the last possible step's answer is relayed as it is
(an upstream error passes through unmodified). Once a status has been committed to the client
nothing is retried.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp
from aiohttp import web

from anthropic_proxy.errors import Unauthorized, UpstreamTimeout, UpstreamUnavailable
from anthropic_proxy.exchange import Capture
from anthropic_proxy.proxy import passthrough
from anthropic_proxy.routing import failover, walk
from anthropic_proxy.routing.failover import Next, Verdict
from anthropic_proxy.routing.router import Router

SERVE = Verdict(Next.SERVE)


async def relay(
    request: web.Request,
    capture: Capture,
    session: aiohttp.ClientSession,
    router: Router,
    plan: list[walk.Step],
    hop: str,
    completed: passthrough.Completed,
) -> web.StreamResponse:
    """Pass-through over `plan` (Anthropic-kind steps)."""
    path_qs = request.rel_url.raw_path_qs
    index: int | None = 0
    while index is not None:
        step = plan[index]
        started = capture.elapsed()
        if step.key is None:
            verdict = Verdict(Next.TARGET, "no_key")
            note(capture, step, None, verdict.error, started)
            index = walk.following(plan, index, verdict)
            if index is None:
                raise Unauthorized(_no_key_message(step))
            continue
        try:
            upstream = await passthrough.open_upstream(
                request, capture, session, step, path_qs, hop
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            verdict = failover.on_connect_error(isinstance(exc, TimeoutError))
            note(capture, step, None, verdict.error, started)
            walk.record(router.health, step, verdict)
            index = walk.following(plan, index, verdict)
            if index is None:
                raise _unreachable(exc) from exc
            continue
        verdict = judge(step, upstream.status, upstream.headers)
        walk.record(router.health, step, verdict)
        note(capture, step, upstream.status, verdict.error, started)
        following = walk.following(plan, index, verdict)
        if following is None:
            capture.provider = step.provider.name
            return await passthrough.relay(request, capture, upstream, completed)
        upstream.close()
        index = following
    raise AssertionError("unreachable: a plan always ends in a served step")


def judge(step: walk.Step, status: int, headers: Mapping[str, str]) -> Verdict:
    """A success with the client's own key needs no header reading (the hot path)."""
    if status < 400 and step.key_name == "client":
        return SERVE
    return failover.on_status(status, headers, time.time())


def note(
    capture: Capture, step: walk.Step, status: int | None, error: str | None, started: float
) -> None:
    capture.attempts.append(
        {
            "provider": step.provider.name,
            "model": step.target.model,
            "key": step.key_label,
            "status": status,
            "error": error,
            "t": round(started, 4),
            "ms": round((capture.elapsed() - started) * 1000, 1),
        }
    )


def _unreachable(exc: BaseException) -> UpstreamTimeout | UpstreamUnavailable:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("timed out connecting to the upstream")
    return UpstreamUnavailable(f"upstream unreachable: {exc}")


def _no_key_message(step: walk.Step) -> str:
    names = ", ".join(step.provider.key_env)
    return f"provider {step.provider.name!r} has no key: set {names} in the proxy's environment"
