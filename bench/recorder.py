"""The recorder's cost per exchange, without the proxy: journal → Writer → store.

Builds Claude-Code-shaped captures (2 KB `grow` bodies: every request ends with a message nobody
sent before; Claude Code's request headers; Anthropic's response headers; 10% streams, or
`--streams 1` as Claude Code sends them), appends
them to a journal in a fresh data dir, then times the recorder's own loop (`consume`) reading
them back and writing the store until the journal is drained, and the idle work the recorder
does next (text indexing of the new rows, WAL checkpoint), on one core.

    .venv/bin/python bench/recorder.py                   # 20,000 exchanges, SQLite
    .venv/bin/python bench/recorder.py -n 50000 --profile /tmp/rec.prof
    .venv/bin/python bench/recorder.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/recorder.py --streams 1 --phases   # CPU µs/exchange by phase
    .venv/bin/python bench/recorder.py --streams 1 --prefill 100000   # into a store of 100k
    .venv/bin/python bench/recorder.py --as-process   # plus access log and report encoding

Prints exchanges/s, µs/exchange (wall and CPU), bytes read and written per exchange through
system calls (the store's page traffic: repeatable where CPU time drifts) and the data dir's
size.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bodies

from anthropic_proxy.exchange import Capture, ExchangeIds
from anthropic_proxy.record import build, process
from anthropic_proxy.record import writer as writer_module
from anthropic_proxy.record.journal import Journal, Reader
from anthropic_proxy.record.writer import Report, Retention, Writer, consume
from anthropic_proxy.storage import Store, open_store

REQUEST_HEADERS = [
    ("host", "127.0.0.1:8082"),
    ("accept", "application/json"),
    ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
    ("anthropic-dangerous-direct-browser-access", "true"),
    ("anthropic-version", "2023-06-01"),
    ("content-type", "application/json"),
    ("user-agent", "claude-cli/2.1.329 (external, cli)"),
    ("x-api-key", "sk-ant-api03-benchbenchbenchbenchbenchbench-0000"),
    ("x-app", "cli"),
    ("x-stainless-arch", "x64"),
    ("x-stainless-lang", "js"),
    ("x-stainless-os", "Linux"),
    ("x-stainless-package-version", "0.60.0"),
    ("x-stainless-retry-count", "0"),
    ("x-stainless-runtime", "node"),
    ("x-stainless-runtime-version", "v20.20.2"),
    ("x-stainless-timeout", "600"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
]


def response_headers(i: int) -> list[tuple[str, str]]:
    return [
        ("date", f"Sat, 05 Dec 2026 12:00:{i % 60:02d} GMT"),
        ("content-type", "application/json"),
        ("request-id", f"req_011CV{i:020d}"),
        ("anthropic-organization-id", "0b1c2d3e-0000-4000-8000-000000000000"),
        ("anthropic-ratelimit-unified-status", "allowed"),
        ("anthropic-ratelimit-unified-5h-status", "allowed"),
        ("anthropic-ratelimit-unified-5h-reset", str(1765000000 + i // 100)),
        ("anthropic-ratelimit-unified-5h-utilization", f"0.{i % 97:02d}"),
        ("anthropic-ratelimit-unified-7d-status", "allowed"),
        ("anthropic-ratelimit-unified-7d-utilization", f"0.{i % 89:02d}"),
        ("via", "1.1 google"),
        ("cf-ray", f"{i:016x}-AMS"),
        ("server", "cloudflare"),
    ]


def sse(name: str, data: dict[str, object]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data))


def stream_chunks(model: str, deltas: int = 20) -> list[bytes]:
    usage = {"input_tokens": 1200, "cache_read_input_tokens": 8000, "output_tokens": 1}
    message = {
        "id": "msg_01Bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "usage": usage,
    }
    out = [
        sse("message_start", {"type": "message_start", "message": message}),
        sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for k in range(deltas):
        out.append(
            sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f"word{k} "},
                },
            )
        )
    out += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 150},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return out


def captures(
    n: int, stream_share: float = 0.1, start: int = 0, size: str = "small", deltas: int = 20
) -> list[Capture]:
    ids = ExchangeIds()
    plain, streamed = bodies.template(size), bodies.template(size, stream=True)
    reply = {
        "id": "msg_01Bench",
        "type": "message",
        "role": "assistant",
        "model": bodies.MODEL,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "content": [{"type": "text", "text": ("All done. " * 60)[:600]}],
        "usage": {
            "input_tokens": 1200,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 8000,
            "output_tokens": 150,
        },
    }
    out = []
    for i in range(start, start + n):
        stream = int((i + 1) * stream_share) > int(i * stream_share)
        body = bodies.unique(streamed if stream else plain, f"turn-{i:012d}")
        headers = [*REQUEST_HEADERS, ("x-claude-code-session-id", f"session-{i % 300:04d}")]
        c = Capture(ids(), "POST", "/v1/messages", "beta=true", "127.0.0.1", headers, body)
        c.status = 200
        c.response_headers = response_headers(i)
        if stream:
            c.response_headers[1] = ("content-type", "text/event-stream; charset=utf-8")
            c.chunks = stream_chunks(bodies.MODEL, deltas)
            c.chunk_times = [0.3 + 0.01 * k for k in range(len(c.chunks))]
        else:
            c.chunks = [orjson.dumps(reply)]
            c.chunk_times = [0.3]
        c.t_headers = 0.3
        c.finish("success")
        out.append(c)
    return out


INDEX_CHUNK = 2000  # record.writer's


def timed_phases(store: object) -> dict[str, float]:
    """Wrap the recorder's phases to add up their CPU time (`--phases`): the wrappers cost a
    few µs per exchange themselves, so the total is a little above an unwrapped run."""
    spent: dict[str, float] = {}

    def wrap(owner: object, attr: str, phase: str) -> None:
        inner = getattr(owner, attr, None)
        if inner is None:  # an older commit, run for comparison
            return

        def timed(*args: object, **kwargs: object) -> object:
            t = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.thread_time() - t

        setattr(owner, attr, timed)

    wrap(Reader, "read", "journal read (parse the entries)")
    wrap(writer_module, "request_row", "request (parse, split and hash the body)")
    wrap(build, "_outcome", "response (JSON or stream rebuild)")
    wrap(build, "_payload", "record blob (scrub, encode, compress)")
    wrap(build, "_cost", "price")
    wrap(store, "write", "store write (one transaction per batch)")
    return spent


def prefill(reader: Reader, writer: Writer, store: Store, n: int) -> None:
    """The first `n` journal entries written, indexed and checkpointed, untimed: the timed run
    then writes into a store that already holds them (indexes of that size)."""
    while n > 0:
        entries = reader.read(min(512, n), 1 << 30)
        writer.write(entries, reader.position)
        n -= len(entries)
    idle_work(store)


def idle_work(store: Store) -> None:
    """What the recorder does as soon as it is idle: index the new rows' text, checkpoint the
    WAL (older commits, run for comparison, indexed in a trigger and have neither)."""
    while hasattr(store, "index_text") and store.index_text(INDEX_CHUNK):
        pass
    if hasattr(store, "checkpoint"):
        store.checkpoint()


def io_bytes() -> tuple[int, int]:
    """Bytes this process read and wrote through system calls (Linux's /proc/self/io): the
    store's page traffic, which does not drift with the VM's speed; (0, 0) elsewhere."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
    except OSError:
        return 0, 0
    fields = dict(line.split(": ") for line in lines if line)
    return int(fields["rchar"]), int(fields["wchar"])


def du(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--profile", help="write a cProfile of the recorder loop here")
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    ap.add_argument(
        "--streams", type=float, default=0.1, help="share of streamed answers (Claude Code: ~1)"
    )
    ap.add_argument("--phases", action="store_true", help="print CPU µs/exchange by phase")
    ap.add_argument(
        "--deltas",
        type=int,
        default=20,
        help="text deltas per streamed answer (bench/push.py sends 10)",
    )
    ap.add_argument(
        "--body",
        choices=("small", "large"),
        default="small",
        help="request bodies: 2 KB, or ~300 KB as Claude Code sends mid-session",
    )
    ap.add_argument(
        "--prefill", type=int, default=0, help="store this many exchanges first, untimed"
    )
    ap.add_argument(
        "--as-process",
        action="store_true",
        help="also do what the recorder process does besides the store: an access-log line per "
        "exchange (INFO, to a file in the data dir) and each report encoded for the proxy",
    )
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="ap-recbench-"))
    journal = Journal(data_dir)
    for capture in captures(args.prefill, args.streams, size=args.body, deltas=args.deltas):
        journal.append(capture)
    for capture in captures(
        args.n, args.streams, start=args.prefill, size=args.body, deltas=args.deltas
    ):
        journal.append(capture)
    journal.close()

    store = open_store(args.database_url, data_dir)
    store.open()
    if args.database_url:
        store.clear()
    writer = Writer(store, scrub=True, retention=Retention())
    reader = Reader(data_dir, 0)
    prefill(reader, writer, store, args.prefill)
    spent = timed_phases(store) if args.phases else {}
    written = failed = 0

    def emit(report: Report) -> None:
        nonlocal written, failed
        written += report.written
        failed += report.failed
        if args.as_process:
            orjson.dumps(report.__dict__)  # as record.process._send frames it for the proxy

    if args.as_process:
        logging.basicConfig(  # record.process: logs.configure_logging, here into a file
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            filename=data_dir / "access.log",
        )

    if hasattr(process, "tune_gc"):  # as the recorder process does (older commits: not)
        process.tune_gc()
    profiler = cProfile.Profile() if args.profile else None
    wall, cpu, io = time.perf_counter(), time.process_time(), io_bytes()
    if profiler:
        profiler.enable()
    consume(reader, writer, emit, lambda: True)
    idle_cpu = time.process_time()
    idle_work(store)
    idle_cpu = time.process_time() - idle_cpu
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    read, wrote = (after - before for after, before in zip(io_bytes(), io, strict=True))
    store.close()
    print(f"exchanges {args.n}  written {written}  failed {failed}")
    print(
        f"recorder  {args.n / wall:,.0f} exchanges/s  {wall / args.n * 1e6:,.0f} µs/exchange wall"
        f"  {cpu / args.n * 1e6:,.0f} µs/exchange CPU"
    )
    print(
        f"io        {read / args.n / 1e3:,.1f} KB read, {wrote / args.n / 1e3:,.1f} KB written per exchange"
    )
    print(f"  {idle_cpu / args.n * 1e6:6.1f} µs  of it idle work: text index, checkpoint")
    for phase, seconds in spent.items():
        print(f"  {seconds / args.n * 1e6:6.1f} µs  {phase}")
    if spent:
        rest = cpu - idle_cpu - sum(spent.values())
        print(f"  {rest / args.n * 1e6:6.1f} µs  the rest (rows, rollup, scrub of new parts, loop)")
    if not args.database_url:
        print(f"data dir  {du(data_dir) / 1e6:.1f} MB ({os.cpu_count()} cores)")
    if not args.keep:
        shutil.rmtree(data_dir)
    else:
        print(f"kept {data_dir}")


if __name__ == "__main__":
    main()
