"""The CPU routing adds to one pass-through request, measured in-process (issue 13).

End-to-end CPU per request (bench/run.py) on a shared 2-core machine varies by more than the
few microseconds routing costs, so this times exactly the per-request work routing added on
the happy path (the first target answers 200), against what the pass-through did before:

    before:  headers.request_headers(...)
    after:   router.route + router.plan (3-target chain) + headers.step_headers
             + chain.judge + chain.note + chain._served

Run: .venv/bin/python bench/routing_overhead.py [--chain 3] [--n 200000]
Compare the added microseconds with bench/run.py's "CPU us/req" for the proxy.
"""

from __future__ import annotations

import argparse
import time

from multidict import CIMultiDict, CIMultiDictProxy

from anthropic_proxy.exchange import Capture
from anthropic_proxy.proxy import chain, headers
from anthropic_proxy.routing import preset
from anthropic_proxy.routing.router import Router

CLAUDE_CODE_HEADERS = [
    ("Host", "127.0.0.1:8082"),
    ("Accept", "application/json"),
    ("Content-Type", "application/json"),
    ("User-Agent", "claude-cli/2.1.329 (external, cli)"),
    ("X-Stainless-Lang", "js"),
    ("X-Stainless-Package-Version", "0.60.0"),
    ("X-Stainless-Os", "Linux"),
    ("X-Stainless-Arch", "x64"),
    ("X-Stainless-Runtime", "node"),
    ("X-Stainless-Runtime-Version", "v22.0.0"),
    ("anthropic-version", "2023-06-01"),
    ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
    ("x-api-key", "sk-ant-api03-" + "x" * 80),
    ("x-app", "cli"),
    ("X-Claude-Code-Session-Id", "0b4c9f8e-1111-2222-3333-444455556666"),
    ("Content-Length", "2048"),
]
UPSTREAM_HEADERS = CIMultiDictProxy(CIMultiDict({"content-type": "application/json"}))


def before(incoming: CIMultiDictProxy[str], hop: str) -> None:
    headers.request_headers(incoming.items(), hop)


def after(router: Router, incoming: CIMultiDictProxy[str], hop: str, capture: Capture) -> None:
    route = router.route(incoming, None, 2048)
    assert route is not None
    plan = router.plan(route, headers.client_key(incoming))
    step = plan[0]
    started = capture.elapsed()
    headers.step_headers(incoming.items(), hop, step.provider, step.key)
    verdict = chain.judge(step, 200, UPSTREAM_HEADERS)
    chain.note(capture, step, 200, verdict.error, started)
    chain._served(capture, step)
    capture.attempts.clear()


def per_call_us(fn: object, n: int, *args: object) -> float:
    call = fn  # type: ignore[assignment]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            call(*args)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chain", type=int, default=3, help="targets in the --upstream chain")
    ap.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    urls = [f"http://127.0.0.1:{18200 + i}" for i in range(a.chain)]
    router = Router(preset.build("anthropic", urls, "https://openrouter.ai/api"), {})
    incoming = CIMultiDictProxy(CIMultiDict(CLAUDE_CODE_HEADERS))
    capture = Capture("ex", "POST", "/v1/messages", "beta=true", "127.0.0.1", [], b"")
    old = per_call_us(before, a.n, incoming, "hop")
    new = per_call_us(after, a.n, router, incoming, "hop", capture)
    print(
        f"chain of {a.chain}: before {old:.2f} us, after {new:.2f} us, added {new - old:.2f} us per request (best of 5 x {a.n})"
    )


if __name__ == "__main__":
    main()
