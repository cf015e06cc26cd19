"""Usage queries at scale: quota, reports and the status line on a store of N exchanges.

Fills a fresh store (SQLite in a temp dir, or --database-url) with N finished exchanges over 30
days: 200 Claude Code sessions in 10 projects, a rate-limit reading on every exchange, tags on a
third. Every exchange has a context-anatomy vector. Then times each query R times and prints p50/p95 in ms, and the wall time of the
`anthropic-proxy statusline` command (a new Python process, as Claude Code runs it).

    .venv/bin/python bench/usage_queries.py [--exchanges 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from anthropic_proxy.monitor import anatomy, anatomy_totals, queries
from anthropic_proxy.storage import Store, open_store
from anthropic_proxy.usage import quota, report, statusline

DAYS = 30
NOW = time.time()


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    start = NOW - DAYS * 86400
    for i in range(n):
        at = start + i * DAYS * 86400 / n
        window = int(at // 18000 * 18000 + 18000)
        util = (at % 18000) / 18000
        out.append({
            "id": f"ex_bench{i:09d}", "started_at": at, "finished_at": at + 2.0,
            "kind": "messages", "mode": "anthropic", "method": "POST", "path": "/v1/messages",
            "query": "", "model": ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")[i % 3],
            "stream": 1, "state": "success", "status": 200, "request_bytes": 200_000,
            "response_bytes": 3000, "duration_ms": 2000.0, "ttft_ms": 700.0,
            "input_tokens": 12, "output_tokens": 300 + i % 500,
            "cache_creation_tokens": 800 + i % 1000, "cache_read_tokens": 40_000 + i % 60_000,
            "cost_usd": 0.02 + (i % 7) / 1000, "price_version": "bench",
            "session_id": f"sess-{i // 500:04d}", "project": f"/home/dev/project{(i // 500) % 10}",
            "tags": "bench,ci" if i % 3 == 0 else None, "preview": f"q{i}", "stored_bytes": 0,
            "ratelimit": orjson.dumps({
                "unified-5h-utilization": f"{util:.3f}", "unified-5h-reset": str(window),
                "unified-5h-status": "allowed", "unified-7d-utilization": "0.4",
                "unified-7d-reset": str(int(NOW + 3 * 86400)), "unified-7d-status": "allowed",
                "unified-status": "allowed"}).decode(),
        })  # fmt: skip
    return out


def add_anatomy(store: Store, data: list[dict[str, Any]]) -> None:
    """A context-anatomy vector for every exchange, kept as the monitor keeps them."""
    kept = []
    for i, r in enumerate(data):
        vector = {"system": 3000 + i % 7, "tools:builtin": 9000, "tools:mcp:github": 1500,
                  "tool_results:Bash": r["cache_read_tokens"] // 2, "user_text": 400 + i % 50,
                  "assistant_text": r["cache_read_tokens"] // 2 - 13_900 + i % 50}  # fmt: skip
        kept.append(anatomy_totals.Vector(r["id"], r["started_at"], vector, 0.01))
    anatomy_totals.keep(store, kept)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm the page cache and the statement cache
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.95 * len(runs)))]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--exchanges", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--database-url", default="")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store: Store = open_store(a.database_url, Path(tmp))
        store.open()
        t0 = time.perf_counter()
        data = rows(a.exchanges)
        for i in range(0, len(data), 2000):
            store.write(data[i : i + 2000], {})
        add_anatomy(store, data)
        if a.database_url:  # the planner's statistics, as autovacuum soon has them after a load
            store.execute("ANALYZE")
        print(f"{a.exchanges} exchanges written in {time.perf_counter() - t0:.0f} s")
        anatomist = anatomy.Anatomist()
        last = f"sess-{(a.exchanges - 1) // 500:04d}"
        day = report.Scope(since=NOW - 86400)
        given = {"session_id": f"sess-{(a.exchanges - 1) // 500:04d}"}
        cases: dict[str, Callable[[], Any]] = {
            "quota": lambda: quota.quota(store, now=NOW),
            "report daily (30 days)": lambda: report.report(store, "daily", report.Scope()),
            "report daily --by model": lambda: report.report(store, "daily", report.Scope(), True),
            "report blocks": lambda: report.report(store, "blocks", report.Scope()),
            "report session": lambda: report.report(store, "session", report.Scope()),
            "report project": lambda: report.report(store, "project", report.Scope()),
            "report tag": lambda: report.report(store, "tag", report.Scope()),
            "report daily, last 24 h": lambda: report.report(store, "daily", day),
            "statusline facts": lambda: statusline.facts(store, given, now=NOW),
            "anatomy totals (30 days)": lambda: anatomy_totals.aggregate(
                store, anatomist, queries.parse_filters({})
            ),
            "anatomy totals, one session": lambda: anatomy_totals.aggregate(
                store, anatomist, queries.parse_filters({"session": last})
            ),
        }
        for name, fn in cases.items():
            p50, p95 = timed(fn, a.repeat)
            print(f"{name:28s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        store.close()
        if not a.database_url:
            cmd = [sys.executable, "-m", "anthropic_proxy", "statusline", "--data-dir", tmp]
            walls = []
            for _ in range(max(5, a.repeat // 2)):
                t0 = time.perf_counter()
                subprocess.run(cmd, input=orjson.dumps(given), capture_output=True, check=True)
                walls.append((time.perf_counter() - t0) * 1000)
            walls.sort()
            py = []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                py.append((time.perf_counter() - t0) * 1000)
            print(f"statusline command wall      p50 {statistics.median(walls):7.1f} ms   "
                  f"p95 {walls[int(0.95 * (len(walls) - 1))]:7.1f} ms   "
                  f"(bare `python -c pass`: {min(py):.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
