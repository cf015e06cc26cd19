"""The journal as the recorder's queue: a reader follows the writer across segments, waits out a
frame still being written, and committed segments are deleted."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.record import journal
from anthropic_proxy.record.build import finished_row, request_row
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.record.writer import Retention, Writer
from anthropic_proxy.storage import open_store
from anthropic_proxy.storage.bodies import Memo, join
from anthropic_proxy.storage.packing import Packer


def capture(i: int, size: int = 100) -> Capture:
    c = Capture(f"ex_{i}", "POST", "/v1/messages", "", "127.0.0.1", [], b"x" * size)
    c.chunks = [b"a" * (i % 7), b"b" * 5]
    c.finish("success")
    return c


def test_reader_follows_rotations_and_commits_delete_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "ROTATE_BYTES", 2_000)
    writer = journal.Journal(tmp_path)
    reader = journal.Reader(tmp_path, 0)
    seen: list[str] = []
    for i in range(60):
        assert writer.append(capture(i, size=50 + i * 10)) == writer.end
        if i % 7 == 0:  # the reader lags behind, then catches up in small batches
            while entries := reader.read(3, 1 << 20):
                seen += [e.capture.id for e in entries]
                assert entries[-1].end == reader.position
                writer.committed(reader.position)
    assert len(list(tmp_path.glob("journal-*.bin"))) > 1  # it did rotate
    while entries := reader.read(100, 1 << 20):
        seen += [e.capture.id for e in entries]
    assert seen == [f"ex_{i}" for i in range(60)]
    writer.committed(reader.position)
    files = list(tmp_path.glob("journal-*.bin"))
    assert [f.stat().st_size for f in files] == [0]  # only the fresh, empty segment is left
    writer.append(capture(60))  # and the reader moves on to it
    [entry] = reader.read(10, 1 << 20)
    assert entry.capture.id == "ex_60" and entry.capture.chunks == [b"a" * 4, b"b" * 5]


def test_a_torn_frame_waits_for_the_rest(tmp_path: Path) -> None:
    writer = journal.Journal(tmp_path)
    reader = journal.Reader(tmp_path, 0)
    data = b"".join(journal.frame(capture(1), "finish"))
    fd = os.open(journal.segment(tmp_path, 0), os.O_WRONLY | os.O_APPEND)
    os.write(fd, data[:30])
    assert reader.read(10, 1 << 20) == [] and reader.position == 0
    os.write(fd, data[30:])
    os.close(fd)
    [entry] = reader.read(10, 1 << 20)
    assert entry.capture.id == "ex_1" and reader.position == len(data)
    writer.close()


def test_begin_records_carry_the_request_not_the_response(tmp_path: Path) -> None:
    writer = journal.Journal(tmp_path)
    running = capture(2)
    writer.append(running, "begin")
    writer.append(running, "finish")
    begin, finish = journal.replay(journal.segment(tmp_path, 0))
    assert (begin.kind, begin.capture.chunks, begin.capture.request_body) == (
        "begin",
        [],
        b"x" * 100,
    )
    assert (finish.kind, finish.capture.chunks) == ("finish", running.chunks)


def test_headers_of_an_older_journal_are_recorded_as_a_new_ones_are(tmp_path: Path) -> None:
    """Frames carry headers as objects now; a journal left by an older version holds [name,
    value] pairs, and its exchanges are recorded the same."""
    running = capture(3)
    running.request_headers = [("X-Api-Key", "sk-ant-api03-" + "k" * 40), ("Accept", "*/*")]
    running.response_headers = [("Content-Type", "application/json"), ("request-id", "req_1")]
    running.status = 200
    parts = journal.frame(running, "finish")
    meta = orjson.loads(parts[1])
    old = {**meta, **{k: list(meta[k].items()) for k in ("request_headers", "response_headers")}}
    old_meta = orjson.dumps(old)
    size = journal.FRAME.unpack(parts[0])[2]
    old_parts = [journal.FRAME.pack(journal.MAGIC, len(old_meta), size), old_meta, *parts[2:]]
    segment = journal.segment(tmp_path, 0)
    segment.write_bytes(b"".join(parts) + b"".join(old_parts))
    new, older = journal.replay(segment)
    assert isinstance(new.capture.request_headers, dict)
    assert isinstance(older.capture.request_headers, list)
    rows = [recorded(e.capture) for e in (new, older)]
    assert rows[0] == rows[1]
    assert rows[0]["request_headers"] == {"x-api-key": "sk-ant-api...kkkk", "accept": "*/*"}
    assert rows[0]["upstream_request_id"] == "req_1"


def recorded(c: Capture) -> dict[str, object]:
    row = finished_row(c, request_row(c, Memo())[0], None, Scrubber(True), Pricer(), Packer())
    row.pop("payload")
    return row


def test_a_running_exchange_is_listed_with_its_question_then_with_the_answer(
    tmp_path: Path,
) -> None:
    """A 'begin' entry makes a pending row previewing the request; its 'finish' replaces it with
    the question and the reply (the preview is made once per entry, for the row it fills)."""
    store = open_store("", tmp_path)
    store.open()
    writer = Writer(store, scrub=True, retention=Retention())
    body = {"model": "m", "messages": [{"role": "user", "content": "what is 2+2?"}]}
    running = Capture("ex_run", "POST", "/v1/messages", "", "127.0.0.1", [], orjson.dumps(body))
    writer.write([journal.Entry("begin", running, 1)], 1)
    [pending] = store.fetch("SELECT state, preview FROM exchanges")
    assert (pending["state"], pending["preview"]) == ("pending", "what is 2+2?\n→")
    reply = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "4"}]}
    running.status, running.chunks = 200, [orjson.dumps(reply)]
    running.response_headers = [("content-type", "application/json")]
    running.finish(State.SUCCESS)
    writer.write([journal.Entry("finish", running, 2)], 2)
    [done] = store.fetch("SELECT state, preview FROM exchanges")
    assert (done["state"], done["preview"]) == ("success", "what is 2+2?\n→ 4")
    store.close()


def test_a_new_writer_stores_a_running_conversation_once_and_whole(tmp_path: Path) -> None:
    """After a restart the writer has seen no part yet: the parts of a conversation it resumes
    are written again and ignored by the store, never duplicated, and every body rebuilds."""
    store = open_store("", tmp_path)
    store.open()
    turns = [
        {"model": "m", "system": "be brief " * 80, "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 60}
            for i in range(n)
        ]}
        for n in (1, 3, 5)
    ]  # fmt: skip
    ids = []
    for turn in turns:  # one writer per turn: a restart between each
        writer = Writer(store, scrub=True, retention=Retention())
        c = Capture(f"ex_{len(ids)}", "POST", "/v1/messages", "", "127.0.0.1", [],
                    orjson.dumps(turn))  # fmt: skip
        c.finish(State.SUCCESS)
        writer.write([journal.Entry("finish", c, 1)], 1)
        ids.append(c.id)
    [stored] = store.fetch("SELECT COUNT(*) AS n FROM blobs WHERE raw_bytes > 500")
    assert stored["n"] == 1 + 5  # the system prompt and five messages, each once
    for exchange_id, turn in zip(ids, turns, strict=True):
        [row] = store.fetch("SELECT request_ref FROM exchanges WHERE id = ?", [exchange_id])
        assert join(row["request_ref"], store.blob) == turn
    store.close()
