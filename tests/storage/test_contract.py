"""The storage contract, run against every backend: SQLite and PostgreSQL behave the same.

PostgreSQL tests use a throwaway schema each (see tests/pg.py) and skip with the reason when the
server is unreachable, unless ANTHROPIC_PROXY_REQUIRE_PG=1 (CI) makes them fail.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from anthropic_proxy.monitor import details, queries, stats
from anthropic_proxy.storage import COLUMNS, Row, Store, bodies, migrations, open_store, packing
from tests.pg import fresh_schema, url_for

NOW = 1_750_000_000.0
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with _opened(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    with _opened("sqlite", tmp_path) as lite, _opened("postgres", tmp_path) as pg:
        yield lite, pg


class _opened:
    """A context manager opening one backend's store (and dropping its schema afterwards)."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend, self.tmp_path = backend, tmp_path
        self.schema: Any = None

    def __enter__(self) -> Store:
        url = ""
        if self.backend == "postgres":
            self.schema = fresh_schema()
            url = url_for(self.schema.__enter__())
        self.store = open_store(url, self.tmp_path / self.backend)
        self.store.open()
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()
        if self.schema is not None:
            self.schema.__exit__(None, None, None)


def row(id: str, **values: Any) -> Row:
    base: Row = {c: None for c in COLUMNS}
    base.update(
        id=id, started_at=NOW, kind="messages", mode="anthropic", method="POST",
        path="/v1/messages", query="", stream=False, state="pending", request_bytes=10,
        response_bytes=0, stored_bytes=0, model="claude-sonnet-4-6",
    )  # fmt: skip
    base.update(values)
    return base


def final(id: str, **values: Any) -> Row:
    done = dict(
        state="success", status=200, finished_at=NOW + 1.5, duration_ms=1500.0, ttft_ms=300.0,
        ttfb_ms=120.0, input_tokens=100, output_tokens=20, cache_read_tokens=50,
        cache_creation_tokens=0, cost_usd=0.0123, stop_reason="end_turn", response_bytes=800,
        payload=packing.pack({"content": {"response": {"content": []}}}),
        preview="hello 100% sure?",
    )  # fmt: skip
    return row(id, **{**done, **values})


def test_write_then_upsert_pending_to_final(store: Store) -> None:
    store.write([row("ex_1", stream=True)], {})
    pending = store.fetch("SELECT * FROM exchanges WHERE id = ?", ["ex_1"])
    assert pending[0]["state"] == "pending" and pending[0]["stream"] == 1
    store.write([final("ex_1", stream=True)], {})
    [got] = store.fetch("SELECT * FROM exchange_details")
    assert got["state"] == "success" and got["status"] == 200 and got["cost_usd"] == 0.0123
    assert packing.unpack(bytes(got["payload"]))["content"]["response"] == {"content": []}
    assert got["started_at"] == NOW and got["duration_ms"] == 1500.0


def test_blobs_are_content_addressed(store: Store) -> None:
    ref, parts = bodies.split({"model": "m", "system": "s" * 1000, "messages": [{"role": "user"}]})
    store.write([row("ex_1", request_ref=ref, blob_refs=list(parts))], parts)
    store.write([row("ex_2", request_ref=ref, blob_refs=list(parts))], parts)  # same parts again
    assert store.known_blobs([*parts, "nope"]) == set(parts)
    assert bodies.join(ref, store.blob)["system"] == "s" * 1000
    assert store.blob("nope") is None
    [count] = store.fetch("SELECT COUNT(*) AS n FROM blobs")
    assert count["n"] == len(parts)


def test_small_parts_are_kept_as_they_are_large_ones_compressed(store: Store) -> None:
    small, large = {"text": "short"}, {"text": "long " * 400}
    ref, parts = bodies.split({"model": "m", "messages": [small, large]})
    store.write([row("ex_1", request_ref=ref, blob_refs=list(parts))], parts)
    stored = {r["hash"]: bytes(r["data"]) for r in store.fetch("SELECT hash, data FROM blobs")}
    kept_raw = {h for h, data in stored.items() if data == parts[h]}
    assert kept_raw == {h for h, raw in parts.items() if len(raw) < bodies.RAW_BELOW}
    assert len(kept_raw) < len(parts)  # the long message went through zstd
    assert bodies.join(ref, store.blob)["messages"] == [small, large]


def test_parts_stored_with_zlib_before_zstd_still_read(store: Store) -> None:
    part = orjson.dumps({"role": "user", "content": "written last year " * 60})
    store.execute(
        "INSERT INTO blobs (hash, data, raw_bytes) VALUES (?, ?, ?)",
        ["zlib-part", zlib.compress(part, 6), len(part)],
    )
    assert store.blob("zlib-part") == part


def test_mark_interrupted_only_touches_pending(store: Store) -> None:
    store.write([row("ex_1"), final("ex_2"), row("ex_3")], {})
    assert store.mark_interrupted() == 2
    states = {r["id"]: r["state"] for r in store.fetch("SELECT id, state FROM exchanges")}
    assert states == {"ex_1": "interrupted", "ex_2": "success", "ex_3": "interrupted"}


def test_fetch_and_execute_take_portable_placeholders(store: Store) -> None:
    store.write([final("ex_1"), final("ex_2", model="other")], {})
    # '?' and '%' inside a literal are text, not placeholders.
    got = store.fetch(
        "SELECT id FROM exchanges WHERE preview LIKE '%100%' AND preview LIKE '%?' AND model = ?",
        ["other"],
    )
    assert got == [{"id": "ex_2"}]
    assert store.execute("UPDATE exchanges SET status = ? WHERE model = ?", [500, "other"]) == 1
    [avg] = store.fetch("SELECT AVG(status) AS a, SUM(input_tokens) AS s FROM exchanges")
    assert avg == {"a": 350, "s": 200}  # plain numbers, not Decimal
    assert orjson.dumps(avg)


def test_prune_by_count_and_age_drops_orphan_blobs(store: Store) -> None:
    shared = {"shared": b'"kept"'}
    for i in range(30):
        own = {f"own{i}": b'"x"'}
        store.write(
            [final(f"ex_{i:02}", started_at=NOW + 10 * i, blob_refs=[*shared, *own])],
            {**shared, **own},
        )
    store.write([row("ex_pending", started_at=NOW - 100)], {})
    while store.prune(max_records=11, max_age_s=0, max_bytes=0, batch=7):
        pass
    ids = [r["id"] for r in store.fetch("SELECT id FROM exchanges ORDER BY started_at")]
    assert ids == ["ex_pending", *(f"ex_{i:02}" for i in range(20, 30))]
    assert store.sweep() == 20  # the parts only the pruned exchanges used
    assert store.known_blobs(["shared", "own19", "own20"]) == {"shared", "own20"}
    cutoff_age = int(time.time() - (NOW + 245))  # cut off between ex_24 and ex_25
    store.prune(max_records=0, max_age_s=cutoff_age, max_bytes=0)
    left = {r["id"] for r in store.fetch("SELECT id FROM exchanges")}
    assert left == {"ex_pending", *(f"ex_{i:02}" for i in range(25, 30))}


def anatomy_ids(store: Store) -> set[str]:
    """The exchanges with anatomy rows: vectors and their parts (041) go together."""
    vectors = {r["id"] for r in store.fetch("SELECT id FROM exchange_anatomy")}
    parts = {r["id"] for r in store.fetch("SELECT id FROM exchange_anatomy_parts")}
    assert parts == vectors
    return vectors


def add_anatomy(store: Store, ids: list[str]) -> None:
    """Context-anatomy vectors, as the monitor keeps them once it has computed them."""
    for i in ids:
        store.execute(
            "INSERT INTO exchange_anatomy (id, started_at, vector, input_cost_usd) "
            "VALUES (?, ?, ?, ?)",
            [i, NOW, '{"system": 100, "user_text": 50}', 0.0015],
        )
        store.execute(
            "INSERT INTO exchange_anatomy_parts (id, key, tokens, cost_usd) VALUES "
            "(?, 'system', 100, 0.001), (?, 'user_text', 50, 0.0005)",
            [i, i],
        )


def test_prune_sweep_and_clear_take_the_anatomy_rows_along(store: Store) -> None:
    ids = [f"ex_{i:02}" for i in range(12)]
    store.write([final(i, started_at=NOW + 10 * n) for n, i in enumerate(ids)], {})
    add_anatomy(store, ids)
    while store.prune(max_records=5, max_age_s=0, max_bytes=0, batch=3):
        pass
    assert anatomy_ids(store) == set(ids[7:])
    # One a reader computed while its exchange was being pruned: the sweep drops it.
    add_anatomy(store, ["ex_gone"])
    store.sweep()
    assert anatomy_ids(store) == set(ids[7:])
    store.prune(max_records=0, max_age_s=int(time.time() - (NOW + 85)), max_bytes=0)
    assert anatomy_ids(store) == set(ids[9:])
    store.clear()
    assert anatomy_ids(store) == set()


def test_sweep_keeps_every_chain_a_kept_exchange_reaches(store: Store) -> None:
    """Conversations share their first messages; pruning the early turns must keep the
    messages the later turns still reach through their chain, and drop the rest."""
    bodies_sent = []
    for turn in range(6):
        messages = [{"role": "user", "content": f"message {i}"} for i in range(turn + 1)]
        body = {"model": "m", "system": "s", "messages": messages}
        if turn == 2:  # a branch: an edited earlier message
            body["messages"] = [{"role": "user", "content": "edited"}, *messages[1:]]
        split = bodies.split_body(body)
        store.write(
            [final(f"ex_{turn}", started_at=NOW + turn, request_ref=split.ref,
                   blob_refs=split.refs, tip=split.tip)],
            split.parts, split.nodes,
        )  # fmt: skip
        bodies_sent.append(body)
    while store.prune(max_records=3, max_age_s=0, max_bytes=0):
        pass
    store.sweep()
    kept = store.fetch("SELECT id, request_ref FROM exchanges ORDER BY started_at")
    assert [r["id"] for r in kept] == ["ex_3", "ex_4", "ex_5"]
    for r, body in zip(kept, bodies_sent[3:], strict=True):
        assert bodies.join(r["request_ref"], store.blob) == body
    edited = bodies.digest(orjson.dumps({"role": "user", "content": "edited"}))
    assert store.known_blobs([edited]) == set()  # only the pruned branch used it
    assert store.fetch("SELECT COUNT(*) AS n FROM nodes") == [{"n": 6}]  # one chain of six


def test_clear_and_size(store: Store) -> None:
    store.write([final(f"ex_{i}", preview="p" * 2000) for i in range(50)], {"h": b"1"})
    assert store.size_bytes() > 0
    store.clear()
    assert store.fetch("SELECT COUNT(*) AS n FROM exchanges") == [{"n": 0}]
    assert store.known_blobs(["h"]) == set()


def test_reopen_keeps_data_and_migrations_are_idempotent(store: Store) -> None:
    store.write([final("ex_1")], {})
    store.close()
    store.open()
    store.open()
    assert [r["id"] for r in store.fetch("SELECT id FROM exchanges")] == ["ex_1"]


def _dataset() -> list[Row]:
    out = []
    for i in range(40):
        state = ("success", "success", "error", "client_closed", "pending")[i % 5]
        values: dict[str, Any] = {
            "started_at": NOW + i * 37.7, "model": ("claude-sonnet-4-6", "claude-haiku-4-5")[i % 2],
            "mode": ("anthropic", "openrouter")[i % 3 == 0], "session_id": f"s{i % 4}",
            "duration_ms": 100.0 + i * 13, "ttft_ms": None if i % 7 == 0 else 50.0 + i,
            "input_tokens": 10 * i, "output_tokens": i, "cost_usd": 0.001 * i,
            "preview": f"turn {i} about_tests 50%",
        }  # fmt: skip
        out.append(
            row(f"ex_{i:02}", **values)
            if state == "pending"
            else final(f"ex_{i:02}", state=state, **values)
        )
    return out


QUERIES = [
    {},
    {"status": "failed"},
    {"model": "claude-haiku-4-5", "sort": "-duration_ms"},
    {"q": "about_", "sort": "ttft_ms", "order": "asc"},
    {"q": "50%", "session": "s1"},
    {"provider": "openrouter", "page": "2", "limit": "3", "sort": "-cost_usd"},
    {"from": str(NOW + 100), "to": str(NOW + 1400)},  # partial rollup slots at both ends
    {"timeRange": "1h", "kind": "messages"},
    {"status": "pending"},
    {"q": "turn 1"},
]


@pytest.mark.postgres
@pytest.mark.parametrize("query", QUERIES)
def test_monitor_queries_agree_between_backends(
    both: tuple[Store, Store], query: dict[str, str]
) -> None:
    for store in both:
        store.write(_dataset(), {})
    f = queries.parse_filters(query, now=NOW + 2000)
    page = queries.parse_page(query)
    lite, pg = (queries.list_exchanges(s, f, page) for s in both)
    assert lite == pg and lite["total"] > 0
    lite_stats, pg_stats = (stats.compute(s, f, now=NOW + 2000) for s in both)
    assert lite_stats == pg_stats
    detail = [details.get_exchange(s, "ex_01") for s in both]
    assert detail[0] == detail[1] and detail[0] is not None


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"status": "failed"},
        {"from": str(NOW + 100), "to": str(NOW + 1400)},
        {"from": str(NOW + 61), "to": str(NOW + 119)},  # inside one minute
        {"from": str(NOW - 4000), "to": str(NOW + 9000), "model": "claude-haiku-4-5"},
        {"timeRange": "24h", "status": "pending"},
    ],
)
def test_stats_from_the_rollup_equal_stats_from_the_rows(
    store: Store, query: dict[str, str]
) -> None:
    """The rollup levels (and the rows for partial slots and pending exchanges) add up to what
    the rows alone give: a session filter makes stats read only `exchanges`."""
    store.write([{**x, "session_id": "s"} for x in _dataset()], {})
    f = queries.parse_filters(query, now=NOW + 2000)
    rolled = stats.compute(store, f, now=NOW + 2000)
    raw_f = queries.parse_filters({**query, "session": "s"}, now=NOW + 2000)
    raw = stats.compute(store, raw_f, now=NOW + 2000)
    assert rolled == raw and rolled["totalRequests"] > 0


def test_rollup_keeps_finished_exchanges_once_and_drops_emptied_rows(store: Store) -> None:
    store.write([row("ex_1")], {})  # pending: not in the rollup
    assert store.fetch("SELECT COUNT(*) AS n FROM exchange_rollup") == [{"n": 0}]
    store.write([final("ex_1")], {})
    sums = store.fetch("SELECT width, n FROM exchange_rollup ORDER BY width")
    assert sums == [{"width": w, "n": 1} for w in migrations.ROLLUP_WIDTHS]
    store.write([final("ex_1", model="other")], {})  # a finished row rewritten: moved, not added
    rows = store.fetch("SELECT model, n FROM exchange_rollup")
    assert rows == [{"model": "other", "n": 1}] * len(migrations.ROLLUP_WIDTHS)
    assert store.prune(max_records=0, max_age_s=1, max_bytes=0) == 1  # deleted: taken out
    assert store.fetch("SELECT COUNT(*) AS n FROM exchange_rollup") == [{"n": 0}]


def test_text_search_counts_and_stats_are_capped(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    monkeypatch.setattr(stats, "SAMPLE", 12)
    data = _dataset()
    store.write(data, {})
    matching = sorted((x for x in data if "about_" in x["preview"]), key=lambda x: -x["started_at"])
    f = queries.parse_filters({"q": "ABOUT_"})
    listed = queries.list_exchanges(store, f, queries.parse_page({"limit": "4", "page": "2"}))
    assert listed["total"] == 10 and listed["total_capped"] is True
    assert [r["id"] for r in listed["data"]] == [x["id"] for x in matching[4:8]]
    deep = queries.list_exchanges(store, f, queries.parse_page({"limit": "4", "page": "4"}))
    assert deep["total"] == 16 and [r["id"] for r in deep["data"]] == [
        x["id"] for x in matching[12:16]
    ]
    rare = queries.list_exchanges(store, queries.parse_filters({"q": "turn 17"}), queries.Page())
    assert rare["total"] == 1 and rare["total_capped"] is False
    s = stats.compute(store, f, now=NOW + 2000)
    newest = matching[:12]
    assert s["sampled"] == {"newest": 12, "from": newest[-1]["started_at"]}
    assert s["totalRequests"] == 12
    assert s["tokens"]["input"] == sum(x["input_tokens"] or 0 for x in newest)
    assert stats.compute(store, queries.parse_filters({"q": "turn 17"}))["sampled"] is None


@pytest.mark.postgres
def test_instances_pruning_at_once_delete_each_row_once(tmp_path: Path) -> None:
    with fresh_schema() as schema:
        stores = [open_store(url_for(schema), tmp_path) for _ in range(3)]
        for s in stores:
            s.open()  # three instances migrating the same schema
        stores[0].write([final(f"ex_{i:04}", started_at=NOW + i) for i in range(600)], {})
        deleted = [0] * len(stores)

        def prune(k: int) -> None:
            for _ in range(200):
                deleted[k] += stores[k].prune(max_records=100, max_age_s=0, max_bytes=0, batch=20)

        threads = [threading.Thread(target=prune, args=(k,)) for k in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(deleted) == 500
        assert stores[1].fetch("SELECT COUNT(*) AS n FROM exchanges") == [{"n": 100}]
        for s in stores:
            s.close()


@pytest.mark.postgres
def test_write_refuses_dangling_part_pruned_elsewhere(tmp_path: Path) -> None:
    from anthropic_proxy.storage.postgres import StaleBlobCache

    with fresh_schema() as schema:
        store = open_store(url_for(schema), tmp_path)
        store.open()
        with pytest.raises(StaleBlobCache):
            store.write([final("ex_1", blob_refs=["gone"])], {})  # the cache said "known"
        assert store.fetch("SELECT COUNT(*) AS n FROM exchanges") == [{"n": 0}]
        store.close()


@pytest.mark.postgres
def test_time_buckets_agree_at_bucket_edges(both: tuple[Store, Store]) -> None:
    edge = (NOW // 60 + 1) * 60 - 0.3  # the last half second of a one-minute bucket
    for store in both:
        exchanges = [final("ex_a", started_at=NOW), final("ex_b", started_at=edge)]
        store.write([{**x, "session_id": "s1"} for x in exchanges], {})
    for query in ({"from": str(NOW), "to": str(NOW + 600)}, {"session": "s1"}):
        f = queries.parse_filters(query)  # the rollup path, then the rows path
        lite, pg = (stats.compute(s, f, now=NOW + 600)["buckets"] for s in both)
        assert lite == pg, query
        counts = {item["t"]: item["count"] for item in lite["items"] if item["count"]}
        # Floored: the edge exchange stays in the bucket it started in.
        assert sum(counts.values()) == 2
        assert counts.get(edge // lite["width"] * lite["width"], 0) >= 1, (query, counts)


def test_text_search_finds_rows_before_and_after_indexing(store: Store) -> None:
    """Rows wait for the text index (SQLite indexes them when the recorder is idle): a search
    finds them while they wait, after they are indexed, after they change, and not after
    they are deleted."""

    def found(q: str) -> list[str]:
        clause, params = queries.where(queries.parse_filters({"q": q}), store.dialect)
        return [
            r["id"] for r in store.fetch(f"SELECT id FROM exchanges{clause} ORDER BY id", params)
        ]

    def consistent() -> None:
        """SQLite's text index matches the rows exactly (FTS5 reads every row to check; a
        queued row is not in it yet, so only with the queue empty)."""
        if store.dialect == "sqlite":
            store.execute(
                "INSERT INTO exchanges_search (exchanges_search, rank) VALUES ('integrity-check', 1)"
            )

    store.write([final(f"ex_{i}", preview=f"needle{i % 2} haystack") for i in range(4)], {})
    assert found("needle1") == ["ex_1", "ex_3"]  # queued
    while store.index_text(3):
        pass
    consistent()
    assert found("needle1") == ["ex_1", "ex_3"]  # indexed
    assert found("edle0 hay") == ["ex_0", "ex_2"]
    store.write([final("ex_0", preview="moved elsewhere")], {})
    assert found("needle0") == ["ex_2"] and found("elsewhere") == ["ex_0"]
    store.index_text(10)
    consistent()
    assert found("needle0") == ["ex_2"] and found("elsewhere") == ["ex_0"]
    store.write([row("ex_5", preview="pending needle")], {})
    store.index_text(10)
    store.write([final("ex_5", preview="finished needle")], {})  # indexed while pending
    store.index_text(10)
    consistent()
    assert found("pending") == [] and found("finished") == ["ex_5"]
    assert store.prune(max_records=0, max_age_s=1, max_bytes=0) == 5
    consistent()
    assert found("needle") == [] and found("elsewhere") == []
    store.write([final("ex_6", preview="needle again")], {})
    store.index_text(10)
    store.clear()
    consistent()
    assert found("needle") == []
