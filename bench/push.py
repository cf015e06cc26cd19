"""The full-speed push (issue 10, item 2): N requests at full speed, then how long until all are listed.

Starts the fake upstream (bench/upstream.py) and the proxy as shipped (`python -m anthropic_proxy`,
recorder process, fresh SQLite data dir), pushes exactly N small Claude-Code-shaped streaming
requests with wrk (bench/push.lua: 64 connections, each with a unique last message, 64 session
ids, 10 text_delta events without gaps), then polls the list API until every answered exchange is
listed (complete, not `pending`) or the count stops moving. Measures:

* the push: requests sent / answered / non-2xx, its duration and req/s;
* seconds from the push's end until all N are listed (the issue's "within 60 s");
* `dropped` from /health (any drop makes the run invalid);
* CPU seconds of the proxy process and of its recorder (child processes, read from /proc: the
  live ones and the reaped ones), until all are listed and again once the recorder is idle
  (its text indexing and checkpoint run after the backlog is written); recorder µs/exchange and
  exchanges per recorder CPU second; the recorder's wall rate while catching up;
* peak RSS (VmHWM) of the proxy and of the recorder; the data dir's size;
* how loaded the machine was: load average at start / push end / end, and the CPU used by
  processes outside this benchmark (% of one core) during the push and the catch-up.

Prints one table row and appends the result as one JSON line to bench/results/push.jsonl.

    .venv/bin/python bench/push.py                    # 100,000 requests, 64 connections
    .venv/bin/python bench/push.py -n 10000           # smaller
    .venv/bin/python bench/push.py --pin              # wrk + upstream on CPU 0, proxy on CPU 1

Loopback only; every wait is bounded (--push-timeout, --listed-timeout, --idle-timeout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bodies  # noqa: E402
import procs  # noqa: E402
from procs import Cpu  # noqa: E402

PY = sys.executable
COLUMNS = (
    ("date", "{started}"),
    ("git", "{git}"),
    ("N", "{n:,}"),
    ("answered", "{answered:,}"),
    ("non-2xx", "{non_2xx}"),
    ("push s", "{push_s:.1f}"),
    ("req/s", "{push_rps:,.0f}"),
    ("listed at push end", "{listed_at_push_end:,}"),
    ("all listed after s", "{listed_after_s_text}"),
    ("dropped", "{dropped}"),
    ("proxy CPU s", "{proxy_cpu_s:.1f}"),
    ("recorder CPU s", "{recorder_cpu_s:.1f}"),
    ("recorder µs/exch", "{recorder_us_per_exchange:.0f}"),
    ("recorder exch/CPU s", "{recorder_exchanges_per_cpu_s:,.0f}"),
    ("catch-up exch/s", "{catchup_exchanges_per_s_text}"),
    ("CPU µs/req (all)", "{cpu_us_per_request_all:.0f}"),
    ("proxy peak RSS MiB", "{proxy_peak_rss_mib:.0f}"),
    ("load avg start/end", "{loadavg_text}"),
    ("other load %", "{other_load_text}"),
    ("valid", "{valid_text}"),
)


# --------------------------------------------------------------------------- the proxy's counters
@dataclass
class Proxy:
    base: str
    proc: subprocess.Popen[bytes]

    def recorder(self) -> dict[str, Any]:
        """/health's recorder block ({} when the proxy does not answer in time)."""
        try:
            r = procs.get_json(self.base + "/health")["recorder"]
            return r if isinstance(r, dict) else {}
        except (OSError, ValueError, KeyError):
            return {}

    def total(self, query: str) -> int | None:
        try:
            n = procs.get_json(f"{self.base}/api/monitor/requests?limit=1{query}", 30.0)["total"]
            return int(n)
        except (OSError, ValueError, KeyError):
            return None

    def listed(self) -> int | None:
        """Exchanges listed with their outcome (`pending` rows are running exchanges)."""
        everything, pending = self.total(""), self.total("&state=pending")
        return None if everything is None or pending is None else everything - pending

    def cpu(self) -> Cpu:
        return procs.cpu(self.proc.pid)

    def recorder_pids(self) -> list[int]:
        return procs.descendants(self.proc.pid)


@dataclass
class Sampler:
    """/health and CPU once a second, in a thread, for the record of the run."""

    proxy: Proxy
    t0: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            c, rec = self.proxy.cpu(), self.proxy.recorder()
            self.samples.append(
                {
                    "t": round(time.monotonic() - self.t0, 2),
                    "proxy_cpu_s": round(c.own, 2),
                    "recorder_cpu_s": round(c.children, 2),
                    **{k: rec.get(k) for k in ("queued", "backlog_bytes", "written", "dropped")},
                }
            )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


# --------------------------------------------------------------------------- the push
def lines(stream: IO[str], out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def push(a: argparse.Namespace, port: int, run_dir: Path, cpus: set[int] | None) -> dict[str, Any]:
    """wrk until every thread has its share answered; returns push.lua's summary and the wall
    time from wrk's start to the last answer."""
    body = run_dir / "body.json"
    body.write_bytes(bodies.template("small", stream=True))
    summary = run_dir / "wrk.json"
    env = {
        **os.environ,
        "PUSH_BODY": str(body),
        "PUSH_N": str(a.n),
        "PUSH_THREADS": str(a.threads),
        "PUSH_NONCE": secrets.token_hex(2),
        "PUSH_EVENTS": str(a.events),
        "PUSH_SESSIONS": str(a.sessions),
        "PUSH_OUT": str(summary),
    }
    argv = [
        a.wrk, f"-t{a.threads}", f"-c{a.conns}", f"-d{a.push_timeout + 5}s", "--timeout", "30s",
        "-s", str(HERE / "push.lua"), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    t0 = time.monotonic()
    wrk = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        preexec_fn=procs.pinned(cpus),
    )  # fmt: skip
    assert wrk.stdout is not None
    out: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lines, args=(wrk.stdout, out), daemon=True).start()
    done, log, t_end = 0, [], None
    deadline = t0 + a.push_timeout
    while done < a.threads and time.monotonic() < deadline:
        try:
            line = out.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        log.append(line)
        if line.startswith("done "):
            done += 1
            t_end = time.monotonic()
    timed_out = done < a.threads
    # wrk's main thread sleeps out -d; SIGINT ends the sleep (repeated: a thread that has not
    # exited yet may take the first one)
    for _ in range(100):
        if wrk.poll() is not None:
            break
        wrk.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            wrk.wait(0.2)
    if wrk.poll() is None:
        wrk.kill()
        wrk.wait(10)
    time.sleep(0.1)  # the reader thread takes wrk's last lines
    while not out.empty():
        line = out.get()
        if line is not None:
            log.append(line)
    (run_dir / "wrk.log").write_text("".join(log))
    res: dict[str, Any] = json.loads(summary.read_text()) if summary.exists() else {}
    res["push_s"] = (t_end or time.monotonic()) - t0
    res["timed_out"] = timed_out
    return res


def wait_listed(
    proxy: Proxy, expected: int, a: argparse.Namespace, t_push_end: float
) -> tuple[int, float | None, float]:
    """Poll until `expected` exchanges are listed, or until the count has not moved for
    --settle seconds with the recorder's backlog empty, or --listed-timeout. Returns (listed,
    seconds after the push's end when the count reached its final value (None if it never
    reached `expected`), monotonic time of that moment)."""
    deadline = time.monotonic() + a.listed_timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = proxy.listed()
        now = time.monotonic()
        if n is not None and n != last:
            last, last_change = n, now
        if last >= expected:
            break
        if now - last_change > a.settle:
            rec = proxy.recorder()
            if rec.get("queued") == 0 and rec.get("backlog_bytes") == 0:
                break
        time.sleep(a.poll)
    return last, (last_change - t_push_end if last >= expected else None), last_change


def git_head() -> str:
    """The commit measured; '+' when src/ has uncommitted changes."""

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return r.stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "?") + (
        "+" if git("status", "-s", "src") else ""
    )


def run(a: argparse.Namespace) -> dict[str, Any]:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    run_dir = HERE / "results" / "runs" / ("push-" + time.strftime("%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    pin = a.pin and (os.cpu_count() or 1) >= 2
    client_cpus, proxy_cpus = ({0}, {1}) if pin else (None, None)
    data_dir = Path(tempfile.mkdtemp(prefix="ap-push-"))
    up_port, px_port = procs.free_port(), procs.free_port()
    upstream = procs.spawn(
        [PY, str(HERE / "upstream.py"), "--port", str(up_port), "--events", str(a.events),
         "--gap-ms", "0"],
        run_dir / "upstream.log", client_cpus,
    )  # fmt: skip
    proc = procs.spawn(
        [PY, "-m", "anthropic_proxy", "--host", "127.0.0.1", "--port", str(px_port),
         "--upstream", f"http://127.0.0.1:{up_port}", "--data-dir", str(data_dir),
         *shlex.split(a.proxy_args)],
        run_dir / "proxy.log", proxy_cpus,
    )  # fmt: skip
    proxy = Proxy(f"http://127.0.0.1:{px_port}", proc)
    sampler = None
    try:
        procs.wait_up(f"http://127.0.0.1:{up_port}/health", upstream)
        procs.wait_up(proxy.base + "/health", proc)
        time.sleep(1.0)  # the recorder process starts
        load_start = os.getloadavg()
        cpu0, t0, other = proxy.cpu(), time.monotonic(), procs.OtherLoad()
        sampler = Sampler(proxy, t0)
        w = push(a, px_port, run_dir, client_cpus)
        t_push_end = t0 + w["push_s"]
        other_push = other.pct()
        load_push_end = os.getloadavg()
        cpu_push, rec_push = proxy.cpu() - cpu0, proxy.recorder()
        listed_push_end = proxy.listed() or 0
        other = procs.OtherLoad()
        expected = int(w.get("answered", 0))
        listed, listed_after, t_listed = wait_listed(proxy, expected, a, t_push_end)
        cpu_listed = proxy.cpu() - cpu0
        idle_s = procs.wait_idle(proc.pid, a.idle_timeout)
        other_catchup = other.pct()
        cpu_idle = proxy.cpu() - cpu0
        rec_end = proxy.recorder()
        recorder_hwm = max((procs.hwm_mib(p) for p in proxy.recorder_pids()), default=0.0)
        proxy_hwm = procs.hwm_mib(proc.pid)
        load_end = os.getloadavg()
        upstream_saw = int(procs.get_json(f"http://127.0.0.1:{up_port}/stats")["messages"])
    finally:
        if sampler is not None:
            sampler.close()
        procs.stop(proc)
        procs.stop(upstream, 10)
        data_mib = procs.du_mib(data_dir)
        if a.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    written = max(1, listed)
    catchup_s = t_listed - t_push_end
    caught_up = listed - listed_push_end
    res: dict[str, Any] = {
        "started": started,
        "git": git_head(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "pinned": pin},
        "args": {k: v for k, v in vars(a).items() if k not in ("wrk", "results")},  # no paths
        "n": a.n,
        "sent": w.get("sent"),
        "answered": expected,
        "ok": w.get("ok"),
        "upstream_saw": upstream_saw,
        "non_2xx": w.get("non_2xx"),
        "wrk_errors": w.get("errors"),
        "latency_ms": {k: v / 1000 for k, v in w.get("lat_us", {}).items()},
        "push_timed_out": w["timed_out"],
        "push_s": round(w["push_s"], 3),
        "push_rps": round(expected / w["push_s"], 1),
        "listed_at_push_end": listed_push_end,
        "recorder_at_push_end": rec_push,
        "listed": listed,
        "listed_after_s": None if listed_after is None else round(listed_after, 2),
        "dropped": rec_end.get("dropped"),
        "recorder_at_end": rec_end,
        "proxy_cpu_s": round(cpu_idle.own, 2),
        "proxy_cpu_s_push": round(cpu_push.own, 2),
        "recorder_cpu_s": round(cpu_idle.children, 2),
        "recorder_cpu_s_push": round(cpu_push.children, 2),
        "recorder_cpu_s_until_listed": round(cpu_listed.children, 2),
        "recorder_idle_work_s": round(idle_s, 1),
        "recorder_us_per_exchange": round(cpu_idle.children / written * 1e6, 1),
        "recorder_us_per_exchange_until_listed": round(cpu_listed.children / written * 1e6, 1),
        "recorder_exchanges_per_cpu_s": round(written / max(1e-6, cpu_idle.children), 1),
        "catchup_exchanges_per_s": round(caught_up / catchup_s, 1) if catchup_s > 0.5 else None,
        "cpu_us_per_request_all": round(cpu_idle.total / max(1, expected) * 1e6, 1),
        "proxy_peak_rss_mib": round(proxy_hwm, 1),
        "recorder_peak_rss_mib": round(recorder_hwm, 1),
        "data_dir_mib": round(data_mib, 1),
        "loadavg": {"start": load_start, "push_end": load_push_end, "end": load_end},
        "other_load_pct": {"push": round(other_push), "catchup": round(other_catchup)},
        "samples": sampler.samples if sampler else [],
        "run_dir": str(run_dir.relative_to(ROOT)),
    }
    res["invalid"] = invalid(res, a.n)
    return res


def invalid(r: dict[str, Any], n: int) -> list[str]:
    """Why this run is not a valid figure ([] if it is)."""
    why = []
    if r["push_timed_out"]:
        why.append("the push timed out")
    if not r["sent"] == r["answered"] == r["upstream_saw"] == n:
        why.append(f"sent {r['sent']} / answered {r['answered']} / upstream saw "
                   f"{r['upstream_saw']}, not {n}")  # fmt: skip
    if r["non_2xx"]:
        why.append(f"{r['non_2xx']} non-2xx answers")
    if any((r["wrk_errors"] or {}).values()):
        why.append(f"wrk errors {r['wrk_errors']}")
    if r["dropped"] != 0:
        why.append(f"dropped {r['dropped']}")
    if r["listed"] != r["answered"]:
        why.append(f"listed {r['listed']} of {r['answered']}")
    return why


def row(r: dict[str, Any]) -> str:
    la, after, rate = r["loadavg"], r["listed_after_s"], r["catchup_exchanges_per_s"]
    v = {
        **r,
        "listed_after_s_text": "never" if after is None else f"{after:.1f}",
        "catchup_exchanges_per_s_text": "-" if rate is None else f"{rate:,.0f}",
        "loadavg_text": f"{la['start'][0]:.2f} / {la['end'][0]:.2f}",
        "other_load_text": "{push} / {catchup}".format(**r["other_load_pct"]),
        "valid_text": "yes" if not r["invalid"] else "INVALID: " + "; ".join(r["invalid"]),
    }
    return "| " + " | ".join(fmt.format(**v) for _, fmt in COLUMNS) + " |"


def header() -> str:
    names = [name for name, _ in COLUMNS]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("-n", type=int, default=100_000, help="requests to push (exactly)")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--events", type=int, default=10, help="text_delta events per stream")
    ap.add_argument("--sessions", type=int, default=64, help="Claude Code session ids")
    ap.add_argument("--pin", action="store_true", help="wrk + upstream on CPU 0, proxy on CPU 1")
    ap.add_argument("--proxy-args", default="", help="extra arguments for the proxy")
    ap.add_argument("--push-timeout", type=int, default=900, help="seconds")
    ap.add_argument("--listed-timeout", type=float, default=600.0, help="seconds")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="the count is final when it has not moved for this long, backlog empty")  # fmt: skip
    ap.add_argument("--poll", type=float, default=0.25, help="list API poll interval, seconds")
    ap.add_argument("--idle-timeout", type=float, default=300.0,
                    help="longest wait for the recorder's idle work after all are listed")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the proxy's data dir")
    ap.add_argument("--results", default=str(HERE / "results" / "push.jsonl"),
                    help="append the result here as one JSON line")  # fmt: skip
    a = ap.parse_args()
    a.wrk = shutil.which("wrk")
    if not a.wrk:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    if a.threads < 1 or a.conns < a.threads or a.n < a.threads:
        raise SystemExit("need n >= threads >= 1 and conns >= threads")
    r = run(a)
    with open(a.results, "a") as fh:
        fh.write(json.dumps(r, separators=(",", ":")) + "\n")
    print(header())
    print(row(r))
    print(f"raw: {r['run_dir']}; appended to {a.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
