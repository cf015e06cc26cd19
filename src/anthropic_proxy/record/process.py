"""Where the recorder runs: its own process (default) or a thread of the proxy.

In its own process at nice 19 the recorder never holds the proxy's GIL, and the kernel gives
proxying the CPU first: a saturated proxy records later (the journal is the backlog) instead of
serving slower. On a machine with a free core it records at once, on that core.

The process gets its spec as one JSON line on stdin, reports batches on a pipe (length-prefixed
JSON), and stops on a 'stop' line: it drains the journal, then exits. Stdin closing without one
means the proxy died: it exits at once, and the next start replays the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from anthropic_proxy.logs import configure_logging
from anthropic_proxy.record.journal import Reader
from anthropic_proxy.record.writer import Report, Retention, Writer, consume
from anthropic_proxy.storage import Store, open_store

log = logging.getLogger("anthropic_proxy.record")
LENGTH = struct.Struct("<I")
FRAME_ROWS = 256  # rows per report frame to the proxy (`parts`)
RECORDER_NICE = 19
STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1

Emit = Callable[[Report], None]


class Runner(Protocol):
    def start(self, position: int) -> None: ...
    async def stop(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the recorder needs to open the store and the journal on its own."""

    database_url: str
    data_dir: str
    scrub: bool
    retention: tuple[int, int, int]
    log_level: str
    position: int = 0
    parent: int = 0

    def writer(self, store: Store, *, threaded: bool = False) -> Writer:
        return Writer(
            store, scrub=self.scrub, retention=Retention(*self.retention), yield_gil=threaded
        )


class ThreadRunner:
    """RECORDER_PROCESS=false: one process; the writer thread shares the GIL with proxying."""

    def __init__(self, spec: Spec, store: Store, emit: Emit) -> None:
        self._spec, self._store, self._emit = spec, store, emit
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, position: int) -> None:
        loop = asyncio.get_running_loop()
        reader = Reader(Path(self._spec.data_dir), position)
        writer = self._spec.writer(self._store, threaded=True)

        def emit(report: Report) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._emit, report)

        def run() -> None:
            _lower_priority(threading.get_native_id())
            try:
                consume(reader, writer, emit, self._stopping.is_set)
            finally:
                reader.close()

        self._thread = threading.Thread(target=run, name="recorder", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        await asyncio.sleep(0)  # the last reports, handed to the loop, are delivered


class ProcessRunner:
    def __init__(self, spec: Spec, emit: Emit, exited: Callable[[int | None], None]) -> None:
        self._spec, self._emit, self._exited = spec, emit, exited
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._buffer = b""
        self._eof: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, position: int) -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        spec = dataclasses.replace(self._spec, position=position, parent=os.getpid())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "anthropic_proxy.record.process", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        assert self._proc.stdin is not None
        self._proc.stdin.write(orjson.dumps(dataclasses.asdict(spec)) + b"\n")
        self._proc.stdin.flush()
        os.set_blocking(read_fd, False)
        self._fd, self._buffer, self._eof = read_fd, b"", loop.create_future()
        loop.add_reader(read_fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self._closed()
            return
        frames, self._buffer = _frames(self._buffer + data)
        for frame in frames:
            self._emit(Report(**frame))

    def _closed(self) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        proc, eof = self._proc, self._eof
        code = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(timeout=5) if proc is not None else None  # it closed the pipe: exiting
        if eof is not None and not eof.done():
            eof.set_result(None)
            self._exited(code)

    async def stop(self) -> None:
        proc, eof = self._proc, self._eof
        if proc is None or eof is None or eof.done():
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(eof), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the recorder did not drain within %.0f s; stopping it", STOP_TIMEOUT_S)
            proc.kill()
            await eof


def _frames(data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The complete frames in `data`, and what is left of a frame still arriving."""
    frames, at = [], 0
    while at + LENGTH.size <= len(data):
        (size,) = LENGTH.unpack_from(data, at)
        if at + LENGTH.size + size > len(data):
            break
        frames.append(orjson.loads(data[at + LENGTH.size : at + LENGTH.size + size]))
        at += LENGTH.size + size
    return frames, data[at:]


# The recorder process itself.


def main(report_fd: int) -> None:
    spec = Spec(**orjson.loads(sys.stdin.buffer.readline()))
    _die_with(spec.parent)
    _lower_priority(0)
    configure_logging(spec.log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the proxy says stop
    stopping = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stopping,), daemon=True).start()
    store = open_store(spec.database_url, Path(spec.data_dir))
    store.open()
    reader = Reader(Path(spec.data_dir), spec.position)
    tune_gc()
    try:
        consume(reader, spec.writer(store), lambda r: _send(report_fd, r), stopping.is_set)
    finally:
        store.close()


def tune_gc() -> None:
    """The recorder builds a few hundred short-lived containers per exchange and holds a batch
    of them until its commit: at the default thresholds the collector ran every few exchanges
    and walked every survivor, ~8% of the recorder's CPU (bench/recorder.py). They hold no
    cycles that need collecting promptly; what start-up made is frozen out of every pass."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _send(fd: int, report: Report) -> None:
    for part in parts(report):
        data = orjson.dumps(part.__dict__)  # not asdict: that deep-copies every row
        view = memoryview(LENGTH.pack(len(data)) + data)
        while view:
            view = view[os.write(fd, view) :]


def parts(report: Report) -> list[Report]:
    """A report as frames of at most FRAME_ROWS rows, its counts on the last. The proxy decodes
    a frame in one turn of its event loop, where every stream it relays waits meanwhile: a
    batch of 2,048 rows is ~3.3 MB of JSON. Every part names the batch's position: the batch is
    in the store before its report is sent, so the journal may be freed up to there at once."""
    if not report.rows:
        return [report]
    cuts = range(0, len(report.rows), FRAME_ROWS)
    out = [Report(report.position, 0, rows=report.rows[i : i + FRAME_ROWS]) for i in cuts]
    out[-1] = dataclasses.replace(report, rows=out[-1].rows)
    return out


def _watch_stdin(stopping: threading.Event) -> None:
    if sys.stdin.buffer.readline().strip() == b"stop":
        stopping.set()
    else:
        os._exit(0)  # the proxy is gone; the journal keeps what this process did not write


def _die_with(parent: int) -> None:
    """Linux: killed with the proxy, so two writers never race after a crash and restart."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _lower_priority(native_id: int) -> None:
    """Recording yields the CPU to proxying (on Linux a thread has its own policy and nice
    value). SCHED_IDLE: a request arriving preempts the recorder at once, not at its tick."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, native_id, RECORDER_NICE)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(native_id, os.SCHED_IDLE, os.sched_param(0))


if __name__ == "__main__":
    main(int(sys.argv[1]))
