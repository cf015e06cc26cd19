#!/usr/bin/env python3
"""Issue 4 performance: monitor reads over a store of 100,000 exchanges, filled directly.

    .venv/bin/python bench/store_scale_direct.py                      # fill /tmp/ap-scale, measure
    .venv/bin/python bench/store_scale_direct.py --skip-fill          # measure the same store again
    .venv/bin/python bench/store_scale_direct.py --http               # also through a running proxy
    .venv/bin/python bench/store_scale_direct.py --database-url postgresql://127.0.0.1/test?schema=bench

Filling goes through `store.write(rows, blobs)` in batches of 1,000: rows shaped like
`record/build.py` makes them (split request bodies, compressed response bodies and timelines,
masked headers), 300 Claude Code sessions with subagents, 10 models, both modes, mixed final
states (5% error, 1% timeout, 1% client_closed, a few pending), previews of ~600 characters,
started over the last 8 days. Then every read is run --repeat times (after one warm-up) through
the functions the API handlers call (`monitor.queries`, `monitor.details`, `monitor.stats`), and with --http also
over HTTP against `python -m anthropic_proxy --data-dir DIR` started on the same store. Output:
one line per read with p50/p95/max in ms and whether p95 meets the issue-4 target
(list and detail <= 20 ms, stats <= 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from anthropic_proxy.monitor import details, queries, stats  # noqa: E402
from anthropic_proxy.storage import Store, open_store  # noqa: E402
from anthropic_proxy.storage.bodies import Compressor, split  # noqa: E402

compress = Compressor()

MODELS = [
    ("claude-sonnet-4-5-20250929", 0.40, 3.0, 15.0),
    ("claude-haiku-4-5-20251001", 0.22, 1.0, 5.0),
    ("claude-opus-4-1-20250805", 0.08, 15.0, 75.0),
    ("claude-sonnet-4-20250514", 0.08, 3.0, 15.0),
    ("claude-3-7-sonnet-20250219", 0.05, 3.0, 15.0),
    ("claude-3-5-haiku-20241022", 0.05, 0.8, 4.0),
    ("claude-opus-4-20250514", 0.04, 15.0, 75.0),
    ("openai/gpt-5", 0.04, 1.25, 10.0),
    ("google/gemini-2.5-pro", 0.02, 1.25, 10.0),
    ("deepseek/deepseek-chat-v3", 0.02, 0.3, 0.9),
]
WORDS = (
    "the a refactor function test database index query latency cache token session agent tool "
    "result error retry stream config file path import module class method return value list "
    "dict string parse write read commit branch merge review build deploy server client proxy "
    "request response header body json schema migration table column row filter sort page "
    "python rust typescript go sql bash docker kubernetes memory thread async await lock"
).split()
TARGET_MS = {"list": 20.0, "detail": 20.0, "stats": 50.0}
DAY = 86400.0


def text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def make_rows(
    n: int, seed: int = 7, now: float | None = None
) -> list[tuple[list[dict[str, Any]], dict[str, bytes]]]:
    """Batches of (rows, blobs) for store.write."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    sessions = [f"{rng.getrandbits(128):032x}" for _ in range(300)]
    system = {"type": "text", "text": "You are Claude Code. " + text(rng, 400)}
    tools = [{"name": f"tool_{i}", "input_schema": {"type": "object"}} for i in range(12)]
    names = [m[0] for m in MODELS]
    weights = [m[1] for m in MODELS]
    prices = {m[0]: (m[2], m[3]) for m in MODELS}
    batches = []
    rows: list[dict[str, Any]] = []
    blobs: dict[str, bytes] = {}
    for i in range(n):
        started = now - 8 * DAY * (1 - i / n) + rng.random()
        model = rng.choices(names, weights)[0]
        mode = "openrouter" if "/" in model or rng.random() < 0.1 else "anthropic"
        kind = "count_tokens" if rng.random() < 0.05 else "messages"
        session = rng.choice(sessions)
        agent = f"agent-{rng.randrange(4)}" if rng.random() < 0.3 else None
        stream = int(rng.random() < 0.8)
        r = rng.random()
        state = (
            "error"
            if r < 0.05
            else "timeout"
            if r < 0.06
            else "client_closed"
            if r < 0.07
            else "pending"
            if r < 0.072 and i > n - 2000
            else "success"
        )
        asked = f"turn {i}: " + text(rng, rng.randrange(20, 60))
        body = {
            "model": model,
            "max_tokens": 8192,
            "stream": bool(stream),
            "system": [system],
            "tools": tools,
            "messages": [{"role": "user", "content": asked}],
        }
        ref, parts = split(body)
        blobs.update(parts)
        finished = state != "pending"
        duration = round(rng.lognormvariate(8.0, 0.9), 3) if finished else None
        ttft = round(duration * rng.uniform(0.05, 0.4), 3) if duration and stream else None
        usage = None
        if state == "success" and kind == "messages":
            usage = (
                rng.randrange(1, 4000),
                rng.randrange(1, 3000),
                rng.randrange(0, 20000),
                rng.randrange(0, 150000),
            )
        status = {
            "success": 200,
            "error": rng.choice((429, 500, 529, 400)),
            "timeout": None,
            "client_closed": 200,
            "pending": None,
        }[state]
        reply = text(rng, rng.randrange(40, 90))
        pin, pout = prices[model]
        row: dict[str, Any] = {
            "id": f"{int(started * 1000):013x}{rng.getrandbits(48):012x}",
            "started_at": started,
            "finished_at": started + duration / 1000 if duration else None,
            "kind": kind,
            "mode": mode,
            "method": "POST",
            "path": "/v1/messages" if kind == "messages" else "/v1/messages/count_tokens",
            "query": "",
            "client_addr": "127.0.0.1",
            "model": model,
            "upstream_model": model if mode == "openrouter" else None,
            "stream": stream,
            "state": state,
            "status": status,
            "request_ref": ref,
            "request_bytes": len(orjson.dumps(body)),
            "response_bytes": rng.randrange(300, 40000) if finished else 0,
            "ttfb_ms": round(duration * 0.03, 3) if duration else None,
            "ttft_ms": ttft,
            "duration_ms": duration,
            "input_tokens": usage[0] if usage else None,
            "output_tokens": usage[1] if usage else None,
            "cache_creation_tokens": usage[2] if usage else None,
            "cache_read_tokens": usage[3] if usage else None,
            "cost_usd": round(
                (usage[0] * pin + usage[1] * pout + usage[2] * pin * 1.25 + usage[3] * pin * 0.1)
                / 1e6,
                8,
            )
            if usage
            else None,
            "price_version": "bench",
            "stop_reason": "end_turn" if state == "success" else None,
            "upstream_request_id": f"req_{i:08d}",
            "session_id": session,
            "agent_id": agent,
            "parent_agent_id": None,
            "error_kind": {"error": "rate_limit_error", "timeout": "timeout"}.get(state),
            "error_message": "Number of request tokens has exceeded your per-minute rate limit"
            if state == "error"
            else "upstream idle for 600 s"
            if state == "timeout"
            else None,
            "preview": f"{asked[:300]}\n→ {reply[:300]}",
            "request_headers": json.dumps(
                {"x-api-key": "sk-ant-…masked", "anthropic-version": "2023-06-01"}
            ),
            "response_headers": json.dumps({"content-type": "text/event-stream"})
            if finished
            else None,
            "upstream_request": None,
            "response_body": compress(orjson.dumps({"content": [{"type": "text", "text": reply}]}))
            if finished
            else None,
            "timeline": compress(orjson.dumps([[0, "message_start", 400], [ttft or 0, "text", 80]]))
            if stream and finished
            else None,
            "blob_refs": list(parts),
        }
        row["stored_bytes"] = sum(len(row[c] or b"") for c in ("response_body", "timeline"))
        rows.append(row)
        if len(rows) == 1000:
            batches.append((rows, blobs))
            rows, blobs = [], {}
    if rows:
        batches.append((rows, blobs))
    return batches


def fill(store: Store, n: int) -> float:
    t0 = time.perf_counter()
    for rows, blobs in make_rows(n):
        known = store.known_blobs(list(blobs))
        store.write(rows, {h: b for h, b in blobs.items() if h not in known})
    while store.index_text(5000):  # what the recorder does when idle
        pass
    store.checkpoint()
    return time.perf_counter() - t0


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up (page cache, statement cache)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def cases(store: Store) -> list[tuple[str, str, dict[str, str]]]:
    """(group, label, query string) for every read measured."""
    one = store.fetch(
        "SELECT id, session_id, model FROM exchanges ORDER BY started_at DESC LIMIT 1"
    )[0]
    old = store.fetch("SELECT id FROM exchanges ORDER BY started_at LIMIT 1 OFFSET 5000")[0]
    total = store.fetch("SELECT COUNT(*) AS n FROM exchanges")[0]["n"]
    last = str(max(1, -(-total // 50)))
    now = time.time()
    filters: list[tuple[str, dict[str, str]]] = [
        ("all", {}),
        ("status=error", {"status": "error"}),
        ("status=failed", {"status": "failed"}),
        ("status=success", {"status": "success"}),
        ("model=opus-4-1", {"model": "claude-opus-4-1-20250805"}),
        ("model=sonnet-4-5", {"model": "claude-sonnet-4-5-20250929"}),
        ("provider=openrouter", {"provider": "openrouter"}),
        ("kind=count_tokens", {"kind": "count_tokens"}),
        ("timeRange=1h", {"timeRange": "1h"}),
        ("timeRange=24h", {"timeRange": "24h"}),
        ("timeRange=7d", {"timeRange": "7d"}),
        ("from/to 2 days", {"from": str(now - 5 * DAY), "to": str(now - 3 * DAY)}),
        ("session", {"session": one["session_id"]}),
        ("q=word (many)", {"q": "kubernetes"}),
        ("q=rare phrase", {"q": "turn 4242:"}),
        ("q=no match", {"q": "zzzyx-nothing"}),
        ("q=id", {"q": one["id"]}),
        ("q=model name", {"q": "opus"}),
        (
            "model+24h+success",
            {"model": "claude-sonnet-4-5-20250929", "timeRange": "24h", "status": "success"},
        ),
    ]
    out: list[tuple[str, str, dict[str, str]]] = [
        ("list", "page 1", {}),
        ("list", "page 50", {"page": "50"}),
        ("list", f"page {last} (last)", {"page": last}),
        ("list", "page 1 limit 1000", {"limit": "1000"}),
    ]
    out += [("list", f"{label}", q) for label, q in filters[1:]]
    out += [("list", f"{label} page 20", {**q, "page": "20"}) for label, q in filters[1:12:3]]
    for column in ("duration_ms", "cost_usd", "ttft_ms", "output_tokens", "status"):
        out.append(("list", f"sort -{column}", {"sort": f"-{column}"}))
        out.append(("list", f"sort {column} page 50", {"sort": column, "page": "50"}))
    out.append(
        (
            "list",
            "sort -duration_ms model",
            {"sort": "-duration_ms", "model": "claude-opus-4-1-20250805"},
        )
    )
    out.append(("list", "sort -cost_usd 24h", {"sort": "-cost_usd", "timeRange": "24h"}))
    out.append(("detail", "newest", {"id": one["id"]}))
    out.append(("detail", "older", {"id": old["id"]}))
    out += [("stats", label, q) for label, q in filters]
    return out


def run_direct(store: Store, repeat: int) -> list[tuple[str, str, list[float]]]:
    results = []
    for group, label, q in cases(store):
        if group == "detail":
            fn: Callable[[], Any] = lambda q=q: details.get_exchange(store, q["id"])  # noqa: E731
        elif group == "list":
            f, page = queries.parse_filters(q), queries.parse_page(q)
            fn = lambda f=f, page=page: queries.list_exchanges(store, f, page)  # noqa: E731
        else:
            f = queries.parse_filters(q)
            fn = lambda f=f: stats.compute(store, f)  # noqa: E731
        results.append((group, label, timed(fn, repeat)))
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_http(
    store: Store, data_dir: Path, database_url: str, repeat: int
) -> list[tuple[str, str, list[float]]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [
        sys.executable,
        "-m",
        "anthropic_proxy",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--log-level",
        "WARNING",
        "--max-records",
        "0",
        "--max-age",
        "0",
        "--max-db-size",
        "0",
    ]
    if database_url:
        cmd += ["--database-url", database_url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(proc.stderr.read().decode() if proc.stderr else "proxy did not start")
        results = []
        for group, label, q in cases(store):
            if group == "detail":
                url = f"{base}/api/monitor/requests/{q['id']}"
            else:
                path = "requests" if group == "list" else "stats"
                url = f"{base}/api/monitor/{path}?{urllib.parse.urlencode(q)}"

            def get(url: str = url) -> None:
                with urllib.request.urlopen(url, timeout=30) as r:
                    r.read()

            results.append((group, label, timed(get, repeat)))
        return results
    finally:
        proc.terminate()
        proc.wait(10)


def report(title: str, results: list[tuple[str, str, list[float]]]) -> dict[str, Any]:
    print(f"\n## {title}\n")
    print(f"| read | {'case':<28} | p50 ms | p95 ms | max ms | target |")
    print(f"|------|{'-' * 30}|-------:|-------:|-------:|--------|")
    worst: dict[str, float] = {}
    for group, label, times in results:
        p = p95(times)
        worst[group] = max(worst.get(group, 0.0), p)
        ok = "ok" if p <= TARGET_MS[group] else f"MISS (>{TARGET_MS[group]:.0f})"
        print(
            f"| {group:<6} | {label:<28} | {statistics.median(times):6.1f} | {p:6.1f} | {max(times):6.1f} | {ok} |"
        )
    print(
        "\nworst p95: "
        + ", ".join(f"{g} {v:.1f} ms (target {TARGET_MS[g]:.0f})" for g, v in worst.items())
    )
    return {"worst_p95": worst, "rows": [(g, lbl, p95(t)) for g, lbl, t in results]}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "ap-scale"))
    ap.add_argument(
        "--database-url", default="", help="PostgreSQL URL; default: SQLite in --data-dir"
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=40, help="timed runs per read (p95 over these)")
    ap.add_argument("--skip-fill", action="store_true", help="measure the store as it is")
    ap.add_argument(
        "--http", action="store_true", help="also measure through a running proxy's API"
    )
    ap.add_argument("--only", default="", help="only cases whose group or label contains this")
    ap.add_argument("--json", default="", help="write the p95 figures to this file")
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    if not args.skip_fill and not args.database_url:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(args.database_url, data_dir)
    store.open()
    if not args.skip_fill:
        if args.database_url:
            store.clear()
        print(f"filled {args.rows} exchanges in {fill(store, args.rows):.1f} s")
    n = store.fetch("SELECT COUNT(*) AS n FROM exchanges")[0]["n"]
    print(f"store: {n} exchanges, {store.size_bytes() / 1e6:.0f} MB")
    if args.only:
        keep = args.only
        global cases
        all_cases = cases
        cases = lambda s: [c for c in all_cases(s) if keep in c[0] or keep in c[1]]  # type: ignore[assignment]  # noqa: E731
    out = {
        "direct": report("direct (monitor.queries / monitor.stats)", run_direct(store, args.repeat))
    }
    if args.http:
        out["http"] = report(
            "HTTP (GET /api/monitor/...)", run_http(store, data_dir, args.database_url, args.repeat)
        )
    store.close()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
