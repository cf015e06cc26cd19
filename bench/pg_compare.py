#!/usr/bin/env python3
"""PostgreSQL vs SQLite store, two instances vs one, and a frozen database mid-run.

    .venv/bin/python bench/pg_compare.py                 # ~3 minutes, prints markdown tables
    .venv/bin/python bench/pg_compare.py --quick         # ~1 minute
    .venv/bin/python bench/pg_compare.py --json out.json

Everything is on 127.0.0.1 and bounded by time. Targets, each behind the same fake upstream
(bench/upstream.py): `direct` (no proxy), `sqlite` (one proxy, SQLite store), `postgres` (one
proxy, PostgreSQL store in a throwaway schema), `postgres x2` (two proxies on one schema, the
client alternating between them like a round-robin balancer). Phases per target: latency at one
connection (non-stream, small body, unique per request) and throughput at `--conns` connections.

The freeze phase proves recording is off the hot path: the proxy reaches PostgreSQL through a
TCP relay in this process, and the relay stops moving bytes for `--freeze` seconds (the database
looks paused: connections stay open, nothing answers). The shared server is never touched:
no SIGSTOP on the postmaster, because CI and other tests use it. Latency is reported before,
during and after the freeze, with the recorder's queue depth, drops and writes from /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

import aiohttp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
PG = os.environ.get("ANTHROPIC_PROXY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01",
           "x-api-key": "sk-ant-bench-0000000000000000", "x-bench-gap-ms": "0"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1).read()
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Procs:
    def __init__(self, logdir: str) -> None:
        self.logdir, self.procs = logdir, list[subprocess.Popen[bytes]]()

    def start(self, name: str, argv: list[str], health: str) -> None:
        log = open(os.path.join(self.logdir, f"{name}.log"), "wb")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DATABASE"))}
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
        try:
            wait_http(health)
        except RuntimeError:
            with open(log.name, "rb") as fh:
                sys.stderr.write(fh.read()[-3000:].decode(errors="replace"))
            self.stop_all()
            raise

    def stop_all(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
            if p.poll() is None:
                p.kill()
        self.procs.clear()


def proxy_argv(port: int, upstream: str, data: str, db: str = "") -> list[str]:
    argv = [PY, "-m", "anthropic_proxy", "--port", str(port), "--upstream", upstream,
            "--data-dir", data, "--log-level", "WARNING"]  # fmt: skip
    return argv + (["--database-url", db] if db else [])


# ------------------------------------------------------------------ load


def body(n: int) -> bytes:
    text = f"bench turn {n} {secrets.token_hex(4)}: " + "lorem ipsum " * 100
    return json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 64,
                       "messages": [{"role": "user", "content": text}]}).encode()  # fmt: skip


async def load(urls: list[str], conns: int, seconds: float) -> list[tuple[float, float]]:
    """Closed loop: `conns` workers for `seconds`; returns (start time, latency s) per request."""
    out: list[tuple[float, float]] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while (t0 := time.perf_counter()) < deadline:
                n = next(counter)
                url = urls[n % len(urls)] + "/v1/messages"
                async with http.post(url, data=body(n), headers=HEADERS) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{url}: HTTP {r.status}")
                out.append((t0, time.perf_counter() - t0))

        await asyncio.gather(*(worker() for _ in range(conns)))
    return out


def summary(samples: list[tuple[float, float]], seconds: float) -> dict[str, float]:
    lat = sorted(s[1] * 1000 for s in samples)
    if not lat:
        return {"n": 0}
    pick = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]  # noqa: E731
    return {"n": len(lat), "rps": len(lat) / seconds, "p50": pick(50), "p90": pick(90),
            "p99": pick(99), "max": lat[-1], "mean": statistics.fmean(lat)}  # fmt: skip


def recorder_metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        for name in ("queue_depth", "dropped_total", "written_total", "failed_writes_total"):
            if line.startswith(f"anthropic_proxy_recorder_{name} "):
                out[name] = float(line.split()[1])
    return out


# ------------------------------------------------------------------ a freezable TCP relay


class FreezableRelay:
    """127.0.0.1:port -> PostgreSQL, in its own thread; `frozen` stops all bytes both ways."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self.loop = asyncio.new_event_loop()
        self.thawed: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> None:
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.thawed is not None
        await self.thawed.wait()
        up_r, up_w = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer))

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        assert self.thawed is not None
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                await self.thawed.wait()
                dst.write(data)
                await dst.drain()
        dst.close()

    def freeze(self, frozen: bool) -> None:
        assert self.thawed is not None
        self.loop.call_soon_threadsafe(self.thawed.clear if frozen else self.thawed.set)


def relay_url(relay: FreezableRelay, schema: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(PG)
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}127.0.0.1:{relay.port}{parts.path}?schema={schema}"


# ------------------------------------------------------------------ phases


def schema_url(schema: str) -> str:
    return f"{PG}{'&' if '?' in PG else '?'}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(urls: list[str], a: argparse.Namespace) -> dict[str, Any]:
    asyncio.run(load(urls, 4, 2))  # warm-up
    one = asyncio.run(load(urls, 1, a.seconds))
    many = asyncio.run(load(urls, a.conns, a.seconds))
    return {"c1": summary(one, a.seconds), f"c{a.conns}": summary(many, a.seconds)}


def recorder_totals(urls: list[str], wait_s: float = 30) -> list[dict[str, float]]:
    """The recorders' counters once their queues have drained (or after `wait_s`)."""
    deadline = time.time() + wait_s
    while True:
        stats = [recorder_metrics(u) for u in urls]
        if all(s["queue_depth"] == 0 for s in stats) or time.time() > deadline:
            return stats
        time.sleep(0.5)


def run_targets(a: argparse.Namespace, upstream: str, tmp: str) -> dict[str, Any]:
    results: dict[str, Any] = {"direct": measure([upstream], a)}
    schema = f"bench_{secrets.token_hex(4)}"
    targets = {"sqlite": [""], "postgres": [schema_url(schema)],
               "postgres x2": [schema_url(schema + "b")] * 2}  # fmt: skip
    try:
        for name, dbs in targets.items():
            procs = Procs(tmp)
            urls = []
            for i, db in enumerate(dbs):
                port = free_port()
                data = os.path.join(tmp, f"{name.replace(' ', '_')}-{i}")
                procs.start(f"{name}-{i}", proxy_argv(port, upstream, data, db),
                            f"http://127.0.0.1:{port}/health")  # fmt: skip
                urls.append(f"http://127.0.0.1:{port}")
            try:
                results[name] = measure(urls, a)
                t0 = time.time()
                results[name]["recorder"] = recorder_totals(urls)
                results[name]["drain_s"] = round(time.time() - t0, 1)
            finally:
                procs.stop_all()
            print(f"  {name}: done", file=sys.stderr)
    finally:
        drop_schema(schema)
        drop_schema(schema + "b")
    return results


def run_freeze(a: argparse.Namespace, upstream: str, tmp: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(PG)
    relay = FreezableRelay((parts.hostname or "127.0.0.1", parts.port or 5432))
    relay.start()
    schema = f"bench_{secrets.token_hex(4)}"
    procs = Procs(tmp)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        procs.start("freeze", proxy_argv(port, upstream, os.path.join(tmp, "freeze"),
                                         relay_url(relay, schema)), url + "/health")  # fmt: skip
        asyncio.run(load([url], 4, 2))
        phase = a.freeze

        async def scenario() -> tuple[list[tuple[float, float]], dict[str, Any], float, float]:
            task = asyncio.create_task(load([url], a.conns, 3 * phase))
            await asyncio.sleep(phase)
            t_freeze = time.perf_counter()
            relay.freeze(True)
            await asyncio.sleep(phase - 0.5)
            during = await asyncio.to_thread(recorder_metrics, url)
            await asyncio.sleep(0.5)
            relay.freeze(False)
            t_thaw = time.perf_counter()
            return await task, during, t_freeze, t_thaw

        samples, during, t_freeze, t_thaw = asyncio.run(scenario())
        time.sleep(3)
        after = recorder_metrics(url)
        windows = {
            "before": [s for s in samples if s[0] < t_freeze],
            "frozen": [s for s in samples if t_freeze <= s[0] < t_thaw],
            "after": [s for s in samples if s[0] >= t_thaw],
        }
        spans = {"before": t_freeze - samples[0][0], "frozen": t_thaw - t_freeze,
                 "after": samples[-1][0] - t_thaw}  # fmt: skip
        out: dict[str, Any] = {k: summary(v, spans[k]) for k, v in windows.items()}
        out["recorder_during_freeze"], out["recorder_after"] = during, after
        return out
    finally:
        procs.stop_all()
        relay.freeze(False)
        drop_schema(schema)


def table(results: dict[str, Any], conns: int) -> str:
    direct = results["direct"]
    head = f"| target | c1 p50 ms | c1 p99 ms | added p50 ms | c{conns} req/s | c{conns} p50 ms | c{conns} p99 ms | recorder drained in |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        c1, cn = r["c1"], r[f"c{conns}"]
        added = c1["p50"] - direct["c1"]["p50"]
        drain = f"{r['drain_s']:.1f} s" if "drain_s" in r else "-"
        lines.append(f"| {name} | {c1['p50']:.2f} | {c1['p99']:.2f} | {added:+.2f} | "
                     f"{cn['rps']:.0f} | {cn['p50']:.2f} | {cn['p99']:.2f} | {drain} |")  # fmt: skip
    return "\n".join(lines)


def freeze_table(r: dict[str, Any], conns: int) -> str:
    lines = [
        f"| window (c{conns}) | requests | req/s | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for k in ("before", "frozen", "after"):
        s = r[k]
        lines.append(
            f"| {k} | {s['n']} | {s['rps']:.0f} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.1f} |"
        )
    d, f = r["recorder_during_freeze"], r["recorder_after"]
    lines.append(f"\nrecorder while frozen: queue {d['queue_depth']:.0f}, dropped {d['dropped_total']:.0f}, "
                 f"written {d['written_total']:.0f}; 3 s after thaw: queue {f['queue_depth']:.0f}, "
                 f"dropped {f['dropped_total']:.0f}, written {f['written_total']:.0f}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="per load phase")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--freeze", type=float, default=6.0, help="seconds the database is frozen")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--phases", default="targets,freeze", help="comma separated: targets,freeze")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.freeze = 3.0, 4.0
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        up_port = free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        ups = Procs(tmp)
        ups.start("upstream", [PY, os.path.join(HERE, "upstream.py"), "--port", str(up_port)],
                  upstream + "/health")  # fmt: skip
        try:
            results = {}
            if "targets" in a.phases:
                results["targets"] = run_targets(a, upstream, tmp)
                print(table(results["targets"], a.conns), file=sys.stderr)
            if "freeze" in a.phases:
                results["freeze"] = run_freeze(a, upstream, tmp)
        finally:
            ups.stop_all()
    if "targets" in results:
        print(f"## Store and instances ({a.seconds:.0f} s phases, non-stream ~1.3 KB bodies)\n")
        print(table(results["targets"], a.conns))
    if "freeze" in results:
        print(f"\n## PostgreSQL frozen for {a.freeze:.0f} s mid-run (TCP relay stops all bytes)\n")
        print(freeze_table(results["freeze"], a.conns))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
