"""The recorder hands a report's rows to its listeners a slice per turn of the event loop, in
the order they were written, so a large report never holds the loop (and every stream it
relays) for the whole batch; stopping hands over whatever is still waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from anthropic_proxy.record import process
from anthropic_proxy.record.journal import Journal
from anthropic_proxy.record.recorder import ROWS_PER_TURN, Recorder
from anthropic_proxy.record.writer import Report
from anthropic_proxy.storage import Row


def report(position: int, first: int, n: int) -> Report:
    rows: list[Row] = [{"id": f"x{i}", "state": "success"} for i in range(first, first + n)]
    return Report(position, n, written=n, rows=rows)


async def test_rows_reach_listeners_a_slice_per_loop_turn_in_order(tmp_path: Path) -> None:
    recorder = Recorder(Journal(tmp_path), size=0, max_queued_bytes=1 << 30)
    slices: list[list[str]] = []
    turns: list[int] = []
    turn = 0

    def listener(rows: Sequence[Row]) -> None:
        slices.append([r["id"] for r in rows])
        turns.append(turn)

    recorder.listen(listener)
    recorder.on_report(report(0, 0, 100))
    recorder.on_report(report(0, 100, 40))
    assert slices == []  # nothing on the reporting call itself
    while sum(map(len, slices)) < 140 and turn < 50:
        turn += 1
        await asyncio.sleep(0)
    assert ROWS_PER_TURN == 32
    assert [len(s) for s in slices] == [32, 32, 32, 4, 32, 8]
    assert [i for s in slices for i in s] == [f"x{i}" for i in range(140)]
    assert len(set(turns)) == len(turns)  # one slice per turn of the loop


async def test_stopping_hands_over_what_still_waits(tmp_path: Path) -> None:
    recorder = Recorder(Journal(tmp_path), size=0, max_queued_bytes=1 << 30)
    seen: list[str] = []
    recorder.listen(lambda rows: seen.extend(r["id"] for r in rows))
    recorder.on_report(report(0, 0, 200))
    await recorder.stop()
    assert seen == [f"x{i}" for i in range(200)]


def test_a_large_report_crosses_to_the_proxy_in_frames(tmp_path: Path) -> None:
    """The recorder process sends a batch's report as frames of at most FRAME_ROWS rows (the
    proxy decodes a frame in one turn of its loop): read back, the rows are all there in order,
    every frame names the batch's position, and the counts arrive once, with the last."""
    big = Report(4096, 600, written=598, failed=2, rows=report(0, 0, 600).rows)
    with open(tmp_path / "pipe", "wb") as out:
        process._send(out.fileno(), big)
        process._send(out.fileno(), Report(5000, 3, failed=3))  # a failed batch: no rows
    frames, rest = process._frames((tmp_path / "pipe").read_bytes())
    assert rest == b""
    got = [Report(**f) for f in frames]
    assert [len(r.rows) for r in got] == [256, 256, 88, 0]
    assert [r["id"] for r in big.rows] == [row["id"] for r in got[:3] for row in r.rows]
    assert [r.position for r in got] == [4096, 4096, 4096, 5000]
    assert [(r.consumed, r.written, r.failed) for r in got] == [
        (0, 0, 0), (0, 0, 0), (600, 598, 2), (3, 0, 3)
    ]  # fmt: skip
