#!/usr/bin/env python3
"""anthropic-proxy overhead benchmark: direct vs. a bare aiohttp relay vs. anthropic-proxy.

    .venv/bin/python bench/run.py                   # full run (~5 min), prints markdown tables
    .venv/bin/python bench/run.py --quick           # shorter phases (~2 min)
    .venv/bin/python bench/run.py --soak 600        # 10-minute soak of the proxy: RSS over time

Everything runs on 127.0.0.1 and every phase is bounded by time (wrk -d) or count.
Client (wrk, stream probe, load driver) and the fake upstream run on CPU 0, the
relay / proxy under test on CPU 1 (--no-pin to disable).  Raw results go to
bench/results/runs/<timestamp>/ (git-ignored); --save NAME also writes
bench/results/NAME.md and NAME.json (meant to be committed).  See bench/README.md.
"""

# ruff: noqa: UP031  (%-formatting kept: it also formats the bytes protocol lines)
# Over the ~400-line rule on purpose: this is the benchmark's protocol (targets, phases, what
# each phase counts, the tables), read end to end by whoever quotes a figure from it; the
# reusable parts live beside it (procs.py: processes and /proc CPU, bodies.py, upstream.py).
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bodies  # noqa: E402
import probe  # noqa: E402
import procs  # noqa: E402

PY = sys.executable
DEFAULT_PROXY_CMD = (
    "{python} -m anthropic_proxy --host 127.0.0.1 --port {port} "
    "--upstream {upstream} --data-dir {data_dir}"
)
SIZES = {"small": "2KB", "large": "300KB"}
MiB = 1024 * 1024
T = TypeVar("T")
Result = dict[str, Any]


# --------------------------------------------------------------------------- processes
Proc = subprocess.Popen[bytes]


def _pinner(cpus: set[int] | None) -> Callable[[], None]:
    def f() -> None:
        os.setsid()
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    return f


def spawn(
    argv: list[str], log: str, cpus: set[int] | None, env: dict[str, str] | None = None
) -> Proc:
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pinner(cpus),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )


def stop(p: Proc | None) -> None:
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)


def wait_http(url: str, proc: Proc | None, seconds: float = 30.0) -> None:
    t_end = time.time() + seconds
    while time.time() < t_end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} in {seconds}s")


def up_or_stop(url: str, proc: Proc) -> None:
    """wait_http, and the process is stopped if it does not answer (no orphan left behind)."""
    try:
        wait_http(url, proc)
    except BaseException:
        stop(proc)
        raise


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants (the proxy's recorder process) and its
    reaped children (a recorder that was restarted)."""
    return procs.cpu(pid).total


def tree_rss(pid: int) -> tuple[float, float]:
    """(rss, peak rss = VmHWM) summed over the process tree, MiB."""
    rss = hwm = 0
    for p in [pid, *procs.descendants(pid)]:
        with contextlib.suppress(OSError), open("/proc/%d/status" % p) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1]) * 1024
    return rss / MiB, hwm / MiB


def own_cpu() -> float:
    """CPU seconds of this process, its live descendants and its reaped children (wrk)."""
    return tree_cpu(os.getpid())


class OtherLoad:
    """CPU used by processes outside the benchmark during a phase, % of one core."""

    pct = 0.0

    def __enter__(self) -> OtherLoad:
        self.b0, self.o0, self.w0 = procs.busy_cpu_s(), own_cpu(), time.time()
        return self

    def __exit__(self, *exc: object) -> None:
        other = (procs.busy_cpu_s() - self.b0) - (own_cpu() - self.o0)
        self.pct = max(0.0, 100.0 * other / max(1e-3, time.time() - self.w0))


def busy(rec: dict[str, Any]) -> bool:
    """The recorder has a backlog (or /health did not answer)."""
    return bool(rec.get("queued", 1) > 0 or rec.get("backlog_bytes", 0) > 0)


def upstream_count(port: int) -> int:
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=5) as r:
        return int(json.load(r)["messages"])


# --------------------------------------------------------------------------- bench
class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.ts = time.strftime("%Y%m%d-%H%M%S")
        self.dir = os.path.join(HERE, "results", "runs", self.ts)
        os.makedirs(self.dir, exist_ok=True)
        self.pin = not a.no_pin and (os.cpu_count() or 1) >= 2
        self.client_cpus = {0} if self.pin else None
        self.proxy_cpus = {1} if self.pin else None
        if self.client_cpus is not None:
            os.sched_setaffinity(0, self.client_cpus)
        self.wrk = shutil.which("wrk") if not a.no_wrk else None
        self.files = {}
        self.tmpl = {}
        for size in SIZES:
            for stream in (False, True):
                k = size + ("_stream" if stream else "")
                self.tmpl[k] = bodies.template(size, stream)
                for variant, data in (("same", bodies.fixed(size, stream)), ("grow", self.tmpl[k])):
                    path = os.path.join(self.dir, f"{k}_{variant}.json")
                    with open(path, "wb") as f:
                        f.write(data)
                    self.files[(k, variant)] = path
        self.uid = 0
        self.results: Result = {
            "started": self.ts,
            "args": vars(a),
            "machine": self.machine(),
            "bodies": {"{}_{}".format(*k): os.path.getsize(p) for k, p in self.files.items()},
            "targets": {},
        }

    def machine(self) -> Result:
        info = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "pinned": self.pin,
        }
        try:
            import aiohttp

            info["aiohttp"] = aiohttp.__version__
        except ImportError:
            pass
        if self.wrk:
            r = subprocess.run([self.wrk, "--version"], capture_output=True, text=True)
            info["wrk"] = (r.stdout or r.stderr).split("\n")[0][:60]
        with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as fh:
            info["cpu_model"] = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
        info["git"] = (
            subprocess.run(
                ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            or None
        )
        return info

    def next_uid(self) -> str:
        """17 chars, like bodies.FIXED: unique over runs (nonce) and requests."""
        self.uid += 1
        return "turn-%s%08d" % (self.nonce, self.uid)

    # ----------------------------------------------------------------- servers
    def start_upstream(self) -> None:
        self.up_port = self.a.upstream_port
        self.up = spawn(
            [
                PY,
                os.path.join(HERE, "upstream.py"),
                "--port",
                str(self.up_port),
                "--events",
                str(self.a.events),
                "--gap-ms",
                str(self.a.gap_ms),
            ],
            os.path.join(self.dir, "upstream.log"),
            self.client_cpus,
        )
        up_or_stop("http://127.0.0.1:%d/health" % self.up_port, self.up)
        self.upstream = "http://127.0.0.1:%d" % self.up_port

    def start_target(self, name: str) -> tuple[Proc | None, int]:
        if name == "direct":
            return None, self.up_port
        port = procs.free_port()
        log = os.path.join(self.dir, f"{name}.log")
        if name == "relay":
            argv = [
                PY,
                os.path.join(HERE, "relay.py"),
                "--port",
                str(port),
                "--upstream",
                self.upstream,
            ]
            env = {}
        else:
            self.data_dir = tempfile.mkdtemp(prefix="ap-bench-data-")
            cmd = self.a.proxy_cmd.format(
                python=shlex.quote(PY),
                port=port,
                upstream=self.upstream,
                data_dir=self.data_dir,
                host="127.0.0.1",
            )
            argv = ["/bin/sh", "-c", "exec " + cmd]
            env = {"ANTHROPIC_UPSTREAM_URL": self.upstream, "PYTHONPATH": os.path.join(ROOT, "src")}
        p = spawn(argv, log, self.proxy_cpus, env)
        up_or_stop("http://127.0.0.1:%d/health" % port, p)
        return p, port

    # ----------------------------------------------------------------- phases
    def wrk_phase(
        self,
        proc: Proc | None,
        port: int,
        size: str,
        variant: str,
        conns: int,
        seconds: int,
        phase: str | None = None,
    ) -> Result:
        out = os.path.join(self.dir, "wrk-last.json")
        env = {
            **os.environ,
            "BENCH_BODY": self.files[(size, variant)],
            "BENCH_MODE": variant,
            "BENCH_NONCE": secrets.token_hex(2),
            "BENCH_OUT": out,
        }
        cpu0, n0, w0 = tree_cpu(proc.pid) if proc else 0, upstream_count(self.up_port), time.time()
        rec0 = self.recorder(port) if proc else {}
        spy = self.start_profile(proc, phase, seconds)
        with OtherLoad() as ol:
            res = self._wrk_phase(port, size, variant, conns, seconds, env, out)
        res["other_load_pct"] = ol.pct
        cpu_wrk, wall = (tree_cpu(proc.pid) if proc else 0) - cpu0, time.time() - w0
        if spy:
            res["profile"] = self.finish_profile(spy, phase)
        if proc and rec0:  # the recorder finishes this phase's work, and its CPU is charged to it
            res.update(self.settle(proc, port, rec0))
        res["upstream_messages"] = upstream_count(self.up_port) - n0
        if proc:
            cpu = tree_cpu(proc.pid) - cpu0
            res["cpu_s"] = cpu
            res["cpu_us_per_req"] = cpu / max(1, res["requests"]) * 1e6
            res["cpu_util"] = cpu_wrk / wall
        return res

    def _wrk_phase(
        self,
        port: int,
        size: str,
        variant: str,
        conns: int,
        seconds: int,
        env: dict[str, str],
        out: str,
    ) -> Result:
        if self.wrk:
            r = subprocess.run(
                [
                    self.wrk,
                    "-t1",
                    "-c%d" % conns,
                    "-d%ds" % seconds,
                    "--timeout",
                    "30s",
                    "-s",
                    os.path.join(HERE, "post.lua"),
                    "http://127.0.0.1:%d" % port,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
            with open(out) as f:
                w = json.load(f)
            res = {
                "requests": w["requests"],
                "seconds": w["duration_us"] / 1e6,
                "rps": w["requests"] / (w["duration_us"] / 1e6),
                "errors": sum(w["errors"].values()),
                "lat_ms": {k: v / 1000 for k, v in w["lat_us"].items()},
            }
            if res["errors"]:
                res["wrk_stderr"] = (r.stdout + r.stderr)[-400:]
        else:  # closed-loop aiohttp fallback, bounded by count
            tmpl = self.tmpl[size] if variant == "grow" else None
            with open(self.files[(size, variant)], "rb") as fh:
                same = fh.read()
            n = max(200, int(seconds * (400 if size == "large" else 1500) * min(conns, 4)))
            lo = self.run_async(
                probe.load(
                    "http://127.0.0.1:%d" % port,
                    n,
                    conns,
                    lambda i: (bodies.unique(tmpl, self.next_uid()) if tmpl else same, {}),
                )
            )
            res = {
                "requests": n,
                "seconds": lo["seconds"],
                "rps": lo["rps"],
                "errors": n - lo["statuses"].get(200, 0),
                "lat_ms": {"p50": lo["lat_ms_p50"], "p99": lo["lat_ms_p99"]},
            }
        return res

    def start_profile(
        self, proc: Proc | None, phase: str | None, seconds: int
    ) -> tuple[subprocess.Popen[bytes], str] | None:
        """py-spy record of the proxy during one phase (--profile PHASE[,PHASE])."""
        if not proc or not phase or phase not in self.a.profile or self.name != "proxy":
            return None
        spy = shutil.which("py-spy") or os.path.join(os.path.dirname(PY), "py-spy")
        out = os.path.join(self.dir, f"py-spy-{phase}.txt")
        p = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(proc.pid),
                "--threads",
                "--rate",
                "200",
                "--duration",
                str(seconds),
                "--format",
                "raw",
                "-o",
                out,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return p, out

    def finish_profile(
        self, spy: tuple[subprocess.Popen[bytes], str], phase: str | None
    ) -> str | None:
        p, out = spy
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        if not os.path.exists(out):
            return None
        import pyspy_summary

        text = pyspy_summary.summarise(out, 25)
        with open(out[:-4] + "-summary.txt", "w") as fh:
            fh.write(text + "\n")
        print(text, file=sys.stderr)
        return out

    def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            import uvloop

            return uvloop.run(coro)
        except ImportError:
            return asyncio.run(coro)

    def stream_phase(self, proc: Proc | None, port: int, size: str, conc: int, n: int) -> Result:
        variant = self.a.stream_variant
        tmpl = self.tmpl[size + "_stream"]
        same = bodies.fixed(size, True)

        def body() -> bytes:
            return bodies.unique(tmpl, self.next_uid()) if variant == "grow" else same

        rec0 = self.recorder(port) if proc else {}
        with OtherLoad() as ol:
            r = self.run_async(
                probe.streams("127.0.0.1", port, body, n, conc, warmup=1, events=self.a.events)
            )
        r["other_load_pct"] = ol.pct
        if proc and rec0:
            r.update(self.settle(proc, port, rec0))
        return r

    def rss_phase(self, proc: Proc | None, port: int, n: int) -> Result:
        """n requests, unique last message, 45% 2KB, 45% 300KB, 10% streams (no gaps)."""

        def make(i: int) -> tuple[bytes, dict[str, str]]:
            k = i % 20
            if k < 2:
                return bodies.unique(
                    self.tmpl["small_stream" if k == 0 else "large_stream"], self.next_uid()
                ), {"x-bench-gap-ms": "0"}
            return bodies.unique(self.tmpl["small" if k % 2 else "large"], self.next_uid()), {}

        rec0 = self.recorder(port) if proc else {}
        r = self.run_async(probe.load("http://127.0.0.1:%d" % port, n, 16, make))
        r["rss_loaded_mib"] = tree_rss(proc.pid)[0] if proc else None
        rec = self.recorder(port) if proc else {}
        r["queued_at_end"] = rec.get("queued")
        if proc and rec0:  # RSS is read once the recorder has caught up: backlog is not growth
            r.update(self.settle(proc, port, rec0))
        r["rss_mib"], r["hwm_mib"] = tree_rss(proc.pid) if proc else (None, None)
        return r

    def measure(self, name: str) -> Result:
        a = self.a
        self.name = name
        proc, port = self.start_target(name)
        res: Result = {"phases": {}}
        try:
            if proc:
                res["rss_start_mib"] = tree_rss(proc.pid)[0]
            # warm-up: connection pools, caches, lazy imports
            for size in SIZES:
                self.wrk_phase(proc, port, size, "grow", 8, 1)
            ph = res["phases"]
            for variant in a.variants:
                for size in SIZES:
                    k = f"lat_{size}_{variant}"
                    ph[k] = self.wrk_phase(proc, port, size, variant, 1, a.lat_seconds, k)
                    self.log(name, f"lat_{size}_{variant}", ph[f"lat_{size}_{variant}"])
                for size in SIZES:
                    for c in a.conns:
                        k = "tput_%s_%s_c%d" % (size, variant, c)
                        ph[k] = self.wrk_phase(proc, port, size, variant, c, a.tput_seconds, k)
                        self.log(name, k, ph[k])
            for size in SIZES:
                k = f"stream_{size}"
                ph[k] = self.stream_phase(proc, port, size, 1, a.streams)
                self.log(name, k, ph[k])
            ph["stream_small_c16"] = self.stream_phase(
                proc, port, "small", 16, max(2, a.streams // 2)
            )
            self.log(name, "stream_small_c16", ph["stream_small_c16"])
            if a.rss_requests:
                res["rss_before_mib"] = tree_rss(proc.pid)[0] if proc else None
                for i in (1, 2):
                    k = "rss_%d" % i
                    ph[k] = self.rss_phase(proc, port, a.rss_requests)
                    self.log(name, k, ph[k])
            if proc:
                res["rss_end_mib"], res["peak_rss_mib"] = tree_rss(proc.pid)
            if name == "proxy":
                res["health"] = self.health(port)
                res["data_dir_mib"] = (
                    sum(
                        os.path.getsize(os.path.join(d, f))
                        for d, _, fs in os.walk(self.data_dir)
                        for f in fs
                    )
                    / MiB
                )
        finally:
            stop(proc)
            if name == "proxy" and not a.keep_data:
                shutil.rmtree(self.data_dir, ignore_errors=True)
        return res

    def settle(self, proc: Proc, port: int, rec0: Result, seconds: float = 300.0) -> Result:
        """Wait until the recorder has written the phase's backlog (/health: nothing queued, no
        backlog bytes) and done the idle work that follows (text indexing, checkpoint: until the
        process tree's CPU stops growing), so that CPU read after this counts all the work.
        drained False: the wait timed out, the phase's CPU is short of its recording work."""
        t0 = time.time()
        rec = self.recorder(port)
        while busy(rec) and time.time() - t0 < seconds:
            time.sleep(0.05)
            rec = self.recorder(port)
        drain_s = time.time() - t0
        idle_s = procs.wait_idle(proc.pid, seconds)
        return {
            "drain_s": drain_s,
            "idle_s": idle_s,
            "drained": "queued" in rec and not busy(rec),
            "dropped": rec.get("dropped", 0) - rec0.get("dropped", 0),
        }

    def recorder(self, port: int) -> Result:
        """The proxy's recorder counters from /health ({} when it has none)."""
        rec = self.health(port).get("recorder")
        return rec if isinstance(rec, dict) else {}

    def health(self, port: int) -> Result:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as r:
                h = json.loads(r.read())
                return h if isinstance(h, dict) else {"error": "not an object"}
        except Exception as e:
            return {"error": repr(e)}

    def log(self, target: str, phase: str, r: Result) -> None:
        keys = (
            "rps",
            "errors",
            "cpu_us_per_req",
            "ttfe_ms_p50",
            "delay_us_p50",
            "ok",
            "rss_mib",
            "other_load_pct",
        )
        brief = {
            k: (round(r[k], 3) if isinstance(r.get(k), float) else r.get(k)) for k in keys if k in r
        }
        if "lat_ms" in r:
            brief["p50_ms"] = r["lat_ms"]["p50"]
        print("  %-7s %-24s %s" % (target, phase, brief), file=sys.stderr, flush=True)

    def run(self) -> None:
        self.nonce = secrets.token_hex(2)
        self.start_upstream()
        try:
            if self.a.soak:
                self.results["soak"] = self.soak(self.a.soak)
            else:
                for name in self.a.targets:
                    print(f"target {name}", file=sys.stderr, flush=True)
                    self.results["targets"][name] = self.measure(name)
        finally:
            stop(self.up)
        with open(os.path.join(self.dir, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)
        rep = report(self.results)
        with open(os.path.join(self.dir, "report.md"), "w") as f:
            f.write(rep)
        print(rep)
        if self.a.save:
            shutil.copy(
                os.path.join(self.dir, "report.md"),
                os.path.join(HERE, "results", self.a.save + ".md"),
            )
            shutil.copy(
                os.path.join(self.dir, "results.json"),
                os.path.join(HERE, "results", self.a.save + ".json"),
            )
        print(f"raw results: {self.dir}", file=sys.stderr)

    # ----------------------------------------------------------------- soak
    def soak(self, seconds: int) -> Result:
        """Proxy only: mixed load at --soak-rate req/s (10 s windows), RSS sampled per window."""
        proc, port = self.start_target("proxy")
        assert proc is not None
        samples: list[Result] = []
        t0 = time.time()
        rate, win = self.a.soak_rate, 10.0
        try:
            samples.append({"t": 0.0, "requests": 0, "rss_mib": tree_rss(proc.pid)[0]})
            total = 0
            while time.time() - t0 < seconds:
                w0 = time.time()
                r = self.rss_phase(proc, port, int(rate * win))
                total += r["requests"]
                samples.append(
                    {
                        "t": round(time.time() - t0, 1),
                        "requests": total,
                        "rss_mib": r["rss_mib"],
                        "errors": r["requests"] - r["statuses"].get(200, 0),
                        "cpu_s": tree_cpu(proc.pid),
                        "dropped": r.get("dropped"),
                    }
                )
                print(
                    "  soak t=%5.0fs requests=%d rss=%.1f MiB"
                    % (samples[-1]["t"], total, r["rss_mib"]),
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(max(0.0, win - (time.time() - w0)))
            health = self.health(port)
        finally:
            stop(proc)
            if not self.a.keep_data:
                shutil.rmtree(self.data_dir, ignore_errors=True)
        half = [s for s in samples if s["t"] >= seconds / 2]
        slope = None
        if len(half) >= 2:
            slope = (half[-1]["rss_mib"] - half[0]["rss_mib"]) / (
                (half[-1]["t"] - half[0]["t"]) / 60
            )
        return {
            "seconds": seconds,
            "rate": rate,
            "samples": samples,
            "health": health,
            "rss_slope_mib_per_min_second_half": slope,
        }


# --------------------------------------------------------------------------- report
def f(v: Any, fmt: str = "%.3f") -> str:
    return "-" if v is None else fmt % v


def table(title: str, head: list[str], rows: list[list[Any]]) -> str:
    out = [
        "",
        "### " + title,
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |",
    ]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def dropped_cell(n: int | None) -> str:
    """A 'records dropped' cell: '-' for a target that records nothing, loud when not 0."""
    if n is None:
        return "-"
    return "%d INVALID" % n if n else "0"


def invalid(res: Result) -> list[str]:
    """Why this run's figures are not valid ([] if they are): any record dropped, in a phase or
    in the warm-ups (the proxy's /health at the end), or a phase whose recording work could not
    be waited for (its CPU per request is short)."""
    why = []
    targets = dict(res.get("targets", {}))
    if "soak" in res:
        targets["proxy"] = {"health": res["soak"].get("health"), "phases": {}}
    for t, r in targets.items():
        phases = r.get("phases", {})
        lost = {k: p["dropped"] for k, p in phases.items() if p.get("dropped")}
        if lost:
            why.append("%s dropped %d records in %s" % (t, sum(lost.values()), ", ".join(lost)))
        total = ((r.get("health") or {}).get("recorder") or {}).get("dropped")
        if total and total != sum(lost.values()):
            why.append("%s: /health counts %d records dropped in all" % (t, total))
        undrained = [k for k, p in phases.items() if p.get("drained") is False]
        if undrained:
            why.append(
                "%s: recorder backlog not written in time after %s" % (t, ", ".join(undrained))
            )
    return why


def validity(res: Result) -> str:
    why = invalid(res)
    if not why:
        return (
            "**Valid run**: no record dropped (every table's 'records dropped' column is 0 or -)."
        )
    return (
        "**INVALID RUN: %s.** A run that dropped records is not a valid figure (CPU per request "
        "leaves out the work of the records it did not write)." % "; ".join(why)
    )


def report(res: Result) -> str:
    out = [
        "## bench/run.py {}".format(res["started"]),
        "",
        "machine: {}".format(json.dumps(res["machine"])),
        "bodies (bytes): {}".format(json.dumps(res["bodies"])),
        "",
        validity(res),
    ]
    if "soak" in res:
        s = res["soak"]
        out.append(
            table(
                "Soak: %ds at %s req/s (RSS of the proxy process tree)" % (s["seconds"], s["rate"]),
                ["t s", "requests", "RSS MiB", "errors", "records dropped"],
                [
                    [
                        x["t"],
                        x["requests"],
                        f(x["rss_mib"], "%.1f"),
                        x.get("errors", 0),
                        dropped_cell(x.get("dropped")),
                    ]
                    for x in s["samples"]
                ],
            )
        )
        out.append(
            "\nRSS slope over the second half: {} MiB/min; /health: {}".format(
                f(s["rss_slope_mib_per_min_second_half"], "%.2f"), json.dumps(s["health"])[:400]
            )
        )
        out.append("\n" + validity(res))
        return "\n".join(out) + "\n"
    T = res["targets"]
    variants = res["args"]["variants"]
    conns = res["args"]["conns"]

    def ph(t: str, k: str) -> Result | None:
        r = T.get(t, {}).get("phases", {}).get(k)
        return r if isinstance(r, dict) else None

    def lat(t: str, k: str, p: str = "p50") -> float | None:
        r = ph(t, k)
        return r["lat_ms"][p] if r else None

    def dropped(t: str, keys: list[str]) -> int | None:
        """Records dropped over these phases of target t (None: t records nothing)."""
        phases = [ph(t, k) for k in keys]
        counts = [int(r["dropped"]) for r in phases if r and r.get("dropped") is not None]
        return sum(counts) if counts else None

    rows = []
    for v in variants:
        for t in T:
            row = [t, v]
            for size in SIZES:
                k = f"lat_{size}_{v}"
                p50, p99, d = lat(t, k), lat(t, k, "p99"), lat("direct", k)
                row += [f(p50), f(p99), f(p50 - d if p50 is not None and d is not None else None)]
            row.append(dropped_cell(dropped(t, [f"lat_{size}_{v}" for size in SIZES])))
            rows.append(row)
    out.append(
        table(
            "Latency at 1 connection (wrk, closed loop, ms; added = minus direct)",
            [
                "target",
                "body",
                "2KB p50",
                "2KB p99",
                "2KB added p50",
                "300KB p50",
                "300KB p99",
                "300KB added p50",
                "records dropped",
            ],
            rows,
        )
    )

    rows = []
    for v in variants:
        for t in T:
            row = [t, v]
            for size in SIZES:
                for c in conns:
                    r = ph(t, "tput_%s_%s_c%d" % (size, v, c))
                    mark = (
                        "*" if r and r.get("cpu_util") is not None and r["cpu_util"] < 0.85 else ""
                    )
                    row.append((f(r["rps"], "%.0f") + mark) if r else "-")
            for size in SIZES:
                c = conns[-1]
                r, b = (
                    ph(t, "tput_%s_%s_c%d" % (size, v, c)),
                    ph("relay", "tput_%s_%s_c%d" % (size, v, c)),
                )
                row.append(f(r["rps"] / b["rps"], "%.2fx") if r and b else "-")
            for size in SIZES:
                r = ph(t, "tput_%s_%s_c%d" % (size, v, conns[-1]))
                row.append(f(r.get("cpu_us_per_req") if r else None, "%.0f"))
            for size in SIZES:
                r = ph(t, "tput_%s_%s_c%d" % (size, v, conns[-1]))
                row.append(f(r.get("drain_s") if r else None, "%.1f"))
            row.append(
                sum(
                    r.get("errors", 0)
                    for k, r in T[t]["phases"].items()
                    if k.startswith(("lat", "tput")) and f"_{v}" in k
                )
            )
            row.append(
                dropped_cell(
                    dropped(
                        t, [k for k in T[t]["phases"] if k.startswith("tput") and f"_{v}_" in k]
                    )
                )
            )
            rows.append(row)
    head = (
        ["target", "body"]
        + ["%s c%d" % (SIZES[s], c) for s in SIZES for c in conns]
        + ["/ relay %s c%d" % (SIZES[s], conns[-1]) for s in SIZES]
        + [f"CPU us/req {SIZES[s]} (proxy + recorder)" for s in SIZES]
        + [f"recorder drain s {SIZES[s]}" for s in SIZES]
        + ["HTTP errors", "records dropped"]
    )
    out.append(
        table(
            "Throughput (wrk, closed loop, req/s) and CPU per request at c%d "
            "(* = the proxy used < 85%% of its core; CPU per request is the proxy process and its "
            "recorder process, including the recorder's catch-up after the phase ('drain': until "
            "/health shows no backlog) and the idle work that follows (text indexing, checkpoint); "
            "a phase that dropped records is not a valid figure)" % conns[-1],
            head,
            rows,
        )
    )

    rows = []
    for t in T:
        row = [t]
        for size in SIZES:
            rp, dp = ph(t, f"stream_{size}"), ph("direct", f"stream_{size}")
            v, dv = (rp or {}).get("ttfe_ms_p50"), (dp or {}).get("ttfe_ms_p50")
            row += [f(v), f(v - dv if v is not None and dv is not None else None)]
        rp, dp = ph(t, "stream_small"), ph("direct", "stream_small")
        for p in ("p50", "p99"):
            v, dv = (rp or {}).get("delay_us_" + p), (dp or {}).get("delay_us_" + p)
            row += [f(v, "%.0f"), f(v - dv if v is not None and dv is not None else None, "%.0f")]
        rp, dp = ph(t, "stream_small_c16"), ph("direct", "stream_small_c16")
        for p in ("p50", "p99"):
            v, dv = (rp or {}).get("delay_us_" + p), (dp or {}).get("delay_us_" + p)
            row += [f(v - dv if v is not None and dv is not None else None, "%.0f")]
        ok = sum(
            (ph(t, k) or {}).get("ok", 0)
            for k in ("stream_small", "stream_large", "stream_small_c16")
        )
        n = sum(
            (ph(t, k) or {}).get("streams", 0)
            for k in ("stream_small", "stream_large", "stream_small_c16")
        )
        row.append("%d/%d" % (ok, n))
        row.append(dropped_cell(dropped(t, ["stream_small", "stream_large", "stream_small_c16"])))
        rows.append(row)
    out.append(
        table(
            "Streaming, %d text_delta events %s ms apart (TTFE = request sent -> first SSE event; "
            "event delay = one-way upstream -> client per event, us)"
            % (res["args"]["events"], res["args"]["gap_ms"]),
            [
                "target",
                "TTFE 2KB ms",
                "added",
                "TTFE 300KB ms",
                "added",
                "delay p50 us",
                "added",
                "delay p99 us",
                "added",
                "16 streams added p50",
                "added p99",
                "streams ok",
                "records dropped",
            ],
            rows,
        )
    )

    rows = []
    for t in T:
        if t == "direct":
            continue
        r1, r2 = ph(t, "rss_1"), ph(t, "rss_2")
        b = T[t].get("rss_before_mib")
        rows.append(
            [
                t,
                f(T[t].get("rss_start_mib"), "%.1f"),
                f(b, "%.1f"),
                f(r1 and r1["rss_mib"], "%.1f"),
                f(r2 and r2["rss_mib"], "%.1f"),
                f(r1["rss_mib"] - b if r1 and b else None, "%+.1f"),
                f(r2["rss_mib"] - r1["rss_mib"] if r1 and r2 else None, "%+.1f"),
                f(T[t].get("peak_rss_mib"), "%.1f"),
                f(r1 and r1["rps"], "%.0f"),
                "%s / %s"
                % (
                    f(r1 and r1.get("rss_loaded_mib"), "%.0f"),
                    f(r2 and r2.get("rss_loaded_mib"), "%.0f"),
                ),
                "%s / %s" % ((r1 or {}).get("queued_at_end"), (r2 or {}).get("queued_at_end")),
                "%s / %s"
                % (
                    dropped_cell((r1 or {}).get("dropped")),
                    dropped_cell((r2 or {}).get("dropped")),
                ),
                json.dumps((r1 or {}).get("statuses")),
            ]
        )
    n = res["args"]["rss_requests"]
    out.append(
        table(
            "Memory (RSS of the process tree, MiB, read after the recorder queue drained): at "
            "start, before the RSS phase, after %d and %d more requests (unique last message; 45%% 2KB, 45%% 300KB, 10%% streams; 16 conns)"
            % (n, n),
            [
                "target",
                "start",
                "before",
                "after %d" % n,
                "after %d" % (2 * n),
                "growth 1st %d" % n,
                "growth 2nd %d" % n,
                "peak (VmHWM)",
                "req/s",
                "RSS at end of load 1st / 2nd",
                "recorder queue at end of load",
                "records dropped",
                "statuses",
            ],
            rows,
        )
    )
    if "proxy" in T:
        out.append(
            "\nproxy data dir after the run: {} MiB; /health: {}".format(
                f(T["proxy"].get("data_dir_mib"), "%.1f"),
                json.dumps(T["proxy"].get("health"))[:600],
            )
        )
    noisy = [
        (t, k, round(r["other_load_pct"]))
        for t in T
        for k, r in T[t]["phases"].items()
        if r.get("other_load_pct", 0) > 15
    ]
    if noisy:
        out.append(
            "\nNoise: %d phases ran while processes outside the benchmark used > 15%% of a core: %s"
            % (len(noisy), ", ".join("%s/%s %d%%" % x for x in noisy))
        )
    bad = [
        (t, k, r.get("upstream_messages"), r.get("requests"))
        for t in T
        for k, r in T[t]["phases"].items()
        if "upstream_messages" in r and r["upstream_messages"] < r["requests"]
    ]
    if bad:
        out.append(f"\nWARNING: upstream saw fewer requests than completed: {bad}")
    out.append("\n" + validity(res))
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--targets", default="direct,relay,proxy", help="comma list of direct,relay,proxy"
    )
    ap.add_argument(
        "--proxy-cmd",
        default=DEFAULT_PROXY_CMD,
        help="shell command; {python} {port} {upstream} {data_dir} {host} are filled in",
    )
    ap.add_argument(
        "--variants",
        default="same,grow",
        help="body variants: same (identical bodies), grow (unique last message per request)",
    )
    ap.add_argument("--conns", default="32,64")
    ap.add_argument("--lat-seconds", type=int, default=5)
    ap.add_argument("--tput-seconds", type=int, default=5)
    ap.add_argument("--streams", type=int, default=5, help="measured streams per stream phase")
    ap.add_argument("--stream-variant", default="grow", choices=("same", "grow"))
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--gap-ms", type=float, default=20.0)
    ap.add_argument("--rss-requests", type=int, default=5000)
    ap.add_argument(
        "--soak", type=int, default=0, metavar="SECONDS", help="soak the proxy instead (issue 6)"
    )
    ap.add_argument("--soak-rate", type=float, default=200.0, help="req/s during the soak")
    ap.add_argument("--keep-data", action="store_true", help="keep the proxy's temp data dir")
    ap.add_argument("--upstream-port", type=int, default=18200)
    ap.add_argument("--quick", action="store_true", help="2 s phases, 3 streams, 2000 RSS requests")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument(
        "--no-wrk", action="store_true", help="use the aiohttp driver even if wrk exists"
    )
    ap.add_argument(
        "--profile",
        default="",
        metavar="PHASES",
        help="py-spy record the proxy during these phases, e.g. tput_large_grow_c32 "
        "(needs py-spy: .venv/bin/pip install py-spy)",
    )
    ap.add_argument("--save", metavar="NAME", help="also write bench/results/NAME.md and NAME.json")
    ap.add_argument(
        "--report", metavar="RESULTS_JSON", help="print the tables of a results.json again"
    )
    a = ap.parse_args()
    if a.report:
        with open(a.report) as fh:
            print(report(json.load(fh)))
        return
    a.targets = [t for t in a.targets.split(",") if t]
    a.variants = [v for v in a.variants.split(",") if v]
    a.conns = [int(c) for c in a.conns.split(",")]
    a.profile = [p for p in a.profile.split(",") if p]
    if a.quick:
        a.lat_seconds = a.tput_seconds = 2
        a.streams = 3
        a.rss_requests = min(a.rss_requests, 2000)
    Bench(a).run()


if __name__ == "__main__":
    main()
