"""Exports: JSON / JSONL / CSV shapes, filters, and the dedup format's exact round trip."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import aiohttp
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.monitor import dedup
from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block, tool_use_block
from tests.monitor.conftest import make_row, send, write_rows


async def download(
    http: aiohttp.ClientSession, proxy: RunningProxy, **params: str
) -> tuple[bytes, Any]:
    async with http.get(proxy.url + "/api/monitor/export", params=params) as r:
        assert r.status == 200, await r.text()
        return await r.read(), r.headers


async def converse(
    http: aiohttp.ClientSession, proxy: RunningProxy, fake: FakeAnthropic, turns: int
) -> None:
    """A growing Claude Code-like conversation: each turn repeats the whole history."""
    history: list[dict[str, Any]] = []
    system = [{"type": "text", "text": "You are Claude Code. " * 20}]
    tools = [
        {"name": "Read", "description": "Read a file " * 10, "input_schema": {"type": "object"}}
    ]
    for turn in range(turns):
        reply = message(
            text_block(f"reply {turn} " * 5), tool_use_block("Read", {"file_path": f"f{turn}.py"})
        )
        fake.enqueue(reply)
        history.append(
            {"role": "user", "content": [{"type": "text", "text": f"turn {turn} " * 30}]}
        )
        body = {"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": turn % 2 == 0,
                "system": system, "tools": tools, "messages": history}  # fmt: skip
        await send(http, proxy, body, **{"x-claude-code-session-id": "sess-export"})
        history.append({"role": "assistant", "content": reply["content"]})
    await proxy.rows(turns)


async def test_compressed_export_restores_the_plain_export_exactly(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    await converse(http, mon, fake, 8)
    plain, _ = await download(http, mon, format="jsonl")
    packed, headers = await download(http, mon, format="compressed")
    assert "compressed" in headers["Content-Disposition"]
    restored = b"".join(dedup.restore(packed.splitlines()))
    assert restored == plain
    assert len(packed) < len(plain) * 0.6
    footer = orjson.loads(packed.splitlines()[-1])
    stats = footer["compressionInfo"]["stats"]
    assert set(stats) >= {
        "originalFields",
        "removedFields",
        "uniqueFields",
        "excludedFields",
        "compressionRatio",
    }
    assert stats["removedFields"] > 0 and footer["records"] == 8


async def test_json_csv_and_filters(mon: RunningProxy, http: aiohttp.ClientSession) -> None:
    rows = [
        make_row(i, model="claude-opus-4-6" if i % 3 == 0 else "claude-sonnet-4-6")
        for i in range(450)
    ]
    rows[1]["preview"] = '=HYPERLINK("http://evil")'
    await write_rows(mon, rows)
    body, headers = await download(http, mon, format="json", model="claude-opus-4-6")
    data = json.loads(body)
    assert data["total"] == 150 == len(data["requests"]) == data["stats"]["totalRequests"]
    assert "filtered" in headers["Content-Disposition"]
    assert [r["id"] for r in data["requests"]] == [f"ex_test{i:08d}" for i in range(0, 450, 3)]
    lines = (await download(http, mon, format="jsonl"))[0].splitlines()
    assert len(lines) == 450  # more than two keyset pages
    table = list(csv.DictReader(io.StringIO((await download(http, mon, format="csv"))[0].decode())))
    assert len(table) == 450 and table[1]["preview"].startswith("'=")  # not a formula
    async with http.get(mon.url + "/api/monitor/export", params={"format": "xml"}) as r:
        assert r.status == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(["$ref", "$esc", "a", "content", "text", "b"]), children, max_size=4),
    max_leaves=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=6), st.integers(1, 70))
def test_dedup_round_trip_on_any_json(records: list[Any], min_bytes: int) -> None:
    records = records + records[::-1]  # repeats across records are the point
    deduper = dedup.Deduper(min_bytes)
    header = {"type": "header", "format": dedup.FORMAT, "version": 1, "minBytes": min_bytes}
    lines = [orjson.dumps(header)] + [
        orjson.dumps({"type": "record", "value": deduper.encode(r)}) for r in records
    ]
    assert list(dedup.restore(lines)) == [orjson.dumps(r) + b"\n" for r in records]


def test_marker_lookalikes_survive() -> None:
    records = [{"$ref": 0}, {"$esc": {"$ref": 1}}, {"x": {"$ref": 0}}, {"$ref": 0}]
    deduper = dedup.Deduper(1)
    lines = [orjson.dumps({"type": "header", "format": dedup.FORMAT, "version": 1, "minBytes": 1})]
    lines += [orjson.dumps({"type": "record", "value": deduper.encode(r)}) for r in records]
    assert [orjson.loads(x) for x in dedup.restore(lines)] == records
