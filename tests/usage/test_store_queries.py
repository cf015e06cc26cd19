"""Quota, reports and the status line read the same on SQLite and PostgreSQL (rows written
straight into each store, as the recorder would)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from anthropic_proxy.monitor import anatomy, anatomy_totals, queries
from anthropic_proxy.storage import Store, bodies, open_store
from anthropic_proxy.usage import quota, report, statusline
from tests.monitor.conftest import make_row
from tests.pg import fresh_schema, url_for

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
NOW = 1_750_010_000.0  # 2025-06-15 17:53:20 UTC


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        with fresh_schema() as schema:
            opened = open_store(url_for(schema), tmp_path)
            opened.open()
            yield opened
            opened.close()
        return
    opened = open_store("", tmp_path)
    opened.open()
    yield opened
    opened.close()


def reading(util: float, reset: float) -> str:
    return orjson.dumps({"unified-5h-utilization": str(util), "unified-5h-reset": str(int(reset)),
                         "unified-5h-status": "allowed"}).decode()  # fmt: skip


def test_forecast_from_the_last_hour(store: Store) -> None:
    reset = NOW + 2 * 3600
    rows = [  # one reading every 10 minutes for the last 50 minutes, +0.05 each
        make_row(i, started_at=NOW - 3000 + 600 * i, ratelimit=reading(0.30 + 0.05 * i, reset),
                 session_id="s1", project="p")
        for i in range(6)
    ]  # fmt: skip
    store.write(rows, {})
    window = quota.quota(store, now=NOW)["windows"][0]
    assert window["window"] == "5h" and window["utilization"] == pytest.approx(0.55)
    forecast = window["forecast"]
    assert forecast["rate_per_hour"] == pytest.approx(0.30)  # 0.05 per 10 minutes
    # 0.45 left at 0.30/hour: 1.5 hours after the last reading, before the reset (2 h away).
    assert forecast["runs_out_at"] == pytest.approx(NOW - 0 + 1.5 * 3600, abs=1)
    assert forecast["before_reset"] is True
    assert window["reset_in_s"] == pytest.approx(2 * 3600)


def test_reports_group_by_period_owner_and_model(store: Store) -> None:
    day = datetime(2025, 6, 14, tzinfo=UTC).timestamp()
    rows = [
        make_row(1, started_at=day + 3600, session_id="a", project="p1", tags="x,y",
                 model="claude-sonnet-4-5", input_tokens=100, output_tokens=10, cost_usd=0.5),
        make_row(2, started_at=day + 3 * 3600, session_id="a", project="p1", tags="x",
                 model="claude-opus-4-1", input_tokens=200, output_tokens=20, cost_usd=1.25),
        make_row(3, started_at=day + 7 * 3600, session_id="b", project="p2",
                 model="claude-sonnet-4-5", input_tokens=300, output_tokens=30, cost_usd=0.25,
                 price_version="backend usage.cost", calculated_cost_usd=0.2),
        make_row(4, started_at=day + 86400 + 60, session_id="b", project="p2",
                 model="claude-sonnet-4-5", input_tokens=400, output_tokens=40, cost_usd=2.0),
        make_row(5, started_at=day + 86400 + 90, kind="count_tokens", cost_usd=None),
        make_row(6, started_at=day + 86400 + 95, state="pending", cost_usd=None),
    ]  # fmt: skip
    store.write(rows, {})
    scope = report.Scope()
    daily = report.report(store, "daily", scope, by_model=True, tz=UTC, now=NOW)
    assert [r["key"] for r in daily["rows"]] == ["2025-06-14", "2025-06-15"]
    first = daily["rows"][0]
    assert first["requests"] == 3 and first["input_tokens"] == 600 and first["cost_usd"] == 2.0
    assert first["reported_cost_usd"] == 0.25 and first["calculated_cost_usd"] == pytest.approx(
        1.95
    )
    assert {m["model"]: m["requests"] for m in first["by_model"]} == {
        "claude-sonnet-4-5": 2, "claude-opus-4-1": 1}  # fmt: skip
    assert daily["totals"]["requests"] == 4 and daily["totals"]["cost_usd"] == 4.0
    blocks = report.report(store, "blocks", scope, tz=UTC, now=NOW)["rows"]
    # 01:00 opens a block to 06:00 (rows 1, 2); 07:00 a second; the next day 00:01 a third.
    assert [(b["key"], b["requests"]) for b in blocks] == [
        ("2025-06-14 01:00", 2), ("2025-06-14 07:00", 1), ("2025-06-15 00:00", 1)]  # fmt: skip
    sessions = report.report(store, "session", scope, tz=UTC)["rows"]
    assert [(s["key"], s["project"], s["cost_usd"]) for s in sessions] == [
        ("b", "p2", 2.25), ("a", "p1", 1.75)]  # fmt: skip
    tags = {r["key"]: r["requests"] for r in report.report(store, "tag", scope)["rows"]}
    assert tags == {"x": 2, "y": 1, None: 2}
    only = report.report(store, "monthly", report.Scope(tag="y", project="p1"), tz=UTC)
    assert only["totals"]["requests"] == 1
    weekly = report.report(store, "weekly", scope, tz=UTC)["rows"]
    assert [w["key"] for w in weekly] == ["2025-06-09"]  # the Monday of that week


def test_statusline_facts(store: Store) -> None:
    midnight = datetime.fromtimestamp(NOW).replace(hour=0, minute=0, second=0).timestamp()
    rows = [
        make_row(1, started_at=midnight - 600, session_id="s", cost_usd=1.0),
        make_row(2, started_at=midnight + 60, session_id="s", cost_usd=0.5, input_tokens=10,
                 cache_read_tokens=80000, cache_creation_tokens=10, ratelimit=reading(0.42, NOW + 3600)),
        make_row(3, started_at=midnight + 120, session_id="other", cost_usd=0.25),
        make_row(4, started_at=midnight + 130, session_id="s", agent_id="sub", cost_usd=0.0,
                 input_tokens=5, cache_read_tokens=0, cache_creation_tokens=0),
    ]  # fmt: skip
    store.write(rows, {})
    given: dict[str, Any] = {"session_id": "s", "model": {"id": "claude-sonnet-4-5"}}
    facts = statusline.facts(store, given, now=NOW)
    assert facts["session_cost_usd"] == 1.5 and facts["today_cost_usd"] == 0.75
    assert facts["quota"]["utilization"] == 0.42 and facts["quota"]["window"] == "5h"
    assert facts["context_tokens"] == 80020 and facts["context_window"] == 200_000
    line = statusline.line(facts)
    assert line.startswith("$1.50 session · $0.75 today · 5h 42% ↺")
    assert "ctx 80k/200k 40%" in line


def test_anatomy_totals_cover_every_exchange_in_range(store: Store) -> None:
    """More exchanges than the newest 5,000 the totals once read: every vector in the range
    counts, each exchange's input cost shared among its categories. Half the vectors were kept
    before migration 041 (which takes them apart into parts), half by the monitor after it."""
    rows, vectors = [], []
    for i in range(5300):
        session = "s" if i < 5100 else "other"
        rows.append(make_row(i, session_id=session))
        vector = {"system": 1000 + i % 7, "tools:mcp:github": 300 + i % 11,
                  "tool_results:Bash": 50 + i % 13, "user_text": i % 5}  # fmt: skip
        vectors.append((rows[-1]["id"], vector, 0.001 * (1 + i % 3)))
    rows += [make_row(6000 + i, session_id="s") for i in range(3)]  # no body: kept empty
    store.write(rows, {})
    store.execute("DROP TABLE exchange_anatomy_parts")  # a store as it was before 041
    store.execute("DROP INDEX exchange_anatomy_empty")
    store.execute("DELETE FROM migrations WHERE name = ?", ["041_anatomy_parts"])
    for start in range(0, 2600, 500):
        part = vectors[start : min(2600, start + 500)]
        store.execute(
            "INSERT INTO exchange_anatomy (id, started_at, vector, input_cost_usd) VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(part)),
            [x for id, v, cost in part for x in (id, NOW, orjson.dumps(v).decode(), cost)],
        )
    store.close()
    store.open()
    anatomy_totals.keep(
        store, [anatomy_totals.Vector(id, NOW, v, c) for id, v, c in vectors[2600:]]
    )
    got = anatomy_totals.aggregate(
        store, anatomy.Anatomist(), queries.parse_filters({"session": "s"})
    )
    mine = vectors[:5100]
    assert (got["exchanges"], got["covered"], got["missing"], got["unanalysable"]) == (
        5103, 5103, 0, 3)  # fmt: skip

    def total(key: str) -> int:
        return sum(v[key] for _, v, _ in mine)

    categories = {c["key"]: c["tokens"] for c in got["by_category"]}
    assert categories == {"system": total("system"), "tools": total("tools:mcp:github"),
                          "tool_results": total("tool_results:Bash"), "user_text": total("user_text")}  # fmt: skip
    assert {t["key"]: t["tokens"] for t in got["by_tool"]} == {
        "(definitions) mcp__github": total("tools:mcp:github"), "Bash": total("tool_results:Bash")}  # fmt: skip
    assert [(s["key"], s["tokens"]) for s in got["by_mcp_server"]] == [
        ("github", total("tools:mcp:github"))
    ]
    cost = sum(c["cost_usd"] for c in got["by_category"])
    assert cost == pytest.approx(sum(c for _, _, c in mine), rel=1e-6)
    bash = sum(c * v["tool_results:Bash"] / sum(v.values()) for _, v, c in mine)
    assert {t["key"]: t["cost_usd"] for t in got["by_tool"]}["Bash"] == pytest.approx(
        bash, rel=1e-6
    )


def test_unanalysable_rows_are_kept_empty_and_the_fill_moves_on(store: Store) -> None:
    """More newest rows whose request is not a JSON object than one refresh computes: each is
    kept as analysed with nothing in it, never tried again, and the next refresh reaches the
    older rows."""
    sent = []
    for i in range(5):
        body = {"model": "claude-sonnet-4-6", "system": "You are terse.",
                "messages": [{"role": "user", "content": f"question {i} " * (i + 1)}]}  # fmt: skip
        split = bodies.split_body(body)
        row = make_row(i, session_id="s", input_tokens=100 + i, cache_read_tokens=1000 * i,
                       request_ref=split.ref, blob_refs=split.refs, tip=split.tip)  # fmt: skip
        store.write([row], split.parts, split.nodes)
        sent.append(row)
    shapes: list[Any] = [[1, 2], "not an object", None, {"system": 5, "messages": 7}]
    bad = anatomy_totals.FILL_LIMIT + 20
    for j in range(bad):
        body = shapes[j % len(shapes)]
        split = bodies.split_body(body) if body is not None else None
        row = make_row(1000 + j, session_id="s", request_ref=split and split.ref)
        store.write([row], split.parts if split else {})
    f = queries.parse_filters({"session": "s"})
    first = anatomy_totals.aggregate(store, anatomy.Anatomist(), f)
    assert (first["exchanges"], first["covered"], first["missing"]) == (bad + 5, 200, 25)
    second = anatomy_totals.aggregate(store, anatomy.Anatomist(), f)
    assert (second["covered"], second["missing"], second["unanalysable"]) == (bad + 5, 0, bad)
    reported = sum(r["input_tokens"] + r["cache_read_tokens"] for r in sent)
    assert sum(c["tokens"] for c in second["by_category"]) == reported
    assert {c["key"] for c in second["by_category"]} == {"system", "user_text"}
    kept = store.fetch("SELECT vector FROM exchange_anatomy WHERE id >= ?", ["ex_test00001000"])
    assert len(kept) == bad and {r["vector"] for r in kept} == {"{}"}
