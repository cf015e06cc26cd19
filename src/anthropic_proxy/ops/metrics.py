"""Prometheus metrics for `GET /metrics`, fed from recorded rows, never from the hot path.

`Metrics.on_rows` is a recorder listener (the writer thread calls it after each committed
batch), so counting costs the proxy nothing. Each app has its own `CollectorRegistry`: two apps
in one process (tests) never share counters. Recorder health (queue depth, drops, failed
writes) is read at scrape time. Rows other instances wrote are not counted here: each instance
exports its own exchanges and Prometheus sums the instances.

The `model` label comes from the client's request, so it is capped: past `MAX_MODELS` distinct
names, new ones are counted as "other" rather than growing the series without bound.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from anthropic_proxy.exchange import FAILED
from anthropic_proxy.storage import Row

MAX_MODELS = 200
Adds = dict[tuple[Counter, tuple[str, ...]], float]
"""Counter increments summed over a slice of rows, by metric and labels."""
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
TOKEN_COLUMNS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_creation_tokens",
}


class RecorderHealth(Protocol):
    """What /metrics reads from the recorder at scrape time."""

    @property
    def depth(self) -> int: ...
    @property
    def backlog_bytes(self) -> int: ...
    @property
    def backlog_age_s(self) -> float: ...

    dropped: int
    failed_writes: int
    written: int
    restarts: int


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._models: set[str] = set()
        self._kept: dict[tuple[Any, tuple[str, ...]], Any] = {}  # labelled series, by labels
        self._lock = threading.Lock()
        self.registry.register(_HeapCollector())
        r = self.registry
        labels = ["model", "mode"]
        self.exchanges = Counter(
            "anthropic_proxy_exchanges",
            "Finished exchanges by model, mode, HTTP status and final state",
            [*labels, "status", "state"],
            registry=r,
        )
        self.duration = Histogram(
            "anthropic_proxy_exchange_duration_seconds",
            "Time from request to the last response byte",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "anthropic_proxy_time_to_first_token_seconds",
            "Time from request to the first generated token (streams)",
            labels,
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "anthropic_proxy_tokens", "Tokens by kind", [*labels, "kind"], registry=r
        )
        self.cost = Counter("anthropic_proxy_cost_usd", "Estimated cost in USD", labels, registry=r)
        self.errors = Counter(
            "anthropic_proxy_upstream_errors",
            "Failed exchanges by error type (upstream error type, timeout, connection, ...)",
            ["type"],
            registry=r,
        )

        self.attempts = Counter(
            "anthropic_proxy_routing_attempts",
            "Upstream attempts by routing provider and outcome (served, or what failed: "
            "http_529, http_429, quota, connect, timeout, no_key)",
            ["provider", "outcome"],
            registry=r,
        )
        self.failovers = Counter(
            "anthropic_proxy_routing_failovers",
            "Times a provider failed and the request moved on to the next target or key",
            ["provider"],
            registry=r,
        )

    def watch_routing(self, health: RoutingHealth) -> None:
        """Export each routing target's circuit (read at scrape time)."""
        self.registry.register(_CircuitCollector(health))

    def watch(self, recorder: RecorderHealth) -> None:
        """Export the recorder's queue depth, drops and write counts (read at scrape time)."""
        self.registry.register(_RecorderCollector(recorder))

    def on_rows(self, rows: Sequence[Row]) -> None:
        """Recorder listener: count each exchange once, when its final row is written. Counts
        are summed over the rows first, and each labelled series is looked up once and kept:
        a `labels()` lookup and a locked increment per row and metric took ~50-150 µs a row,
        on the event loop that relays every stream."""
        adds: Adds = {}
        for row in rows:
            if row.get("state") not in (None, "pending"):
                self._observe(row, adds)
        for (metric, labels), amount in adds.items():
            self._series(metric, labels).inc(amount)

    def _series(self, metric: Any, labels: tuple[str, ...]) -> Any:
        key = (metric, labels)
        series = self._kept.get(key)
        if series is None:
            series = self._kept[key] = metric.labels(*labels)
        return series

    def _observe(self, row: Row, adds: Adds) -> None:
        add = partial(_add, adds)
        model, mode = self._model(row.get("model")), str(row.get("mode") or "")
        status = str(row["status"]) if row.get("status") is not None else "none"
        add(self.exchanges, (model, mode, status, row["state"]))
        if row.get("duration_ms") is not None:
            self._series(self.duration, (model, mode)).observe(row["duration_ms"] / 1000)
        if row.get("ttft_ms") is not None:
            self._series(self.ttft, (model, mode)).observe(row["ttft_ms"] / 1000)
        for kind, column in TOKEN_COLUMNS.items():
            if row.get(column):
                add(self.tokens, (model, mode, kind), row[column])
        if row.get("cost_usd"):
            add(self.cost, (model, mode), row["cost_usd"])
        if row["state"] in FAILED or row.get("error_kind"):
            add(self.errors, (str(row.get("error_kind") or row["state"]),))
        self._routing(row, adds)

    def _routing(self, row: Row, adds: Adds) -> None:
        """One attempt per row, unless it failed over (then `attempts` lists each)."""
        add = partial(_add, adds)
        if row.get("attempts"):
            attempts = orjson.loads(row["attempts"])
            for attempt in attempts[:-1]:
                add(self.attempts, (attempt["provider"], attempt["error"] or "served"))
                add(self.failovers, (attempt["provider"],))
            last = attempts[-1]
            add(self.attempts, (last["provider"], last["error"] or "served"))
        elif row.get("provider"):
            add(self.attempts, (row["provider"], "served"))

    def _model(self, name: Any) -> str:
        model = str(name or "")
        with self._lock:
            if model in self._models:
                return model
            if len(self._models) >= MAX_MODELS:
                return "other"
            self._models.add(model)
        return model

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics (guarded like the other APIs by the monitor's security middleware)."""
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


class RoutingHealth(Protocol):
    """What /metrics reads from the router's health at scrape time (`routing.health.Health`)."""

    def snapshot(self) -> dict[str, Any]: ...


class _CircuitCollector(Collector):
    def __init__(self, health: RoutingHealth) -> None:
        self.health = health

    def collect(self) -> Iterable[Metric]:
        snapshot = self.health.snapshot()
        gauge = GaugeMetricFamily(
            "anthropic_proxy_routing_circuit_open",
            "1 while a routing target is skipped after repeated failures (circuit open)",
            labels=["target"],
        )
        for label, target in snapshot["targets"].items():
            gauge.add_metric([label], 1 if target["state"] == "open" else 0)
        yield gauge
        yield GaugeMetricFamily(
            "anthropic_proxy_routing_benched_keys",
            "Keys benched after a 429 or a spent quota, until their retry-after or reset",
            len(snapshot["benchedKeys"]),
        )


def _add(adds: Adds, metric: Counter, labels: tuple[str, ...], amount: float = 1) -> None:
    adds[(metric, labels)] = adds.get((metric, labels), 0) + amount


class _HeapCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "anthropic_proxy_gc_frozen_objects",
            "Objects made at start-up and frozen out of the garbage collector's passes",
            gc.get_freeze_count(),
        )


class _RecorderCollector(Collector):
    def __init__(self, recorder: RecorderHealth) -> None:
        self.recorder = recorder

    def collect(self) -> Iterable[Metric]:
        r = self.recorder
        yield GaugeMetricFamily(
            "anthropic_proxy_recorder_queue_depth", "Journal records not yet recorded", r.depth
        )
        yield GaugeMetricFamily(
            "anthropic_proxy_recorder_backlog_bytes",
            "Journal bytes not yet recorded (the backlog on disk)",
            r.backlog_bytes,
        )
        yield GaugeMetricFamily(
            "anthropic_proxy_recorder_backlog_age_seconds",
            "How long the oldest exchange not yet recorded has waited",
            r.backlog_age_s,
        )
        yield CounterMetricFamily(
            "anthropic_proxy_recorder_dropped",
            "Captures dropped because the recorder was too far behind",
            r.dropped,
        )
        yield CounterMetricFamily(
            "anthropic_proxy_recorder_failed_writes",
            "Exchange rows lost to failed store writes",
            r.failed_writes,
        )
        yield CounterMetricFamily(
            "anthropic_proxy_recorder_written", "Exchange rows written to the store", r.written
        )
        yield CounterMetricFamily(
            "anthropic_proxy_recorder_restarts",
            "Times the recorder process died and was restarted from the journal",
            r.restarts,
        )
