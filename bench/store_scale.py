#!/usr/bin/env python3
"""Issue 4: monitor API latency with a large store (default 100,000 exchanges).

    # start our fake upstream + the proxy (pinned like run.py), fill, measure:
    .venv/bin/python bench/store_scale.py --start
    # against a proxy that is already running and forwarding to bench/upstream.py:
    .venv/bin/python bench/store_scale.py --url http://127.0.0.1:8082
    # measure again without filling (e.g. after a restart on the same --data-dir):
    .venv/bin/python bench/store_scale.py --start --data-dir /tmp/ap-store-100k --skip-fill

Filling is honest: real POST /v1/messages go through the proxy to bench/upstream.py
(mixed models, 5% 429 / 2% 500 / 1% 529 answers, 10% streams, 2% 300 KB bodies,
every request with a unique last message, 300 Claude Code session ids), paced so
the recorder queue never overflows; the run checks /health for dropped records.
Then each query below is sent --queries times, one at a time on one keep-alive
connection, and p50/p95/p99 are reported against the issue-4 targets
(list and detail p95 <= 20 ms, stats p95 <= 50 ms).
"""

# ruff: noqa: UP031  (%-formatting kept: it also formats the bytes protocol lines)
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time

import aiohttp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bodies  # noqa: E402
import procs  # noqa: E402
import run as runner  # noqa: E402
from probe import pct  # noqa: E402

MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-20250514",
]
WEIGHTS = [0.55, 0.1, 0.3, 0.05]
API = "/api/monitor"
TARGET_MS = {"list": 20.0, "detail": 20.0, "stats": 50.0}


def templates():
    out = {}
    for model in MODELS:
        for size, make in (("small", bodies.small), ("large", bodies.large)):
            for stream in (False, True):
                b = make()
                b["model"] = model
                if stream:
                    b["stream"] = True
                out[(model, size, stream)] = json.dumps(b, ensure_ascii=False).encode()
    return out


async def health(s: aiohttp.ClientSession) -> dict:
    async with s.get("/health") as r:
        return await r.json()


async def fill(base: str, n: int, conc: int, max_queue: int, seed: int = 1) -> dict:
    """Send n requests through the proxy; pause whenever the recorder queue is deep."""
    rng = random.Random(seed)
    tm = templates()
    nonce = f"{random.randrange(1 << 16):04x}"
    sessions = ["%08x-bench-session-%04d" % (rng.randrange(1 << 32), i) for i in range(300)]
    sent = 0
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=conc)) as s:
        h0 = await health(s)

        def make(i):
            model = rng.choices(MODELS, WEIGHTS)[0]
            stream = rng.random() < 0.10
            size = "large" if rng.random() < 0.02 else "small"
            body = bodies.unique(tm[(model, size, stream)], "turn-%s%08d" % (nonce, i))
            hdr = {
                "content-type": "application/json",
                "anthropic-version": "2023-06-01",
                "x-api-key": "sk-ant-api03-bench-store-scale-0000000000000000",
                "x-claude-code-session-id": rng.choice(sessions),
                "user-agent": "claude-cli/2.1.0 (external, cli)",
            }
            if stream:
                hdr["x-bench-gap-ms"], hdr["x-bench-events"] = "0", "5"
            x = rng.random()
            if x < 0.05:
                hdr["x-bench-status"] = "429"
            elif x < 0.07:
                hdr["x-bench-status"] = "500"
            elif x < 0.08:
                hdr["x-bench-status"] = "529"
            return body, hdr

        async def worker(goal):
            nonlocal sent
            while sent < goal:
                i = sent
                sent += 1
                body, hdr = make(i)
                try:
                    async with s.post("/v1/messages", data=body, headers=hdr) as r:
                        await r.read()
                        statuses[r.status] = statuses.get(r.status, 0) + 1
                except aiohttp.ClientError:
                    statuses[-1] = statuses.get(-1, 0) + 1

        while sent < n:  # batches of 2000, then wait for the recorder to catch up
            goal = min(n, sent + 2000)
            await asyncio.gather(*(worker(goal) for _ in range(conc)))
            q = (await health(s)).get("recorder", {}).get("queued", 0)
            while q > max_queue:
                await asyncio.sleep(0.2)
                q = (await health(s)).get("recorder", {}).get("queued", 0)
            print(
                "  fill %6d/%d  %.0f req/s  queue=%s"
                % (sent, n, sent / (time.perf_counter() - t0), q),
                file=sys.stderr,
                flush=True,
            )
        while (await health(s)).get("recorder", {}).get("queued", 0) > 0:
            await asyncio.sleep(0.2)
        h1 = await health(s)
    dt = time.perf_counter() - t0
    r0, r1 = h0.get("recorder", {}), h1.get("recorder", {})
    return {
        "sent": n,
        "seconds": dt,
        "rps": n / dt,
        "statuses": statuses,
        "dropped": r1.get("dropped", 0) - r0.get("dropped", 0),
        "failed_writes": r1.get("failed_writes", 0) - r0.get("failed_writes", 0),
    }


def items_of(doc):
    """The list of exchanges in a list response, whatever the key."""
    if isinstance(doc, list):
        return doc
    for k in ("items", "requests", "exchanges", "data", "results", "rows"):
        if isinstance(doc.get(k), list):
            return doc[k]
    return []


def total_of(doc):
    if isinstance(doc, dict):
        for k in ("total", "count", "total_count"):
            if isinstance(doc.get(k), int):
                return doc[k]
        if isinstance(doc.get("pagination"), dict):
            return total_of(doc["pagination"])
    return None


async def timed(s, path, n, warmup=5):
    lat, status, size, doc = [], None, 0, None
    for i in range(n + warmup):
        t0 = time.perf_counter()
        async with s.get(path) as r:
            data = await r.read()
            status = r.status
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            lat.append(dt)
        size = len(data)
        if doc is None:
            try:
                doc = json.loads(data)
            except ValueError:
                doc = None
    r = {
        "path": path,
        "status": status,
        "bytes": size,
        "n": len(lat),
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "max_ms": max(lat),
    }
    print(
        "  %-90s %s p50=%.2f p95=%.2f ms" % (path[:90], status, r["p50_ms"], r["p95_ms"]),
        file=sys.stderr,
        flush=True,
    )
    return r, doc


async def measure(base: str, n: int, limit: int) -> dict:
    out = {"list": [], "detail": [], "stats": []}
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=1)) as s:
        r, doc = await timed(s, "%s/requests?page=1&limit=%d" % (API, limit), n)
        out["list"].append(r)
        total = total_of(doc) if doc is not None else None
        out["total_reported"] = total
        print("  list total={} status={}".format(total, r["status"]), file=sys.stderr)
        last = max(1, (total or 100_000) // limit)
        pages = [2, 10, last // 2, last]
        for p in pages:
            r, _ = await timed(s, "%s/requests?page=%d&limit=%d" % (API, p, limit), n)
            out["list"].append(r)
        filters = [
            "model=claude-opus-4-1-20250805",
            "model=claude-haiku-4-5-20251001",
            "status=429",
            "status=error",
            "status=failed",
            "model=claude-sonnet-4-5-20250929&status=500",
            "kind=messages",
            "mode=anthropic",
            "timeRange=24h",
            "session=",
            "q=turn",
            "sort=-duration_ms",
            "sort=-cost_usd",
        ]
        sess = None
        for f in filters:
            if f == "session=":
                if not sess:
                    continue
                f += sess
            for p in (1, 20):
                r, d = await timed(s, "%s/requests?page=%d&limit=%d&%s" % (API, p, limit, f), n)
                r["filter_total"] = total_of(d) if isinstance(d, dict) else None
                out["list"].append(r)
                if sess is None and isinstance(d, (dict, list)):
                    for it in items_of(d):
                        if isinstance(it, dict) and it.get("session_id"):
                            sess = it["session_id"]
                            break
        # detail: ids from several pages
        ids = []
        for p in (1, last // 3, last // 2, last):
            async with s.get("%s/requests?page=%d&limit=%d" % (API, max(1, p), limit)) as r:
                if r.status == 200:
                    ids += [it.get("id") for it in items_of(await r.json()) if isinstance(it, dict)]
        ids = [i for i in ids if i]
        if ids:
            rng = random.Random(5)
            lat, st = [], {}
            for i in range(n + 5):
                ex = rng.choice(ids)
                t0 = time.perf_counter()
                async with s.get(f"{API}/requests/{ex}") as r:
                    await r.read()
                    st[r.status] = st.get(r.status, 0) + 1
                if i >= 5:
                    lat.append((time.perf_counter() - t0) * 1000)
            out["detail"].append(
                {
                    "path": "%s/requests/{id} (%d distinct ids)" % (API, len(set(ids))),
                    "status": st,
                    "n": len(lat),
                    "p50_ms": pct(lat, 50),
                    "p95_ms": pct(lat, 95),
                    "p99_ms": pct(lat, 99),
                    "max_ms": max(lat),
                }
            )
        for q in (
            "",
            "?timeRange=24h",
            "?timeRange=7d",
            "?model=claude-haiku-4-5-20251001",
            "?status=failed",
        ):
            r, _ = await timed(s, f"{API}/stats{q}", n)
            out["stats"].append(r)
    return out


def report(res) -> str:
    out = [
        "## bench/store_scale.py {}".format(res["started"]),
        "",
        "exchanges requested: %d; fill: %s" % (res["exchanges"], json.dumps(res.get("fill"))),
        "list total reported by the API: {}; data dir: {} MiB; RSS after: {} MiB".format(
            res["measure"].get("total_reported"), res.get("data_dir_mib"), res.get("rss_mib")
        ),
        "",
        "| kind | request | status | p50 ms | p95 ms | p99 ms | target p95 | ok |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind in ("list", "detail", "stats"):
        for r in res["measure"][kind]:
            ok = r["p95_ms"] is not None and r["p95_ms"] <= TARGET_MS[kind]
            good = r["status"] == 200 or (
                isinstance(r["status"], dict) and set(r["status"]) == {200}
            )
            out.append(
                "| {} | `{}` | {} | {:.2f} | {:.2f} | {:.2f} | {:.0f} | {} |".format(
                    kind,
                    r["path"],
                    r["status"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    TARGET_MS[kind],
                    ("yes" if ok else "**no**") if good else "n/a (not 200)",
                )
            )
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", help="a running proxy that forwards to bench/upstream.py")
    ap.add_argument("--start", action="store_true", help="start bench/upstream.py and the proxy")
    ap.add_argument("--proxy-cmd", default=runner.DEFAULT_PROXY_CMD)
    ap.add_argument("--data-dir", help="with --start (default: a new temp dir)")
    ap.add_argument("--exchanges", type=int, default=100_000)
    ap.add_argument("--skip-fill", action="store_true")
    ap.add_argument("--fill-conns", type=int, default=16)
    ap.add_argument(
        "--max-queue", type=int, default=3000, help="pause filling above this recorder depth"
    )
    ap.add_argument("--queries", type=int, default=100, help="timed requests per query")
    ap.add_argument("--limit", type=int, default=50, help="page size")
    ap.add_argument("--upstream-port", type=int, default=18200)
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--save", metavar="NAME", help="also write bench/results/NAME.md and NAME.json")
    a = ap.parse_args()
    if not (a.url or a.start):
        ap.error("give --url or --start")
    ts = time.strftime("%Y%m%d-%H%M%S")
    rdir = os.path.join(HERE, "results", "runs", "store-" + ts)
    os.makedirs(rdir, exist_ok=True)
    res = {"started": ts, "exchanges": a.exchanges, "args": vars(a)}
    up = proxy = None
    pin = not a.no_pin and os.cpu_count() >= 2
    try:
        if a.start:
            if pin:
                os.sched_setaffinity(0, {0})
            up = runner.spawn(
                [runner.PY, os.path.join(HERE, "upstream.py"), "--port", str(a.upstream_port)],
                os.path.join(rdir, "upstream.log"),
                {0} if pin else None,
            )
            runner.wait_http("http://127.0.0.1:%d/health" % a.upstream_port, up)
            data_dir = a.data_dir or tempfile.mkdtemp(prefix="ap-store-")
            port = procs.free_port()
            cmd = a.proxy_cmd.format(
                python=runner.PY,
                port=port,
                host="127.0.0.1",
                data_dir=data_dir,
                upstream="http://127.0.0.1:%d" % a.upstream_port,
            )
            proxy = runner.spawn(
                ["/bin/sh", "-c", "exec " + cmd],
                os.path.join(rdir, "proxy.log"),
                {1} if pin else None,
                {"PYTHONPATH": os.path.join(runner.ROOT, "src")},
            )
            base = "http://127.0.0.1:%d" % port
            runner.wait_http(base + "/health", proxy)
            res["data_dir"] = data_dir
            print(f"proxy {base}, data {data_dir}", file=sys.stderr)
        else:
            base = a.url.rstrip("/")
        run_async = runner.Bench.run_async
        if not a.skip_fill:
            res["fill"] = run_async(None, fill(base, a.exchanges, a.fill_conns, a.max_queue))
            print("  filled: {}".format(res["fill"]), file=sys.stderr)
        res["measure"] = run_async(None, measure(base, a.queries, a.limit))
        if proxy:
            res["rss_mib"] = round(runner.tree_rss(proxy.pid)[0], 1)
            res["data_dir_mib"] = round(
                sum(
                    os.path.getsize(os.path.join(d, f))
                    for d, _, fs in os.walk(res["data_dir"])
                    for f in fs
                )
                / runner.MiB,
                1,
            )
    finally:
        runner.stop(proxy)
        runner.stop(up)
    with open(os.path.join(rdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    rep = report(res)
    with open(os.path.join(rdir, "report.md"), "w") as f:
        f.write(rep)
    print(rep)
    if a.save:
        for ext in ("md", "json"):
            src = os.path.join(rdir, "report.md" if ext == "md" else "results.json")
            with open(src) as fi, open(os.path.join(HERE, "results", f"{a.save}.{ext}"), "w") as fo:
                fo.write(fi.read())


if __name__ == "__main__":
    main()
