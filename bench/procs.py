"""Processes for the benchmarks: start, stop and wait for them; their CPU and memory from /proc.

CPU is read from /proc/PID/stat, so that it counts a process, its live descendants (the proxy's
recorder process) and its reaped children (a recorder that was restarted, or wrk once waited
for): a process tree's CPU that does not lose the work of a child that has exited. Linux only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3, the state, is index 0)."""
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out = children(pid)
    for c in list(out):
        out += descendants(c)
    return out


@dataclass(frozen=True)
class Cpu:
    """CPU seconds (user + system) of a process, of its live descendants, and of its reaped
    children (their own reaped children included, as the kernel counts them)."""

    own: float = 0.0
    live: float = 0.0
    reaped: float = 0.0

    @property
    def children(self) -> float:
        return self.live + self.reaped

    @property
    def total(self) -> float:
        return self.own + self.children

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.own - other.own, self.live - other.live, self.reaped - other.reaped)


def cpu(pid: int) -> Cpu:
    try:
        f = _stat(pid)
    except OSError:
        return Cpu()
    live = 0.0
    for c in descendants(pid):
        try:
            g = _stat(c)
        except OSError:
            continue
        live += (int(g[11]) + int(g[12])) / TICK  # utime, stime
    return Cpu((int(f[11]) + int(f[12])) / TICK, live, (int(f[13]) + int(f[14])) / TICK)


def hwm_mib(pid: int) -> float:
    """Peak RSS (VmHWM) of one process, MiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / TICK


def own_cpu_s() -> float:
    """CPU of this benchmark: this process, its live descendants and its reaped children."""
    return cpu(os.getpid()).total


class OtherLoad:
    """CPU used by processes outside this benchmark over a window, % of one core."""

    def __init__(self) -> None:
        self.busy, self.own, self.wall = busy_cpu_s(), own_cpu_s(), time.monotonic()

    def pct(self) -> float:
        other = (busy_cpu_s() - self.busy) - (own_cpu_s() - self.own)
        return max(0.0, 100.0 * other / max(1e-3, time.monotonic() - self.wall))


def du_mib(path: Path) -> float:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / MiB


# --------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def spawn(argv: list[str], log: Path, cpus: set[int] | None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=pinned(cpus),
            cwd=ROOT,
        )


def stop(p: subprocess.Popen[bytes] | None, seconds: float = 60.0) -> None:
    """SIGTERM to its group (the proxy drains its journal on the way out), SIGKILL if it hangs."""
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    except ProcessLookupError:
        pass


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                r.read()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url} within {seconds:.0f} s")


IDLE_WINDOW_S = 1.0
IDLE_CPU_S = 0.05  # below this per window a process tree is idle (the idle recorder polls: ~0.02)


def wait_idle(pid: int, seconds: float) -> float:
    """Until the CPU of `pid`'s tree stops growing (the recorder's text indexing and checkpoint,
    which run once its backlog is written), at most `seconds`; returns the time waited."""
    t0 = time.monotonic()
    prev = cpu(pid).total
    while time.monotonic() - t0 < seconds:
        time.sleep(IDLE_WINDOW_S)
        now = cpu(pid).total
        if now - prev < IDLE_CPU_S:
            break
        prev = now
    return time.monotonic() - t0
